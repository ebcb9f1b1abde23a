package engine

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/tlsmux"
)

// ACMEHTTPService answers HTTP-01 challenges (Traefik's
// acme-http@internal), on the router acme-http@internal that every
// resolver's httpChallenge.entryPoint gets.
const ACMEHTTPService = "acme-http@internal"

// acmeHTTPEntryPoints are the entry points of the resolvers'
// httpChallenge, sorted.
func acmeHTTPEntryPoints(static *Static) []string {
	var out []string
	for _, c := range static.CertResolvers {
		if ep := c.HTTPEntryPoint(); ep != "" && !slices.Contains(out, ep) {
			out = append(out, ep)
		}
	}
	slices.Sort(out)
	return out
}

// acmeRouter is Traefik's router acme-http@internal: before every other
// router of the challenge entry points (priority MaxInt), for plain HTTP.
func acmeRouter(static *Static) []spec.Router {
	eps := acmeHTTPEntryPoints(static)
	if len(eps) == 0 {
		return nil
	}
	return []spec.Router{{Name: "acme-http" + InternalProvider, Ref: spec.Ref{Kind: "Router", Name: "acme-http" + InternalProvider},
		EntryPoints: eps, Rule: "PathPrefix(`/.well-known/acme-challenge/`)", Priority: math.MaxInt64, Syntax: "default",
		Service: ACMEHTTPService}}
}

// SetACME gives the server its certificate resolvers: their certificates
// are served by SNI, their HTTP-01 challenges on acme-http@internal and
// their TLS-ALPN-01 challenges on every TLS entry point. Call it before
// the first Apply; call RefreshCertificates when m's certificates change.
func (s *Server) SetACME(m *acme.Manager) {
	s.acme = m
	for _, st := range s.stores {
		st.SetChallenges(m.ChallengeCertificate)
	}
}

// serveACMEHTTP answers an HTTP-01 validation as Traefik: the key
// authorization for a token in progress, else 404.
func (s *Server) serveACMEHTTP(ctx *fasthttp.RequestCtx) {
	if s.acme != nil {
		if keyAuth, ok := s.acme.HTTPChallenge(string(ctx.Host()), string(ctx.Request.URI().Path())); ok {
			ctx.SetStatusCode(fasthttp.StatusOK)
			ctx.Response.Header.SetContentType(textPlain)
			ctx.SetBodyString(keyAuth)
			return
		}
	}
	ctx.SetStatusCode(fasthttp.StatusNotFound)
}

// resolverProblems reports the TLS routers and the TLSStore naming a
// resolver that static does not define (Traefik logs "Router uses a
// nonexistent certificate resolver" and serves the router with the
// certificates it has); check and explain see them too.
func resolverProblems(static *Static, snap *spec.Snapshot) []spec.Problem {
	var out []spec.Problem
	for i := range snap.Routers {
		r := &snap.Routers[i]
		if r.TLS == nil || r.TLS.CertResolver == "" {
			continue
		}
		if static.CertResolvers[strings.ToLower(r.TLS.CertResolver)] == nil {
			out = append(out, spec.Problem{Ref: r.Ref, Err: fmt.Errorf(
				"router %s: tls.certResolver %q: no such certificate resolver (certificatesResolvers.%s.acme); the router serves the certificates it has",
				r.Name, r.TLS.CertResolver, r.TLS.CertResolver)})
		}
	}
	if t := snap.TLS; t != nil && t.DefaultGenerated != nil && static.CertResolvers[strings.ToLower(t.DefaultGenerated.Resolver)] == nil {
		out = append(out, spec.Problem{Ref: t.DefaultGenerated.Ref, Err: fmt.Errorf(
			"defaultGeneratedCert: resolver %q: no such certificate resolver; the generated default certificate is served", t.DefaultGenerated.Resolver)})
	}
	return out
}

// wantCertificates tells the resolvers what the runtime's routers and
// TLSStore ask for, and returns the problems of those requests.
func (s *Server) wantCertificates(rt *Runtime) []spec.Problem {
	if s.acme == nil {
		return nil
	}
	snap := rt.snapshot
	var reqs []acme.Request
	for i := range snap.Routers {
		r := &snap.Routers[i]
		if r.TLS == nil || r.TLS.CertResolver == "" {
			continue
		}
		q := acme.Request{Resolver: strings.ToLower(r.TLS.CertResolver), Ref: r.Ref}
		for _, d := range r.TLS.Domains {
			q.Domains = append(q.Domains, acme.Domain{Main: d.Main, SANs: d.SANs})
		}
		if len(q.Domains) == 0 {
			q.Hosts = compile.Domains(r.Rule)
		}
		reqs = append(reqs, q)
	}
	if t := snap.TLS; t != nil && t.DefaultGenerated != nil && t.Default == nil {
		g := t.DefaultGenerated
		reqs = append(reqs, acme.Request{Resolver: strings.ToLower(g.Resolver), Ref: g.Ref, Default: true,
			Domains: []acme.Domain{{Main: g.Domain.Main, SANs: g.Domain.SANs}}})
	}
	// Names the Secrets' certificates serve are not ordered, as Traefik.
	var covered []string
	for _, cfg := range rt.tls {
		for _, c := range cfg.Certificates {
			if leaf := c.Cert.Leaf; leaf != nil {
				covered = append(covered, leaf.DNSNames...)
				if leaf.Subject.CommonName != "" {
					covered = append(covered, leaf.Subject.CommonName)
				}
			}
		}
		break // every entry point has the same certificates
	}
	return s.acme.Want(reqs, covered)
}

// withCertificates returns an entry point's TLS configuration with the
// resolvers' certificates after the Secrets' (which win for a name both
// serve), and the defaultGeneratedCert as default certificate when the
// TLSStore names no defaultCertificate.
func (s *Server) withCertificates(rt *Runtime, entryPoint string) *tlsmux.Config {
	cfg := rt.tls[entryPoint]
	if cfg == nil {
		cfg = &tlsmux.Config{}
	}
	if s.acme == nil {
		return cfg
	}
	out := *cfg
	out.Certificates = append(slices.Clip(cfg.Certificates), s.acme.Certificates()...)
	if t := rt.snapshot.TLS; out.Default == nil && t != nil && t.DefaultGenerated != nil {
		d := t.DefaultGenerated.Domain
		if c := s.acme.DefaultCertificate(acme.Domain{Main: d.Main, SANs: d.SANs}); c != nil {
			out.Default = c
		}
	}
	return &out
}

// RefreshCertificates installs the resolvers' current certificates on
// every entry point (the manager's OnChange).
func (s *Server) RefreshCertificates() {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	rt := s.rt.Load()
	for name, st := range s.stores {
		if err := st.Swap(s.withCertificates(rt, name)); err != nil {
			s.log.Warn("TLS certificates", "entrypoint", name, "err", err)
		}
	}
}
