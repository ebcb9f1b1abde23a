package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch"
)

// TestExplainAgreesWithServe is the differential test of explain: every
// request of a generated corpus goes through the running binary over real
// sockets (plain HTTP/1.1, TLS with a server name, h2c) and through
// engine.Explain on the same folder; both must name the same service (each
// router has its own) or the same refusal status. The classes are those of
// issue 18: re-encoded paths, forwarded headers, Connection-listed headers,
// 421, absolute-form targets, empty paths, front-door refusals, ping,
// targets explain could not express before, and child routers
// (parentRefs), which both sides must take through the same parent and
// child.
func TestExplainAgreesWithServe(t *testing.T) {
	dir := t.TempDir()
	routers := []struct{ name, rule, extra string }{
		{"catchall", "PathPrefix(`/`)", "priority: 1"},
		{"prefix-a", "PathPrefix(`/a/`)", ""},
		{"encoded", "Path(`/a%2Fb`)", ""},
		{"space", "Path(`/a b`)", ""},
		{"xfp", "Header(`X-Forwarded-Proto`,`https`)", ""},
		{"xfh", "Header(`X-Forwarded-Host`,`x.test`) && PathPrefix(`/xfh`)", ""},
		{"canary", "Header(`X-Canary`,`1`)", ""},
		{"host-a", "Host(`a.test`)", ""},
		{"empty-host", "!Host(`a.test`) && !Host(`b.test`) && Path(`/nohost`)", ""},
		{"method", "Method(`OPTIONS`)", ""},
		{"query", "Query(`q`,`a b`)", ""},
		{"ua", "Header(`User-Agent`,`one`) && PathPrefix(`/h/`)", ""},
		{"ctype", "Header(`Content-Type`,`text/a`) && PathPrefix(`/h/`)", ""},
		{"trailer", "Header(`Trailer`,`x-foo`) && PathPrefix(`/h/`)", ""},
		{"cookie", "Header(`Cookie`,`a=1;b=2`) && PathPrefix(`/h/`)", ""},
	}
	secure := []struct{ name, rule, options string }{
		{"tls-a", "Host(`a.test`)", ""},
		{"tls-s", "Host(`s.test`)", "strict"},
		{"tls-catchall", "PathPrefix(`/`)", ""},
	}
	// Child routers (parentRefs) of the parent p.test, whose middleware
	// strips /p: matched on the stripped path, one on a header, one a
	// parent itself.
	children := []struct{ name, rule, extra string }{
		{"child-one", "Path(`/one`)", ""},
		{"child-hdr", "Header(`X-Kid`,`1`)", ""},
		{"grand", "Path(`/deep/x`)", ""},
	}
	var m strings.Builder
	names := map[string]string{} // service -> router
	serviceOf := func(router string) string { return "svc-" + router }
	all := slices.Concat(routers, children)
	for _, r := range secure {
		all = append(all, struct{ name, rule, extra string }{r.name, r.rule, ""})
	}
	for _, r := range all {
		port := serveName(t, serviceOf(r.name))
		names[serviceOf(r.name)] = r.name
		fmt.Fprintf(&m, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-1, namespace: default, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: http, port: %[2]d}]
endpoints: [{addresses: ["127.0.0.1"]}]
`, serviceOf(r.name), port)
	}
	m.WriteString("---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: plain, namespace: default}\nspec:\n  routes:\n")
	for _, r := range routers {
		fmt.Fprintf(&m, "    - match: %q\n      %s\n      services: [{name: %s, port: 80}]\n", r.rule, r.extra, serviceOf(r.name))
	}
	for _, r := range secure {
		tlsSpec := "{}"
		if r.options != "" {
			tlsSpec = "{options: {name: " + r.options + "}}"
		}
		fmt.Fprintf(&m, "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: %s, namespace: default}\nspec:\n  tls: %s\n  routes:\n    - match: %q\n      services: [{name: %s, port: 80}]\n",
			r.name, tlsSpec, r.rule, serviceOf(r.name))
	}
	m.WriteString(`---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: strip-p, namespace: default}
spec: {stripPrefix: {prefixes: [/p]}}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: parent, namespace: default}
spec:
  routes:
    - match: Host(` + "`p.test`" + `)
      middlewares: [{name: strip-p}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: deep, namespace: default}
spec:
  parentRefs: [{name: parent}]
  routes:
    - match: PathPrefix(` + "`/deep`" + `)
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: kids, namespace: default}
spec:
  parentRefs: [{name: parent}]
  routes:
`)
	for _, r := range children[:2] {
		fmt.Fprintf(&m, "    - match: %q\n      services: [{name: %s, port: 80}]\n", r.rule, serviceOf(r.name))
	}
	fmt.Fprintf(&m, "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: grandkids, namespace: default}\nspec:\n  parentRefs: [{name: deep}]\n  routes:\n    - match: %q\n      services: [{name: %s, port: 80}]\n",
		children[2].rule, serviceOf(children[2].name))
	m.WriteString("---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata: {name: strict, namespace: default}\nspec: {minVersion: VersionTLS13}\n")
	write(t, filepath.Join(dir, "routes.yaml"), m.String())

	args := []string{"--entryPoints.traefik.address=127.0.0.1:0", "--ping", "--providers.manifests.directory=" + dir}
	proxy := start(t, args...)
	var addr string
	re := regexp.MustCompile(`msg="entry point listening" name=traefik address=(\S+)`)
	waitFor(t, "the traefik entry point", func() bool {
		m := re.FindStringSubmatch(proxy.log())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})

	static, err := engine.ParseStatic(args)
	if err != nil {
		t.Fatal(err)
	}
	snap := k8swatch.NewDir(dir, providerOptions(static), nil).Load()
	rt, problems := engine.Build(static, snap)
	if len(problems) > 0 || len(snap.Problems) > 0 {
		t.Fatalf("problems: %v %v", problems, snap.Problems)
	}
	explained := func(x *engine.Explanation) string {
		r, status := x.Final() // the last child router of a parent's
		switch {
		case r != nil && engine.IsInternal(r.Service):
			return "200 (no router)" // ping@internal: 200 OK, no X-Svc
		case r != nil:
			return names[strings.TrimSuffix(strings.TrimPrefix(r.Service, "default-"), "-80@kubernetescrd")]
		case x.Router != nil: // a parent whose children answered
			return fmt.Sprint(status)
		case x.Status == 200:
			return "200 (no router)"
		case x.Reset:
			return "h2c error"
		}
		return fmt.Sprint(x.Status)
	}

	corpus := explainCorpus()
	counts := map[string]int{}
	var disagree []string
	for _, c := range corpus {
		var served string
		var x *engine.Explanation
		conn := engine.Conn{ClientIP: netip.MustParseAddr("127.0.0.1"), TLS: c.kind == "tls", SNI: c.sni}
		switch c.kind {
		case "h2c":
			served = sendH2C(t, addr, c.h2, names)
			x, err = engine.ExplainH2(static, rt, "traefik", c.h2, conn)
		default:
			served = sendRaw(t, addr, c.kind == "tls", c.sni, c.raw, names)
			x, err = engine.Explain(static, rt, "traefik", []byte(c.raw), conn)
		}
		if err != nil {
			t.Fatalf("%s: explain: %v", c.name, err)
		}
		counts[c.class]++
		if c.want != "" && served != c.want {
			disagree = append(disagree, fmt.Sprintf("%s [%s %s]: served %s, Traefik routes it to %s", c.class, c.kind, c.name, served, c.want))
		}
		if got := explained(x); got != served {
			disagree = append(disagree, fmt.Sprintf("%s [%s %s]: served %s, explained %s (%s)", c.class, c.kind, c.name, served, got, x.Reason))
		}
	}
	var summary []string
	for cl, n := range counts {
		summary = append(summary, fmt.Sprintf("%s=%d", cl, n))
	}
	sort.Strings(summary)
	t.Logf("%d requests compared, by class: %s", len(corpus), strings.Join(summary, " "))
	if len(disagree) > 0 {
		t.Errorf("%d of %d requests disagree:\n%s", len(disagree), len(corpus), strings.Join(disagree, "\n"))
	}
}

// serveName starts a backend on loopback that names itself in X-Svc. It
// answers whatever request line it gets (a strict server would refuse
// some targets the proxy forwards, hiding which router it reached).
func serveName(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for { // the header block; the corpus sends no bodies
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" || line == "\n" {
							break
						}
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Svc: %s\r\nContent-Length: 0\r\n\r\n", name)
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type explainCase struct {
	class, kind, name string // kind: plain, tls, h2c
	raw               string
	sni               string
	h2                *http.Request
	want              string // when set: the router Traefik routes it to
}

// explainCorpus generates the requests, by class.
func explainCorpus() []explainCase {
	var out []explainCase
	req := func(method, target string, headers ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
		for _, h := range headers {
			b.WriteString(h + "\r\n")
		}
		b.WriteString("\r\n")
		return b.String()
	}
	add := func(class, name, raw string) {
		out = append(out, explainCase{class: class, kind: "plain", name: name, raw: raw})
	}
	addAll := func(class, name, method, target string, headers ...string) {
		raw := req(method, target, headers...)
		add(class, name, raw)
		host := ""
		for _, h := range headers {
			if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Host") {
				host = strings.TrimSpace(v)
			}
		}
		out = append(out, explainCase{class: class, kind: "tls", name: name, raw: raw, sni: host})
		if strings.HasPrefix(target, "/") || target == "*" {
			h2 := &http.Request{Method: method, RequestURI: target, Host: host, Header: http.Header{}}
			for _, h := range headers {
				k, v, _ := strings.Cut(h, ":")
				if !strings.EqualFold(k, "Host") && !strings.EqualFold(k, "Connection") {
					h2.Header.Add(k, strings.TrimSpace(v))
				}
			}
			out = append(out, explainCase{class: class, kind: "h2c", name: name, h2: h2})
		}
	}
	// A: paths, as sent, against PathPrefix(`/a/`), Path(`/a%2Fb`), Path(`/a b`).
	for _, p := range []string{"/a%2Fb{", "/a/b", "/a%2fb", "/a%2Fb", "/%61/b", "/a/./b", "/a//b", "/a/../a/b", "/a%20b", "/a b",
		"/A/b", "/a/b%3F", "/a;b/", "/a/%2e%2e/x", "/a%252Fb", "/%7e/a/", "/a/%ZZ", "/a%", "/a/b?x=%zz", "/a%2F", "/?q=a+b", "/?q=a%20b", "/x?q=a;q=a b"} {
		addAll("A-path", p, "GET", p, "Host: x.test")
	}
	// B: forwarded headers from an untrusted client.
	for _, h := range [][]string{{"X-Forwarded-Proto: https"}, {"X-Forwarded-Proto: http"}, {"X_Forwarded_Proto: https"}, {},
		{"X-Forwarded-Host: x.test"}, {"X-Forwarded-Host: y.test"}} {
		addAll("B-forwarded", strings.Join(h, ","), "GET", "/xfh", append([]string{"Host: x.test"}, h...)...)
	}
	// C: headers named in Connection are hop-by-hop.
	for _, c := range []string{"", "Connection: close, X-Canary", "Connection: X-Canary", "Connection: keep-alive", "Connection: x-canary, close"} {
		hs := []string{"Host: x.test", "X-Canary: 1"}
		if c != "" {
			hs = append(hs, c)
		}
		add("C-connection", c, req("GET", "/", hs...))
	}
	// D: TLS server name against Host (421 when their options differ).
	for _, sh := range [][2]string{{"a.test", "s.test"}, {"s.test", "a.test"}, {"a.test", "a.test"}, {"s.test", "s.test"}, {"", "s.test"}, {"", "a.test"}, {"b.test", "a.test"}, {"S.TEST", "s.test"}} {
		out = append(out, explainCase{class: "D-sni", kind: "tls", name: sh[0] + "/" + sh[1], sni: sh[0], raw: req("GET", "/", "Host: "+sh[1])})
	}
	// E and F: absolute-form targets, whose authority wins over Host; an
	// empty path.
	for _, tg := range []string{"http://a.test/", "http://a.test/x", "http://@/", "HTTP://A.TEST/", "http://a.test", "http://a.test?q=1", "https://a.test/a/"} {
		add("E-absolute", tg, req("GET", tg, "Host: b.test"))
	}
	add("F-empty-path", "http://x.test", req("GET", "http://x.test", "Host: x.test"))
	// G: refused before routing.
	for _, r := range []string{
		"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \xc3\xa9.test\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: x.test\r\n\r\n",
		"GET /nohost HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\"\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: \r\n\r\n",
	} {
		add("G-refused", strings.SplitN(r, "\r\n", 2)[0], r)
	}
	// K: Host values net/http accepts and fasthttp's URI parser does not:
	// routed (issue 18).
	for _, r := range []string{
		"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com:abc\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [example.com]\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: ::1\r\nContent-Length: 2\r\n\r\nab",
	} {
		add("K-go-hosts", strings.SplitN(r, "\r\n", 3)[1], r)
	}
	// H: header lines fasthttp keeps in forms of its own, matched as
	// net/http hands them to Traefik: every line of a repeated User-Agent
	// or Content-Type; Trailer as sent without a chunked body, absent with
	// one; Cookie lines as sent.
	for _, h := range []struct{ name, raw, want string }{
		{"two User-Agent, first", req("GET", "/h/ua", "Host: x.test", "User-Agent: one", "User-Agent: two"), "ua"},
		{"two User-Agent, last", req("GET", "/h/ua", "Host: x.test", "User-Agent: two", "user-agent: one"), "ua"},
		{"one User-Agent", req("GET", "/h/ua", "Host: x.test", "User-Agent: two"), "catchall"},
		{"two Content-Type, first", req("POST", "/h/ct", "Host: x.test", "Content-Type: text/a", "Content-Type: text/b", "Content-Length: 0"), "ctype"},
		{"two Content-Type, last", req("POST", "/h/ct", "Host: x.test", "Content-Type: text/b", "Content-Type: text/a", "Content-Length: 0"), "ctype"},
		{"Trailer, no body", req("GET", "/h/tr", "Host: x.test", "Trailer: x-foo"), "trailer"},
		{"Trailer, chunked", "POST /h/tr HTTP/1.1\r\nHost: x.test\r\nTrailer: x-foo\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Foo: 1\r\n\r\n", "catchall"},
		{"Cookie as sent", req("GET", "/h/c", "Host: x.test", "Cookie: a=1;b=2"), "cookie"},
		{"Cookie, second line", req("GET", "/h/c", "Host: x.test", "Cookie: c=3", "Cookie: a=1;b=2"), "cookie"},
		{"Cookie re-spaced", req("GET", "/h/c", "Host: x.test", "Cookie: a=1; b=2"), "catchall"},
	} {
		out = append(out, explainCase{class: "H-headers", kind: "plain", name: h.name, raw: h.raw, want: h.want})
	}
	// L: child routers, matched after the parent's stripPrefix; the
	// parent's own 404 when no child matches.
	for _, p := range []string{"/p/one", "/one", "/p/none", "/p", "/p/deep/x", "/p/deep/y", "/p/%6Fne", "/p/one/", "/p/deep%2Fx", "/p/./one", "/pone"} {
		addAll("L-children", p, "GET", p, "Host: p.test")
	}
	addAll("L-children", "X-Kid", "GET", "/p/other", "Host: p.test", "X-Kid: 1")
	addAll("L-children", "X-Kid no p", "GET", "/other", "Host: p.test", "X-Kid: 1")
	add("L-children", "Connection: X-Kid", req("GET", "/p/other", "Host: p.test", "X-Kid: 1", "Connection: X-Kid"))
	// I: the ping handler.
	addAll("I-ping", "/ping", "GET", "/ping", "Host: x.test")
	addAll("I-ping", "/ping?x", "GET", "/ping?x", "Host: x.test")
	// J: fragments, OPTIONS *, CONNECT, targets without a slash.
	add("J-targets", "#frag", req("GET", "/a/#frag", "Host: x.test"))
	addAll("J-targets", "OPTIONS *", "OPTIONS", "*", "Host: x.test")
	add("J-targets", "CONNECT", req("CONNECT", "a.test:443", "Host: a.test:443"))
	add("J-targets", "no slash", req("GET", "a/b", "Host: x.test"))
	return out
}

// sendRaw writes a raw request on a new connection and returns the
// service that answered, or the status.
func sendRaw(t *testing.T, addr string, useTLS bool, sni, raw string, names map[string]string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if useTLS {
		tc := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			return "handshake: " + err.Error()
		}
		c = tc
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "no response: " + err.Error()
	}
	resp.Body.Close()
	return answered(resp, names)
}

func answered(resp *http.Response, names map[string]string) string {
	if svc := resp.Header.Get("X-Svc"); svc != "" {
		return names[svc]
	}
	if resp.StatusCode == 200 {
		return "200 (no router)"
	}
	return fmt.Sprint(resp.StatusCode)
}

// sendH2C sends r with HTTP/2 prior knowledge.
func sendH2C(t *testing.T, addr string, r *http.Request, names map[string]string) string {
	t.Helper()
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
		return net.Dial(network, addr)
	}}
	defer tr.CloseIdleConnections()
	// The target goes out as written: URL.Opaque is sent as :path verbatim.
	req := &http.Request{Method: r.Method, URL: &url.URL{Scheme: "http", Host: r.Host, Opaque: r.RequestURI}, Host: r.Host, Header: http.Header{}}
	req.Header = r.Header.Clone()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "h2c error"
	}
	resp.Body.Close()
	return answered(resp, names)
}
