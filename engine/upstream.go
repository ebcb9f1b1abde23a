package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// transport is one ServersTransport as edgeroute's two upstream clients
// apply it (Traefik's TransportManager.createRoundTripper and
// createTLSConfig): fasthttp's HostClient for http servers, net/http's
// Transport for https and h2c ones.
type transport struct {
	name string                 // "" for the static serversTransport (default@internal)
	def  *spec.ServersTransport // nil for the static one
	// tls is the client configuration; nil is Go's default (system roots,
	// the server URL's host as server name), which Traefik also uses when
	// a ServersTransport sets none of its TLS fields.
	tls                                                      *tls.Config
	dial, responseHeader, idle, readIdle, ping, tlsHandshake time.Duration
	maxIdlePerHost                                           int
	disableHTTP2                                             bool
	problems                                                 []spec.Problem // found building it, reported at every build
}

// staticTransport is the static serversTransport with Traefik's defaults
// (its static configuration's forwardingTimeouts and maxIdleConnsPerHost
// 200): its roots and insecureSkipVerify are the only options edgeroute
// reads from the command line.
func staticTransport(cfg *tls.Config) *transport {
	return &transport{tls: cfg, dial: 30 * time.Second, idle: 90 * time.Second, ping: 15 * time.Second,
		tlsHandshake: 10 * time.Second, maxIdlePerHost: 200}
}

// newTransport builds a ServersTransport's clients' configuration.
// Certificates and CA bundles that do not parse are left out, as in
// Traefik, and reported.
func newTransport(def *spec.ServersTransport) *transport {
	tr := &transport{name: def.Name, def: def, dial: def.DialTimeout, responseHeader: def.ResponseHeaderTimeout,
		idle: def.IdleConnTimeout, readIdle: def.ReadIdleTimeout, ping: def.PingTimeout, tlsHandshake: 10 * time.Second,
		maxIdlePerHost: def.MaxIdleConnsPerHost, disableHTTP2: def.DisableHTTP2}
	if !def.InsecureSkipVerify && len(def.RootCAs) == 0 && def.ServerName == "" && len(def.Certificates) == 0 &&
		len(def.PeerCertSANs) == 0 && len(def.CipherSuites) == 0 && def.MinVersion == 0 && def.MaxVersion == 0 {
		return tr
	}
	cfg := &tls.Config{ServerName: def.ServerName, InsecureSkipVerify: def.InsecureSkipVerify,
		CipherSuites: slices.Clone(def.CipherSuites), MinVersion: def.MinVersion, MaxVersion: def.MaxVersion}
	warn := func(ref spec.Ref, format string, args ...any) {
		tr.problems = append(tr.problems, spec.Problem{Ref: ref, Warning: true, Err: fmt.Errorf(format, args...)})
	}
	if len(def.RootCAs) > 0 {
		// Only these roots, as Traefik's createRootCACertPool.
		cfg.RootCAs = x509.NewCertPool()
		for i, ca := range def.RootCAs {
			if !cfg.RootCAs.AppendCertsFromPEM(ca) {
				warn(def.Ref, "serversTransport %s: root CA %d of %d holds no PEM certificate: it verifies nothing (Traefik ignores it too)", def.Name, i+1, len(def.RootCAs))
			}
		}
	}
	for _, c := range def.Certificates {
		pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			warn(c.Ref, "serversTransport %s: client certificate %s/%s: %v; it is not offered (as in Traefik)", def.Name, c.Ref.Namespace, c.Ref.Name, err)
			continue
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}
	if sans := slices.Clone(def.PeerCertSANs); len(sans) > 0 {
		roots := cfg.RootCAs
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPeerSANs(sans, roots, raw)
		}
	}
	tr.tls = cfg
	return tr
}

