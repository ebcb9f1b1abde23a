// Package middleware holds Traefik's HTTP middlewares (the Middleware CRD),
// one file per kind, each with one row in the registry table (registry.go).
//
// A middleware's configuration arrives in the snapshot as JSON (the kind's
// object of the Middleware spec, spec.Middleware.Config); its kind decodes
// it strictly into its own configuration type, so a field the kind does not
// implement is an error on the object, never silently ignored. Build turns
// it, once per reload, into a Middleware: a function that wraps the next
// Handler. Routers wrap their service in their middlewares, in list order,
// once per reload; per request only the built handlers run.
//
// Adding a kind: one file <kind>.go with its configuration type and its
// build function, one row in Kinds, one test file.
package middleware

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Handler serves a request: the next middleware, or the router's service.
// It answers through ctx.Response. When it returns, the response status
// and headers are final but a streamed body may still be unread
// (ctx.Response.IsBodyStream), so a middleware can change headers after
// calling next, and wrap or replace the body.
type Handler func(ctx *fasthttp.RequestCtx, r *Request)

// Middleware wraps next into a handler that does the middleware's work
// before and/or after it. It is built once per configuration and may wrap
// many routers' handlers; it must be safe for concurrent use.
type Middleware func(next Handler) Handler

// Request is the per-request state that middlewares read and change, next
// to the fasthttp.RequestCtx: the path and query that will be forwarded
// (with Go's url.URL meaning of Path and RawPath, which Traefik's
// middlewares rewrite), and what the entry point found out about the
// client. It is pooled by the engine: nothing may keep it, or a slice it
// returns, after the handler returns.
type Request struct {
	// raw is the escaped path as forwarded when no middleware changed it
	// (the entry point's normalised, sanitised path).
	raw []byte
	// path is the decoded path (URL.Path); valid when decoded is set.
	path    []byte
	decoded bool
	// rawPath is URL.RawPath after a rewrite: the escaped form to keep
	// when it encodes path; nil means "escape path".
	rawPath []byte
	// rewritten is set once a middleware changed the path.
	rewritten bool
	esc       []byte // EscapedPath's buffer after a rewrite

	// Query is the raw query (without '?'); forwarded with ';' as '&'.
	Query []byte
	// HasQuery tells a '?' was present, even with an empty query.
	HasQuery bool
	// Host is the canonical request host (lower case, no port).
	Host []byte
	// ClientIP is the TCP peer (with PROXY protocol, its source).
	ClientIP netip.Addr
	// Secure tells a request read over TLS.
	Secure bool
	// ChangesResponse is set by middlewares that change the response
	// after next returns (headers, compress, errors): an upstream answer
	// must then go through ctx.Response rather than be relayed straight
	// to an HTTP/2 client.
	ChangesResponse bool
	// UpstreamErr is the error of the last forwarding attempt (the
	// service answered with an error status of its own), for retry; nil
	// when an upstream answered.
	UpstreamErr error
	// Attempt counts forwarding attempts (retry): 0 for the first.
	Attempt int
	// NoXFF tells the proxy not to add X-Forwarded-For: a headers
	// middleware removed it (Traefik leaves it nil, which Go's
	// ReverseProxy honours).
	NoXFF bool

	// User is the name an authentication middleware accepted (the
	// access log's ClientUsername); empty when none did.
	User []byte

	// Buf is scratch space for kinds; its contents do not survive the
	// next middleware.
	Buf []byte
	tmp []byte
}

// Reset prepares r for a request whose normalised escaped path is raw.
// The engine calls it; raw must stay valid for the request.
func (r *Request) Reset(raw []byte) {
	r.raw = raw
	r.path = r.path[:0]
	r.decoded = false
	r.rawPath = r.rawPath[:0]
	r.rewritten = false
	r.Query, r.HasQuery, r.Host = nil, false, nil
	r.ClientIP, r.Secure = netip.Addr{}, false
	r.ChangesResponse, r.UpstreamErr, r.Attempt = false, nil, 0
	r.NoXFF = false
	r.User = r.User[:0]
}

// BuildContext is what a kind's build function may use besides its
// configuration.
type BuildContext struct {
	// Service returns the handler of a service of the snapshot (the
	// errors middleware's error pages). It may be nil in tools.
	Service func(name string) (Handler, error)
	Log     *slog.Logger
	// Previous are the middlewares of the configuration before: one whose
	// definition is unchanged (kind and configuration, no chain members
	// or service, which belong to their own configuration) is reused
	// rather than built again, so that its state survives the reload:
	// a rate limit's buckets, in-flight counts, a breaker's state. A
	// Secret change thus rebuilds only the middlewares it feeds.
	Previous map[string]*Built
	// lookup returns another middleware of the snapshot (chain members).
	lookup func(name string) (Middleware, error)
	// warnings collects Warn's messages for the middleware being built.
	warnings *[]string
}

// Warn reports something about the middleware being built that deserves
// attention but does not stop it (a deprecated option): a warning on the
// object in check, explain and the logs.
func (bc *BuildContext) Warn(format string, args ...any) {
	if bc.warnings != nil {
		*bc.warnings = append(*bc.warnings, fmt.Sprintf(format, args...))
	}
}

// Built is a middleware of the snapshot after Build: its wrapping
// function, or why it could not be built.
type Built struct {
	Def      *spec.Middleware
	Wrap     Middleware
	Err      error
	Warnings []string
}
