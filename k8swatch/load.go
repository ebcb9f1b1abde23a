package k8swatch

import (
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/manifest"
	"github.com/edgeroute/edgeroute/k8swatch/translate"
)

// loadObjects reads files and folders of manifests into translation input, with each
// object's file and line for problem reports.
func loadObjects(paths ...string) (*translate.Objects, []spec.Problem) {
	objs, mprobs := manifest.Load(paths...)
	out := &translate.Objects{}
	where := map[[3]string]manifest.Source{}
	note := func(kind, ns, name string, src manifest.Source) { where[[3]string{kind, ns, name}] = src }
	for i := range objs.IngressRoutes {
		o := &objs.IngressRoutes[i]
		out.IngressRoutes = append(out.IngressRoutes, &o.IngressRoute)
		note("IngressRoute", o.Namespace, o.Name, o.Source)
	}
	for i := range objs.TraefikServices {
		o := &objs.TraefikServices[i]
		out.TraefikServices = append(out.TraefikServices, &o.TraefikService)
		note("TraefikService", o.Namespace, o.Name, o.Source)
	}
	for i := range objs.Middlewares {
		o := &objs.Middlewares[i]
		out.Middlewares = append(out.Middlewares, &o.Middleware)
		note("Middleware", o.Namespace, o.Name, o.Source)
	}
	for i := range objs.Services {
		o := &objs.Services[i]
		out.Services = append(out.Services, &o.Service)
		note("Service", o.Namespace, o.Name, o.Source)
	}
	for i := range objs.EndpointSlices {
		out.EndpointSlices = append(out.EndpointSlices, &objs.EndpointSlices[i].EndpointSlice)
	}
	for i := range objs.Nodes {
		out.Nodes = append(out.Nodes, &objs.Nodes[i].Node)
	}
	for i := range objs.Secrets {
		o := &objs.Secrets[i]
		out.Secrets = append(out.Secrets, &o.Secret)
		note("Secret", o.Namespace, o.Name, o.Source)
	}
	for i := range objs.TLSOptions {
		o := &objs.TLSOptions[i]
		out.TLSOptions = append(out.TLSOptions, &o.TLSOption)
		note("TLSOption", o.Namespace, o.Name, o.Source)
	}
	for i := range objs.TLSStores {
		o := &objs.TLSStores[i]
		out.TLSStores = append(out.TLSStores, &o.TLSStore)
		note("TLSStore", o.Namespace, o.Name, o.Source)
	}
	out.Where = func(kind, ns, name string) (string, int) {
		s := where[[3]string{kind, ns, name}]
		return s.File, s.Line
	}
	var problems []spec.Problem
	for _, p := range mprobs {
		problems = append(problems, spec.Problem{
			Ref:     spec.Ref{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name, File: p.File, Line: p.Line},
			Err:     p.Err,
			Ignored: p.Severity == manifest.Ignored,
			Warning: p.Severity == manifest.Warning,
		})
	}
	return out, problems
}