// verifyPeerSANs is Traefik's VerifyPeerCertificate: the chain is verified
// against roots (nil: the system's) without a host name, even when
// insecureSkipVerify is set, and the leaf must hold one of sans (a URI
// compared case-insensitively, or a DNS name as VerifyHostname matches it).
func verifyPeerSANs(sans []spec.SAN, roots *x509.CertPool, raw [][]byte) error {
	if len(raw) == 0 {
		return errors.New("verifying chain: tls: no certificates from peer")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("verifying chain: tls: failed to parse certificate from peer: %w", err)
		}
		certs[i] = c
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("verifying chain: %w", err)
	}
	for _, san := range sans {
		switch san.Type {
		case spec.SANURI:
			if slices.ContainsFunc(certs[0].URIs, func(u *url.URL) bool { return strings.EqualFold(san.Value, u.String()) }) {
				return nil
			}
		case spec.SANDNSName:
			if certs[0].VerifyHostname(san.Value) == nil {
				return nil
			}
		}
	}
	return errors.New("no matching SAN in peer certificate")
}

// sameTransport reports whether two definitions build the same clients
// (where they came from aside).
func sameTransport(a, b *spec.ServersTransport) bool {
	x, y := *a, *b
	x.Ref, y.Ref = spec.Ref{}, spec.Ref{}
	x.Certificates, y.Certificates = nil, nil
	if !reflect.DeepEqual(x, y) || len(a.Certificates) != len(b.Certificates) {
		return false
	}
	for i := range a.Certificates {
		if string(a.Certificates[i].CertPEM) != string(b.Certificates[i].CertPEM) || string(a.Certificates[i].KeyPEM) != string(b.Certificates[i].KeyPEM) {
			return false
		}
	}
	return true
}

// upstream is one backend server reached through one transport, with its
// connection pool. Upstreams are kept across reloads by URL and
// transport, so a reload never drops pooled connections; a transport
// whose definition changes gets new upstreams (new pools), and the old
// ones drain.
type upstream struct {
	url      string
	hostPort string
	tr       *transport
	tls      *tls.Config // for https upstreams and their upgrades; nil: Go's default
	hc       *fasthttp.HostClient
	// rt, for h2c and https upstreams, is net/http's transport: HTTP/2
	// (prior knowledge for h2c, by ALPN for https, unless disableHTTP2)
	// with trailers and immediate flushing, which gRPC needs. HTTP/1.1
	// upstreams use hc, unless the transport disables connection reuse
	// (maxIdleConnsPerHost < 0), which only net/http does as Traefik.
	rt   *http.Transport
	base string // "http://host:port" or "https://host:port", for rt
	// refuse, when set, fails every request: an h2c server behind a
	// transport with disableHTTP2, which Traefik's HTTP/1-only transport
	// does not know (500).
	refuse error
	// open counts the pools' connections, so that a retired upstream
	// knows when it has drained.
	open atomic.Int64
	// ctx is the server's: net/http requests end when it stops.
	ctx context.Context
}

// upKey identifies an upstream: its server URL and its transport.
type upKey struct {
	url string
	tr  *transport
}

type upstreams struct {
	mu sync.Mutex
	m  map[upKey]*upstream
	// def is the static serversTransport; named are the ServersTransports
	// of the snapshot last configured.
	def   *transport
	named map[string]*transport
	ctx   context.Context // the server's, for net/http requests
}

func newUpstreams(ctx context.Context, def *transport) *upstreams {
	if def == nil {
		def = staticTransport(nil)
	}
	return &upstreams{m: map[upKey]*upstream{}, def: def, named: map[string]*transport{}, ctx: ctx}
}

// configure installs a snapshot's ServersTransports: one whose definition
// is unchanged keeps its transport (and so its upstreams' pools). It
// returns the problems of the transports.
func (u *upstreams) configure(defs map[string]*spec.ServersTransport) []spec.Problem {
	u.mu.Lock()
	defer u.mu.Unlock()
	named := make(map[string]*transport, len(defs))
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	slices.Sort(names)
	var problems []spec.Problem
	for _, name := range names {
		def := defs[name]
		tr := u.named[name]
		if tr == nil || !sameTransport(tr.def, def) {
			d := *def
			d.Name = name
			tr = newTransport(&d)
		}
		named[name] = tr
		problems = append(problems, tr.problems...)
	}
	u.named = named
	return problems
}

