package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
)

// Conn describes the connection an explained request arrives on.
type Conn struct {
	ClientIP netip.Addr
	// TLS makes it a TLS connection, whose handshake named SNI (empty:
	// no server name sent).
	TLS bool
	SNI string
}

// Explanation is what the server does with one request: the entry
// point's own answer, or the router that takes it, what each of its
// middlewares does, and why every other router did not take it.
type Explanation struct {
	EntryPoint string
	// Status is set when the request is answered without a router (400,
	// 404, 421, 431, ping), with Reason; 0 when a router takes it.
	Status int
	Reason string
	// Reset is set when the HTTP/2 server resets the stream instead.
	Reset bool
	// Host and Path are the canonical host and the routing path the
	// routers were matched against.
	Host, Path string
	Router     *spec.Router // the router taking the request, or nil
	// Routes are the verdicts of the routers tried, in priority order;
	// Routers the routers by the verdicts' Index.
	Routes  []compile.Verdict
	Routers []*spec.Router
	// Steps is what the router's middlewares do; Forwarded the method
	// and request URI its service receives ("" when a middleware answers).
	Steps     []Step
	Forwarded string
	// TLSRouter names the TLS router that would take a plain request
	// that no plain router takes.
	TLSRouter string
	// Layers are the decisions of the children tables the request went
	// through when Router is a parent router (multi-layer routing), in
	// order: each parent's children matched on the request as the
	// parent's middlewares left it.
	Layers []Layer
}

// Layer is one children table's decision: made by the code serve runs
// (childMux.decide), after the parent's middlewares ran on the request.
type Layer struct {
	Parent *spec.Router
	// Path is the routing path the children were matched against.
	Path string
	// Router is the child taking the request, or nil; then Status and
	// Reason say what the table answers (404: no child matches).
	Router *spec.Router
	Status int
	Reason string
	// Routes are the verdicts of the children, in priority order;
	// Routers the children by the verdicts' Index.
	Routes  []compile.Verdict
	Routers []*spec.Router
	// Steps is what the child's middlewares do.
	Steps []Step
}

// Final returns the router whose service the request reaches (the last
// child of a multi-layer path, else Router), or nil with the status the
// request is answered with instead (0 when a router's middleware
// answers: see its Steps).
func (x *Explanation) Final() (*spec.Router, int) {
	if x.Router == nil {
		return nil, x.Status
	}
	if n := len(x.Layers); n > 0 {
		l := &x.Layers[n-1]
		return l.Router, l.Status
	}
	return x.Router, 0
}

// Explain runs a raw HTTP/1.x request (as a client sends it) through the
// steps serve runs, on entry point entryPoint of rt: fasthttp's parser
// with the server's limits, then decide, then the winning router's
// middlewares with the service replaced by a recorder.
func Explain(static *Static, rt *Runtime, entryPoint string, raw []byte, c Conn) (*Explanation, error) {
	ctx := newExplainCtx(c)
	// The server's limits: the 32 KiB read buffer bounds the header block.
	br := bufio.NewReaderSize(bytes.NewReader(raw), 32<<10)
	if err := ctx.Request.Header.Read(br); err != nil {
		var small *fasthttp.ErrSmallBuffer
		if errors.As(err, &small) {
			return &Explanation{EntryPoint: entryPoint, Status: fasthttp.StatusRequestHeaderFieldsTooLarge,
				Reason: "the request header block exceeds the server's 32 KiB buffer"}, nil
		}
		return &Explanation{EntryPoint: entryPoint, Status: fasthttp.StatusBadRequest,
			Reason: "fasthttp cannot parse the request: " + err.Error()}, nil
	}
	// The server parses the target and Host as a URI before any
	// handler runs, and answers 400 when it cannot.
	var u fasthttp.URI
	if err := u.Parse(ctx.Request.Header.Host(), ctx.Request.Header.RequestURI()); err != nil && !routesDespite(&ctx.Request.Header, err) {
		return &Explanation{EntryPoint: entryPoint, Status: fasthttp.StatusBadRequest,
			Reason: "fasthttp cannot parse the request target and Host: " + err.Error()}, nil
	}
	if h := &ctx.Request.Header; h.IsHTTP11() && len(h.Host()) == 0 {
		// fasthttp's server refuses these (net/http does the same when
		// the Host line is missing).
		return &Explanation{EntryPoint: entryPoint, Status: fasthttp.StatusBadRequest,
			Reason: "an HTTP/1.1 request needs a Host header (fasthttp refuses it)"}, nil
	}
	return explain(static, rt, entryPoint, ctx, c)
}

