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
	out := translate.FromManifest(objs)
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