// transportOf returns the transport a load balancer names, nil when it
// does not exist.
func (u *upstreams) transportOf(name string) *transport {
	if name == "" || name == spec.DefaultServersTransport {
		return u.def
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.named[name]
}

func (u *upstreams) get(rawURL, transportName string) (*upstream, error) {
	tr := u.transportOf(transportName)
	if tr == nil {
		return nil, fmt.Errorf("servers transport not found %s", transportName)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := upKey{rawURL, tr}
	if up, ok := u.m[k]; ok {
		return up, nil
	}
	up, err := newUpstream(rawURL, tr)
	if err != nil {
		return nil, err
	}
	up.ctx = u.ctx
	u.m[k] = up
	return up, nil
}

// has reports whether some upstream pools connections to rawURL.
func (u *upstreams) has(rawURL string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k := range u.m {
		if k.url == rawURL {
			return true
		}
	}
	return false
}

// noIdleLimit stands for "no idle timeout" in fasthttp, whose 0 means 10s.
const noIdleLimit = 24 * time.Hour

func newUpstream(rawURL string, tr *transport) (*upstream, error) {
	p, err := url.Parse(rawURL)
	if err != nil || p.Host == "" {
		return nil, fmt.Errorf("invalid server URL %q", rawURL)
	}
	host := p.Host
	if p.Port() == "" {
		port := "80"
		if p.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(p.Hostname(), port)
	}
	up := &upstream{url: rawURL, hostPort: host, tr: tr, tls: tr.tls.Clone()}
	idle := tr.idle
	if idle <= 0 {
		idle = noIdleLimit
	}
	up.hc = &fasthttp.HostClient{
		Addr:                          host,
		IsTLS:                         p.Scheme == "https",
		TLSConfig:                     up.tls,
		StreamResponseBody:            true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: false,
		MaxConns:                      1 << 16,
		MaxIdleConnDuration:           idle,
		Dial:                          up.dialFast,
		ReadBufferSize:                32 << 10, // the largest response header block
		WriteBufferSize:               32 << 10,
		MaxIdemponentCallAttempts:     2, // one retry of an idempotent request on a dead pooled connection
	}
	if tr.responseHeader > 0 {
		// A request that timed out waiting for its headers is not sent
		// again (net/http never retries it either).
		up.hc.RetryIfErr = func(req *fasthttp.Request, _ int, err error) (bool, bool) {
			var ne net.Error
			if errors.Is(err, fasthttp.ErrTimeout) || errors.As(err, &ne) && ne.Timeout() {
				return false, false
			}
			h := &req.Header
			return false, h.IsGet() || h.IsHead() || h.IsPut() || h.IsQuery()
		}
	}
	var protos http.Protocols
	switch {
	case p.Scheme == "h2c" && tr.disableHTTP2:
		up.refuse = errors.New(`unsupported protocol scheme "h2c"`)
		return up, nil
	case p.Scheme == "h2c":
		protos.SetUnencryptedHTTP2(true)
		up.base = "http://" + host
	case p.Scheme == "https":
		protos.SetHTTP1(true)
		protos.SetHTTP2(!tr.disableHTTP2)
		up.base = "https://" + host
	case tr.maxIdlePerHost < 0:
		protos.SetHTTP1(true)
		up.base = "http://" + host
	default:
		return up, nil
	}
	up.rt = &http.Transport{
		Protocols:             &protos,
		TLSClientConfig:       up.tls,
		DialContext:           up.dialContext,
		MaxIdleConnsPerHost:   tr.maxIdlePerHost, // 0: net/http's 2, negative: no reuse
		IdleConnTimeout:       tr.idle,
		ResponseHeaderTimeout: tr.responseHeader,
		TLSHandshakeTimeout:   tr.tlsHandshake,
		DisableCompression:    true,
		HTTP2:                 &http.HTTP2Config{SendPingTimeout: tr.readIdle, PingTimeout: tr.ping},
	}
	return up, nil
}

// dialContext opens a connection for net/http's transport: Traefik's
// dialer (dialTimeout; 0 waits as long as the system does, a negative
// one fails at once), counted for draining.
func (up *upstream) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: up.tr.dial, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return up.counted(c), nil
}

// dialFast opens a connection for fasthttp's client, with the same
// timeout, and makes it enforce responseHeaderTimeout.
func (up *upstream) dialFast(addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if up.tr.dial > 0 {
		c, err = fasthttp.DialTimeout(addr, up.tr.dial)
	} else {
		d := net.Dialer{Timeout: up.tr.dial, KeepAlive: 30 * time.Second}
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c = up.counted(c)
	if up.tr.responseHeader > 0 {
		c = &headerTimeoutConn{Conn: c, timeout: up.tr.responseHeader}
	}
	return c, nil
}

func (up *upstream) counted(c net.Conn) net.Conn {
	up.open.Add(1)
	return &countedConn{Conn: c, up: up}
}

// countedConn decrements its upstream's open count when closed.
type countedConn struct {
	net.Conn
	up     *upstream
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.up.open.Add(-1)
	}
	return c.Conn.Close()
}

// closeIdle closes the pools' idle connections.
func (up *upstream) closeIdle() {
	up.hc.CloseIdleConnections()
	if up.rt != nil {
		up.rt.CloseIdleConnections()
	}
}

// drainEvery is how often a retired upstream closes the connections that
// went idle since (requests still in flight when it was retired).
const drainEvery = 250 * time.Millisecond

// retire closes an upstream no runtime uses any more: its idle
// connections now, the others once their requests are done.
func (up *upstream) retire() {
	up.closeIdle()
	if up.open.Load() == 0 {
		return
	}
	go func() {
		t := time.NewTicker(drainEvery)
		defer t.Stop()
		for range t.C {
			up.closeIdle()
			if up.open.Load() == 0 {
				return
			}
		}
	}()
}

// sweep retires the upstreams that rt no longer uses.
func (u *upstreams) sweep(rt *Runtime) {
	live := map[upKey]bool{}
	for key, lbs := range rt.lbs {
		for _, sv := range lbs {
			tr := u.transportOf(sv.def.LoadBalancer.ServersTransport)
			for _, s := range rt.snapshot.Endpoints[key] {
				live[upKey{s.URL, tr}] = true
			}
		}
	}
	u.mu.Lock()
	var retired []*upstream
	for k, up := range u.m {
		if !live[k] {
			retired = append(retired, up)
			delete(u.m, k)
		}
	}
	u.mu.Unlock()
	for _, up := range retired {
		up.retire()
	}
}

// headerTimeoutConn enforces responseHeaderTimeout on a fasthttp
// connection as net/http does: from the first read after a request was
// written until the end of the final response's header block (1xx
// answers other than 101 included), and not over the body, which
// fasthttp's ReadTimeout would also bound. fasthttp writes a whole
// request before it reads, and reads nothing between requests.
type headerTimeoutConn struct {
	net.Conn
	timeout time.Duration
	waiting bool // a request was written; its final headers are not all read
	armed   bool // the read deadline is set
	// The header block being scanned: bytes seen, its status code digits
	// ("HTTP/1.1 200" holds them at 9 to 11), and how much of the blank
	// line that ends it ("\n\n" or "\n\r\n") has been seen.
	pos    int
	status [3]byte
	eol    int
}

func (c *headerTimeoutConn) Write(b []byte) (int, error) {
	if !c.waiting {
		c.waiting, c.armed, c.pos, c.eol = true, false, 0, 0
	}
	return c.Conn.Write(b)
}

func (c *headerTimeoutConn) Read(b []byte) (int, error) {
	if c.waiting && !c.armed {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
		c.armed = true
	}
	n, err := c.Conn.Read(b)
	if c.waiting && c.scan(b[:n]) {
		c.waiting, c.armed = false, false
		if derr := c.Conn.SetReadDeadline(time.Time{}); derr != nil && err == nil {
			err = derr
		}
	}
	return n, err
}

// scan follows the response header blocks in p and reports whether the
// final one ended.
func (c *headerTimeoutConn) scan(p []byte) bool {
	for _, ch := range p {
		if i := c.pos - 9; i >= 0 && i < 3 {
			c.status[i] = ch
		}
		c.pos++
		switch {
		case ch == '\n' && c.eol > 0:
			// The blank line: the block ends. An interim answer (1xx,
			// not 101) is followed by another block.
			if c.status[0] == '1' && !(c.status[1] == '0' && c.status[2] == '1') {
				c.pos, c.eol, c.status = 0, 0, [3]byte{}
				continue
			}
			return true
		case ch == '\n':
			c.eol = 1
		case ch == '\r' && c.eol == 1:
			c.eol = 2
		default:
			c.eol = 0
		}
	}
	return false
}