// ExplainH2 is Explain for a request received as HTTP/2: r carries the
// method, :path (RequestURI), :authority (Host) and header fields.
func ExplainH2(static *Static, rt *Runtime, entryPoint string, r *http.Request, c Conn) (*Explanation, error) {
	// net/http's HTTP/2 server resets streams whose :path does not parse
	// as a request URI, before any handler runs.
	if r.Method != http.MethodConnect {
		if _, err := url.ParseRequestURI(r.RequestURI); err != nil {
			return &Explanation{EntryPoint: entryPoint, Reset: true,
				Reason: "the HTTP/2 server resets the stream (PROTOCOL_ERROR): " + err.Error()}, nil
		}
	}
	ctx := newExplainCtx(c)
	if !h2Request(r, &ctx.Request) {
		return &Explanation{EntryPoint: entryPoint, Status: fasthttp.StatusBadRequest,
			Reason: "the :path is not in origin form (nor * for OPTIONS), which HTTP/2 requires"}, nil
	}
	return explain(static, rt, entryPoint, ctx, c)
}

// newExplainCtx is the request context of an explained request, on a
// connection like c.
func newExplainCtx(c Conn) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	var conn net.Conn = &explainConn{remote: &net.TCPAddr{IP: c.ClientIP.AsSlice(), Port: 40000}}
	if c.TLS {
		conn = &explainTLSConn{explainConn: explainConn{remote: conn.RemoteAddr()}, sni: c.SNI}
	}
	ctx.Init2(conn, nil, false)
	ctx.Request.Header.SetNoDefaultContentType(true)
	return ctx
}

func explain(static *Static, rt *Runtime, entryPoint string, ctx *fasthttp.RequestCtx, c Conn) (*Explanation, error) {
	if static.EntryPoints[entryPoint] == nil {
		return nil, fmt.Errorf("no entry point %q", entryPoint)
	}
	l, err := newListener(static, entryPoint)
	if err != nil {
		return nil, err
	}
	st := new(reqState)
	d := decide(ctx, rt, l, st)
	x := &Explanation{EntryPoint: entryPoint, Status: d.status, Host: string(st.creq.Host), Path: string(st.creq.Path)}
	if d.router == nil {
		x.Reason = d.reason
		if d.err != nil {
			x.Reason = "the entry point refuses the request: " + d.err.Error()
		}
	}
	if d.ert != nil {
		v := d.ert.table.Explain(&st.creq)
		x.Routes = v.Routes
		for _, r := range d.ert.routers {
			x.Routers = append(x.Routers, r.r)
		}
	}
	if d.router != nil {
		x.Router = d.router.r
		x.Steps, x.Forwarded = traceChain(ctx, st, d.router, x)
	}
	if d.status == fasthttp.StatusNotFound && !c.TLS {
		if ert := rt.entryFor(entryPoint, true); ert != nil {
			if i := ert.table.Match(&st.creq); i >= 0 {
				x.TLSRouter = ert.routers[i].r.Name
			}
		}
	}
	return x, nil
}

// explainConn is the connection of an explained request: it has
// addresses and nothing to read or write.
type explainConn struct{ remote net.Addr }

func (c *explainConn) Read([]byte) (int, error)         { return 0, errors.New("explain: no connection") }
func (c *explainConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *explainConn) Close() error                     { return nil }
func (c *explainConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *explainConn) RemoteAddr() net.Addr             { return c.remote }
func (c *explainConn) SetDeadline(time.Time) error      { return nil }
func (c *explainConn) SetReadDeadline(time.Time) error  { return nil }
func (c *explainConn) SetWriteDeadline(time.Time) error { return nil }

// explainTLSConn is a TLS connection whose handshake named sni, as
// tlsmux.ServerConn tells it.
type explainTLSConn struct {
	explainConn
	sni string
}

func (c *explainTLSConn) Handshake() error { return nil }
func (c *explainTLSConn) ConnectionState() tls.ConnectionState {
	return tls.ConnectionState{HandshakeComplete: true, ServerName: c.sni, Version: tls.VersionTLS13}
}
func (c *explainTLSConn) ServerName() string { return c.sni }
