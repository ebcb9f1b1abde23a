package middleware

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Both kinds, ipAllowList and its deprecated alias ipWhiteList, behave the
// same but for rejectStatusCode, which only ipAllowList has.
var allowListKinds = []string{"ipAllowList", "ipWhiteList"}

// countingBackend is echoBackend counting its requests.
func ipCountingBackend(n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		echoBackend.ServeHTTP(w, r)
	})
}

// allowListStatus sends a GET with the given headers through one
// middleware and returns the status, failing the test when a request that
// passed did not reach the backend, or a refused one did.
func allowListStatus(t *testing.T, base string, hits *atomic.Int64, hdr ...string) int {
	t.Helper()
	before := hits.Load()
	resp := do(t, "GET", base+"/", nil, hdr...)
	readAll(t, resp)
	reached := hits.Load() != before
	if reached != (resp.StatusCode == 200) {
		t.Fatalf("status %d, backend reached: %v", resp.StatusCode, reached)
	}
	return resp.StatusCode
}

// caseFront is one front server for many middlewares, so that a table
// does not start a server per case: a request to /c<i>/... goes through
// the i-th middleware added; any other path is answered 418 at once,
// through none.
type caseFront struct {
	base string
	hits atomic.Int64
	next Handler
	mu   sync.Mutex
	hs   []Handler
}

var casePath = regexp.MustCompile(`^(?:[a-zA-Z]+:/+[^/]*)?/c([0-9]+)(?:/|$)`)

func newCaseFront(t *testing.T) *caseFront { return newCaseFrontTo(t, nil) }

// newCaseFrontTo is newCaseFront with a backend of its own (nil: the
// echo backend, counting its requests in hits).
func newCaseFrontTo(t *testing.T, backend http.Handler) *caseFront {
	cf := &caseFront{}
	if backend == nil {
		backend = ipCountingBackend(&cf.hits)
	}
	cf.base = front(t, backend, func(next Handler) Handler {
		cf.next = next
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			// (The harness keeps an absolute-form target as the path.)
			m := casePath.FindStringSubmatch(string(r.Path()))
			i, err := -1, error(nil)
			if m != nil {
				i, err = strconv.Atoi(m[1])
			}
			cf.mu.Lock()
			if err != nil || i < 0 || i >= len(cf.hs) {
				cf.mu.Unlock()
				ctx.SetStatusCode(fasthttp.StatusTeapot)
				return
			}
			h := cf.hs[i]
			cf.mu.Unlock()
			h(ctx, r)
		}
	})
	return cf
}

// add builds one middleware and returns the base URL of its case.
func (cf *caseFront) add(t *testing.T, kind, config string) (string, *atomic.Int64) {
	t.Helper()
	return cf.addMW(buildOne(t, kind, config)), &cf.hits
}

// addMW adds a built middleware and returns the base URL of its case.
func (cf *caseFront) addMW(m Middleware) string {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.hs = append(cf.hs, m(cf.next))
	return fmt.Sprintf("%s/c%d", cf.base, len(cf.hs)-1)
}

// TestIPAllowListBuildErrors: a configuration Traefik refuses is an error
// on the object, with Traefik's words (TestNewIPAllowLister,
// TestNewIPWhiteLister, ip.TestNew, and the IPStrategy checks).
func TestIPAllowListBuildErrors(t *testing.T) {
	tests := []struct {
		kind, config string
		err          string // "" builds
	}{
		{"ipAllowList", `{}`, "sourceRange is empty, IPAllowLister not created"},
		{"ipAllowList", `{"sourceRange":[]}`, "sourceRange is empty, IPAllowLister not created"},
		{"ipAllowList", `{"sourceRange":["foo"]}`, "cannot parse CIDRs [foo]: parsing CIDR trusted IPs <nil>: invalid CIDR address: foo"},
		{"ipAllowList", `{"sourceRange":["1.2.3.4/24","","fe80::/16"]}`, "cannot parse CIDRs [1.2.3.4/24  fe80::/16]: parsing CIDR trusted IPs <nil>: invalid CIDR address: "},
		{"ipAllowList", `{"sourceRange":["10.0.0.350"]}`, "invalid CIDR address: 10.0.0.350"},
		{"ipAllowList", `{"sourceRange":["1.2.3.4/33"]}`, "invalid CIDR address: 1.2.3.4/33"},
		{"ipAllowList", `{"sourceRange":["fe80::1%eth0"]}`, "invalid CIDR address: fe80::1%eth0"},
		{"ipAllowList", `{"sourceRange":["fe80::%eth0/64"]}`, "invalid CIDR address: fe80::%eth0/64"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"]}`, ""},
		{"ipAllowList", `{"sourceRange":["1.2.3.4/024","::ffff:1.2.3.4/120","fe80::/16"]}`, ""}, // net.ParseCIDR takes a zero-padded length
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"rejectStatusCode":600}`, "invalid HTTP status code 600"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"rejectStatusCode":99}`, "invalid HTTP status code 99"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"rejectStatusCode":-1}`, "invalid HTTP status code -1"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"rejectStatusCode":299}`, "invalid HTTP status code 299"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"rejectStatusCode":418}`, ""},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"depth":1,"ipv6Subnet":0}}`, "invalid IPv6 subnet 0 value, should be greater to 0 and lower or equal to 128"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"depth":1,"ipv6Subnet":129}}`, "invalid IPv6 subnet 129 value, should be greater to 0 and lower or equal to 128"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"ipv6Subnet":-3}}`, "invalid IPv6 subnet -3 value, should be greater to 0 and lower or equal to 128"},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"ipv6Subnet":128}}`, ""},
		// The pool strategy does not look at ipv6Subnet, nor check it.
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"excludedIPs":["10.0.0.1"],"ipv6Subnet":0}}`, ""},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"excludedIPs":["bar"]}}`, "parsing CIDR trusted IPs <nil>: invalid CIDR address: bar"},
		// Depth wins: excludedIPs is then not even parsed.
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"depth":2,"excludedIPs":["bar"]}}`, ""},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"depth":-1}}`, ""},
		{"ipAllowList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"deep":1}}`, `option "deep" is not supported by edgeroute`},
		{"ipAllowList", `{"sourceRange":"10.10.10.10"}`, "cannot unmarshal string"},
		{"ipWhiteList", `{}`, "sourceRange is empty, IPWhiteLister not created"},
		{"ipWhiteList", `{"sourceRange":["foo"]}`, "cannot parse CIDR whitelist [foo]: parsing CIDR trusted IPs <nil>: invalid CIDR address: foo"},
		{"ipWhiteList", `{"sourceRange":["10.10.10.10"]}`, ""},
		{"ipWhiteList", `{"sourceRange":["10.10.10.10"],"ipStrategy":{"depth":3,"ipv6Subnet":200}}`, "invalid IPv6 subnet 200 value"},
		{"ipWhiteList", `{"sourceRange":["10.10.10.10"],"rejectStatusCode":404}`, `option "rejectStatusCode" is not supported by edgeroute`},
	}
	for _, tc := range tests {
		_, err := tryBuild(tc.kind, tc.config)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s %s: %v", tc.kind, tc.config, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %s: error %v, want %q", tc.kind, tc.config, err, tc.err)
		}
	}
}

// TestIPWhiteListDeprecated: ipWhiteList warns with Traefik's sentence,
// even when it does not build; ipAllowList does not warn.
func TestIPWhiteListDeprecated(t *testing.T) {
	const want = `Middleware "default-wl@kubernetescrd" of type IPWhiteList is deprecated, please use IPAllowList instead.`
	for _, tc := range []struct {
		kind, config string
		warnings     []string
		fails        bool
	}{
		{"ipWhiteList", `{"sourceRange":["127.0.0.1"]}`, []string{want}, false},
		{"ipWhiteList", `{"sourceRange":[]}`, []string{want}, true},
		{"ipAllowList", `{"sourceRange":["127.0.0.1"]}`, nil, false},
	} {
		def := &spec.Middleware{Name: "default-wl@kubernetescrd", Kind: tc.kind, Config: json.RawMessage(tc.config)}
		b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
		if (b.Err != nil) != tc.fails || !slices.Equal(b.Warnings, tc.warnings) {
			t.Errorf("%s %s: err %v, warnings %q, want %q", tc.kind, tc.config, b.Err, b.Warnings, tc.warnings)
		}
	}
}

// TestIPAllowListRemoteAddr: without ipStrategy (or with an empty one),
// the TCP peer (127.0.0.1 here) is checked (TestIPAllowLister_ServeHTTP,
// TestIPWhiteLister_ServeHTTP), with net.IP's rules for IPv4-mapped
// addresses and ranges.
func TestIPAllowListRemoteAddr(t *testing.T) {
	tests := []struct {
		sourceRange string
		strategy    string
		status      int
	}{
		{`["127.0.0.1"]`, ``, 200},
		{`["127.0.0.2"]`, ``, 403},
		{`["20.20.20.20","127.0.0.1"]`, ``, 200},
		{`["127.0.0.0/8"]`, ``, 200},
		{`["127.0.0.1/32"]`, ``, 200},
		{`["127.0.0.2/32"]`, ``, 403},
		{`["128.0.0.0/1"]`, ``, 403},
		{`["0.0.0.0/0"]`, ``, 200},
		{`["::ffff:127.0.0.1"]`, ``, 200},     // equal as net.IP
		{`["::ffff:127.0.0.0/104"]`, ``, 200}, // an IPv4 network written as IPv6
		{`["::ffff:0:0/96"]`, ``, 200},        // every IPv4 address
		{`["::ffff:127.0.0.1/95"]`, ``, 403},  // an IPv6 network: no IPv4 address
		{`["::/0"]`, ``, 403},                 // no IPv4 address either
		{`["::1"]`, ``, 403},                  // not 127.0.0.1
		{`["127.000.0.1/8"]`, ``, 0},          // leading zeros: refused (0: no build)
		{`["127.0.0.1"]`, `{}`, 200},          // an empty ipStrategy: the peer
		{`["127.0.0.2"]`, `{}`, 403},
		{`["127.0.0.1"]`, `{"ipv6Subnet":64}`, 200}, // IPv4: ipv6Subnet ignored
		{`["127.0.0.1"]`, `{"depth":0,"excludedIPs":[]}`, 200},
	}
	cf := newCaseFront(t)
	for _, kind := range allowListKinds {
		for _, tc := range tests {
			config := `{"sourceRange":` + tc.sourceRange
			if tc.strategy != "" {
				config += `,"ipStrategy":` + tc.strategy
			}
			config += "}"
			if tc.status == 0 {
				if _, err := tryBuild(kind, config); err == nil {
					t.Errorf("%s %s: builds", kind, config)
				}
				continue
			}
			base, hits := cf.add(t, kind, config)
			// An X-Forwarded-For does not matter to the peer strategy.
			for _, hdr := range [][]string{nil, {"X-Forwarded-For: 127.0.0.2"}, {"X-Forwarded-For: 127.0.0.1"}} {
				if got := allowListStatus(t, base, hits, hdr...); got != tc.status {
					t.Errorf("%s %s %q: status %d, want %d", kind, config, hdr, got, tc.status)
				}
			}
		}
	}
}

// TestIPAllowListRejectStatus: a refused request gets rejectStatusCode
// and its status text as the body, as Go's ResponseWriter sends them: a
// sniffed text/plain type, no body where HTTP has none, a HEAD without
// its body; an informational status becomes a 200 with its text.
func TestIPAllowListRejectStatus(t *testing.T) {
	tests := []struct {
		kind, config string
		method       string
		status       int
		body, ctype  string
	}{
		{"ipAllowList", `{"sourceRange":["10.0.0.1"]}`, "GET", 403, "Forbidden", "text/plain; charset=utf-8"},
		{"ipWhiteList", `{"sourceRange":["10.0.0.1"]}`, "GET", 403, "Forbidden", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":0}`, "GET", 403, "Forbidden", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":404}`, "GET", 404, "Not Found", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":418}`, "GET", 418, "I'm a teapot", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":429}`, "POST", 429, "Too Many Requests", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":200}`, "GET", 200, "OK", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":302}`, "GET", 302, "Found", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":503}`, "GET", 503, "Service Unavailable", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":204}`, "GET", 204, "", ""},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":304}`, "GET", 304, "", ""},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":100}`, "GET", 200, "Continue", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":103}`, "GET", 200, "Early Hints", "text/plain; charset=utf-8"},
		{"ipAllowList", `{"sourceRange":["10.0.0.1"]}`, "HEAD", 403, "", "text/plain; charset=utf-8"},
	}
	cf := newCaseFront(t)
	for _, tc := range tests {
		base, hits := cf.add(t, tc.kind, tc.config)
		resp := do(t, tc.method, base+"/path?q", strings.NewReader(""))
		body := readAll(t, resp)
		if resp.StatusCode != tc.status || body != tc.body || resp.Header.Get("Content-Type") != tc.ctype || hits.Load() != 0 {
			t.Errorf("%s %s %s: %d %q (Content-Type %q), backend hits %d; want %d %q (%q)", tc.kind, tc.config, tc.method,
				resp.StatusCode, body, resp.Header.Get("Content-Type"), hits.Load(), tc.status, tc.body, tc.ctype)
		}
		wantLen := int64(len(tc.body))
		switch {
		case tc.method == "HEAD":
			wantLen = int64(len("Forbidden")) // announced, not sent
		case tc.status == 204 || tc.status == 304:
			wantLen = 0 // Go's client says 0 whatever is sent; net/http sends none
			if v, ok := resp.Header["Content-Length"]; ok {
				t.Errorf("%s %s: Content-Length %q", tc.kind, tc.config, v)
			}
		}
		if resp.ContentLength != wantLen {
			t.Errorf("%s %s %s: Content-Length %d, want %d", tc.kind, tc.config, tc.method, resp.ContentLength, wantLen)
		}
		for _, h := range []string{"X-Content-Type-Options", "Location"} {
			if v, ok := resp.Header[h]; ok {
				t.Errorf("%s %s: %s %q", tc.kind, tc.config, h, v)
			}
		}
	}
}

// TestIPAllowListSwitchingProtocols: 101 is no informational status to
// net/http: it is sent as the final answer, with no body.
func TestIPAllowListSwitchingProtocols(t *testing.T) {
	base, hits := newCaseFront(t).add(t, "ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":101}`)
	addr, _, _ := strings.Cut(strings.TrimPrefix(base, "http://"), "/")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /c0/ HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Content-Type") != "" || resp.Header.Get("Content-Length") != "" || hits.Load() != 0 {
		t.Errorf("%d %q, backend hits %d", resp.StatusCode, resp.Header, hits.Load())
	}
}

// xffCase is a client address picked from X-Forwarded-For: pick is what
// the strategy selects ("" for none, which no range allows).
type xffCase struct {
	desc     string
	strategy string
	xff      []string // header lines
	pick     string
}

// Traefik's strategy tests (TestDepthStrategy_GetIP,
// TestTrustedIPsStrategy_GetIP) and the ipStrategy tables of its
// documentation, with the peer (127.0.0.1) never used once the strategy
// reads X-Forwarded-For.
var xffCases = []xffCase{
	{"depth 1", `{"depth":1}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "13.0.0.1"},
	{"depth 3", `{"depth":3}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "11.0.0.1"},
	{"depth 4: the first entry", `{"depth":4}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "10.0.0.1"},
	{"depth 5: too deep", `{"depth":5}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, ""},
	{"depth 3 of 4", `{"depth":3}`, []string{"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, "10.0.0.3"},
	{"depth, no header", `{"depth":2}`, nil, ""},
	{"depth 1, no header", `{"depth":1}`, nil, ""},
	{"depth, empty header", `{"depth":1}`, []string{""}, ""},
	{"depth matching the first", `{"depth":2}`, []string{"10.0.0.2,10.0.0.1"}, "10.0.0.2"},
	{"depth, spaces", `{"depth":2}`, []string{"10.0.0.2 ,  10.0.0.1"}, "10.0.0.2"},
	{"depth, an empty entry", `{"depth":2}`, []string{"10.0.0.2,,10.0.0.1"}, ""},
	{"depth, only the first line", `{"depth":1}`, []string{"10.0.0.2", "10.0.0.1"}, "10.0.0.2"},
	{"depth 2, only the first line", `{"depth":2}`, []string{"10.0.0.2", "10.0.0.1"}, ""},
	{"depth, with a port", `{"depth":1}`, []string{"10.0.0.2, 10.0.0.1:8080"}, "10.0.0.1"},
	{"depth, IPv6 with a port", `{"depth":1}`, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
	{"depth, IPv6 with a zone", `{"depth":1}`, []string{"fe80::1%eth0"}, "fe80::1"},
	{"depth, not an address", `{"depth":1}`, []string{"10.0.0.1,foo"}, ""},
	{"depth, octal", `{"depth":1}`, []string{"0127.0.0.1"}, ""},
	{"depth, IPv4-mapped", `{"depth":1}`, []string{"::ffff:10.0.0.9"}, "10.0.0.9"},
	{"depth with ipv6Subnet, IPv4", `{"depth":2,"ipv6Subnet":80}`, []string{"10.0.0.3,10.0.0.2,10.0.0.1"}, "10.0.0.2"},
	{"depth with ipv6Subnet 80", `{"depth":2,"ipv6Subnet":80}`, []string{"10.0.0.3,::abcd:ffff:c0a8:1,10.0.0.1"}, "::abcd:0:0:0"},
	{"depth with ipv6Subnet 64", `{"depth":1,"ipv6Subnet":64}`, []string{"::abcd:1111:2222:3333"}, "::"},
	{"depth with ipv6Subnet 96", `{"depth":1,"ipv6Subnet":96}`, []string{"::abcd:1111:2222:3333"}, "::abcd:1111:0:0"},
	{"depth with ipv6Subnet 128", `{"depth":1,"ipv6Subnet":128}`, []string{"2001:db8::7"}, "2001:db8::7"},
	{"depth wins over excludedIPs", `{"depth":1,"excludedIPs":["13.0.0.1"]}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "13.0.0.1"},
	{"excluded 12, 13", `{"excludedIPs":["12.0.0.1","13.0.0.1"]}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "11.0.0.1"},
	{"excluded 15, 13", `{"excludedIPs":["15.0.0.1","13.0.0.1"]}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "12.0.0.1"},
	{"excluded 10, 13", `{"excludedIPs":["10.0.0.1","13.0.0.1"]}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "12.0.0.1"},
	{"excluded 15, 16", `{"excludedIPs":["15.0.0.1","16.0.0.1"]}`, []string{"10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"}, "13.0.0.1"},
	{"all excluded", `{"excludedIPs":["10.0.0.1","11.0.0.1"]}`, []string{"10.0.0.1,11.0.0.1"}, ""},
	{"trust all IPs", `{"excludedIPs":["10.0.0.4","10.0.0.3","10.0.0.2","10.0.0.1"]}`, []string{"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, ""},
	{"do not trust all IPs", `{"excludedIPs":["10.0.0.2","10.0.0.1"]}`, []string{"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, "10.0.0.3"},
	{"excluded CIDR", `{"excludedIPs":["10.0.0.1/24"]}`, []string{"127.0.0.1,10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, "127.0.0.1"},
	{"excluded CIDR, all", `{"excludedIPs":["10.0.0.1/24"]}`, []string{"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, ""},
	{"excluded, no header", `{"excludedIPs":["10.0.0.1"]}`, nil, ""},
	{"excluded, empty entries skipped", `{"excludedIPs":["10.0.0.1"]}`, []string{"10.0.0.7, ,,10.0.0.1,"}, "10.0.0.7"},
	{"excluded, spaces", `{"excludedIPs":["10.0.0.1"]}`, []string{" 10.0.0.7 ,\t10.0.0.1 "}, "10.0.0.7"},
	{"excluded, only the first line", `{"excludedIPs":["10.0.0.1"]}`, []string{"10.0.0.7,10.0.0.1", "10.0.0.8"}, "10.0.0.7"},
	{"excluded, not an address is picked", `{"excludedIPs":["10.0.0.1"]}`, []string{"10.0.0.7,foo,10.0.0.1"}, ""},
	{"excluded, IPv4-mapped excluded", `{"excludedIPs":["10.0.0.1"]}`, []string{"10.0.0.7,::ffff:10.0.0.1"}, "10.0.0.7"},
	{"excluded, a port is not stripped", `{"excludedIPs":["10.0.0.1"]}`, []string{"10.0.0.7,10.0.0.1:80"}, "10.0.0.1"},
	{"excluded, ipv6Subnet ignored", `{"excludedIPs":["10.0.0.1"],"ipv6Subnet":80}`, []string{"::abcd:ffff:c0a8:1"}, "::abcd:ffff:c0a8:1"},
}

// TestIPAllowListXForwardedFor: with a depth or excludedIPs, the address
// checked is the one the strategy picks from X-Forwarded-For: allowed
// when listed, refused otherwise (and when it picks none), whatever the
// peer.
func TestIPAllowListXForwardedFor(t *testing.T) {
	cf := newCaseFront(t)
	for _, kind := range allowListKinds {
		for _, tc := range xffCases {
			var hdr []string
			for _, v := range tc.xff {
				hdr = append(hdr, "X-Forwarded-For: "+v)
			}
			// Listed: allowed. The peer and the other entries are not
			// listed.
			if tc.pick != "" {
				base, hits := cf.add(t, kind, `{"sourceRange":["`+tc.pick+`"],"ipStrategy":`+tc.strategy+`}`)
				if got := allowListStatus(t, base, hits, hdr...); got != 200 {
					t.Errorf("%s %s: %q not allowed (status %d)", kind, tc.desc, tc.pick, got)
				}
			}
			// Everything but the pick (and the peer) listed: refused.
			others := []string{"127.0.0.1", "11.0.0.1", "10.0.0.0/8", "12.0.0.0/8", "13.0.0.1", "::abcd:0:0:1/80", "2001:db8::/32", "fe80::/10", "0.0.0.0/0", "::/0"}
			others = slices.DeleteFunc(others, func(s string) bool { return allowed(s, tc.pick) })
			rng, _ := json.Marshal(others)
			base, hits := cf.add(t, kind, `{"sourceRange":`+string(rng)+`,"ipStrategy":`+tc.strategy+`}`)
			if got := allowListStatus(t, base, hits, hdr...); got != 403 {
				t.Errorf("%s %s: allowed with %s (status %d), want only %q", kind, tc.desc, rng, got, tc.pick)
			}
		}
	}
}

// allowed tells whether a range (an address or CIDR) holds addr.
func allowed(rng, addr string) bool {
	if addr == "" {
		return false
	}
	c, err := newIPChecker([]string{rng})
	if err != nil {
		panic(err)
	}
	in, _ := c.contains([]byte(addr))
	return in
}

// TestIPAllowListRanges is Traefik's ip.Checker tables (TestIsAuthorized,
// TestContainsIsAllowed, TestContainsBrokenIPs) over the wire: the
// address is sent as X-Forwarded-For and picked with depth 1.
func TestIPAllowListRanges(t *testing.T) {
	tests := []struct {
		desc        string
		sourceRange []string
		pass, fail  []string
	}{
		{"IPv4", []string{"1.2.3.4/24"},
			[]string{"1.2.3.1", "1.2.3.32", "1.2.3.156", "1.2.3.255", "1.2.3.1:123"},
			[]string{"1.2.16.1", "1.2.32.1", "127.0.0.1", "8.8.8.8", "10.2.3.1:123"}},
		{"octal", []string{"127.2.3.4/24"}, nil, []string{"0127.2.3.1:123", "0127.2.3.1"}},
		{"IPv4 single IP", []string{"8.8.8.8"}, []string{"8.8.8.8"},
			[]string{"8.8.8.7", "8.8.8.9", "8.8.8.0", "8.8.8.255", "4.4.4.4", "127.0.0.1"}},
		{"IPv4 Net single IP", []string{"8.8.8.8/32"}, []string{"8.8.8.8"},
			[]string{"8.8.8.7", "8.8.8.9", "8.8.8.0", "8.8.8.255", "4.4.4.4", "127.0.0.1"}},
		{"multiple IPv4", []string{"1.2.3.4/24", "8.8.8.8/8"},
			[]string{"1.2.3.1", "1.2.3.32", "1.2.3.156", "1.2.3.255", "8.8.4.4", "8.0.0.1", "8.32.42.128", "8.255.255.255"},
			[]string{"1.2.16.1", "1.2.32.1", "127.0.0.1", "4.4.4.4", "4.8.8.8"}},
		{"IPv6", []string{"2a03:4000:6:d080::/64"},
			[]string{"2a03:4000:6:d080::", "2a03:4000:6:d080::1", "2a03:4000:6:d080:dead:beef:ffff:ffff", "2a03:4000:6:d080::42"},
			[]string{"2a03:4000:7:d080::", "2a03:4000:7:d080::1", "fe80::", "4242::1"}},
		{"IPv6 single IP", []string{"2a03:4000:6:d080::42/128"},
			[]string{"2a03:4000:6:d080::42"},
			[]string{"2a03:4000:6:d080::1", "2a03:4000:6:d080:dead:beef:ffff:ffff", "2a03:4000:6:d080::43"}},
		{"multiple IPv6", []string{"2a03:4000:6:d080::/64", "fe80::/16"},
			[]string{"2a03:4000:6:d080::", "2a03:4000:6:d080::1", "2a03:4000:6:d080:dead:beef:ffff:ffff", "2a03:4000:6:d080::42",
				"fe80::1", "fe80:aa00:00bb:4232:ff00:eeee:00ff:1111", "fe80::fe80"},
			[]string{"2a03:4000:7:d080::", "2a03:4000:7:d080::1", "4242::1"}},
		{"multiple IPv6 & IPv4", []string{"2a03:4000:6:d080::/64", "fe80::/16", "1.2.3.4/24", "8.8.8.8/8"},
			[]string{"2a03:4000:6:d080::", "2a03:4000:6:d080::1", "2a03:4000:6:d080:dead:beef:ffff:ffff", "2a03:4000:6:d080::42",
				"fe80::1", "fe80:aa00:00bb:4232:ff00:eeee:00ff:1111", "fe80:aa00:00bb:4232:ff00:eeee:00ff:1111%vEthernet", "fe80::fe80",
				"1.2.3.1", "1.2.3.32", "1.2.3.156", "1.2.3.255", "8.8.4.4", "8.0.0.1", "8.32.42.128", "8.255.255.255"},
			[]string{"2a03:4000:7:d080::", "2a03:4000:7:d080::1", "2a03:4000:7:d080::1%vmnet1", "4242::1",
				"1.2.16.1", "1.2.32.1", "127.0.0.1", "4.4.4.4", "4.8.8.8"}},
		{"IPv4-mapped", []string{"::ffff:1.2.3.4/120", "::ffff:8.8.8.8"},
			[]string{"1.2.3.9", "::ffff:1.2.3.9", "8.8.8.8", "::ffff:8.8.8.8", "[::ffff:8.8.8.8]:53"},
			[]string{"1.2.4.1", "8.8.8.9"}},
		{"IPv4 range, mapped addresses", []string{"1.2.3.0/24"}, []string{"::ffff:1.2.3.9", "[::ffff:1.2.3.9]:1"}, []string{"::1.2.3.9"}},
		{"zero-padded length", []string{"1.2.3.4/024"}, []string{"1.2.3.200"}, []string{"1.2.4.1"}},
		{"broken addresses", []string{"1.2.3.4/24"}, nil,
			[]string{"foo", "10.0.0.350", "fe:::80", "\\&$§&/(", "[1.2.3.1]", "1.2.3.1:80:80", "[1.2.3.1]x:80"}},
		{"with a port", []string{"1.2.3.4/24"}, []string{"[1.2.3.1]:80", "1.2.3.1:0", "1.2.3.1:"}, nil}, // net.SplitHostPort takes an empty port
	}
	cf := newCaseFront(t)
	for _, tc := range tests {
		rng, _ := json.Marshal(tc.sourceRange)
		base, hits := cf.add(t, "ipAllowList", `{"sourceRange":`+string(rng)+`,"ipStrategy":{"depth":1}}`)
		for _, ip := range tc.pass {
			if got := allowListStatus(t, base, hits, "X-Forwarded-For: "+ip); got != 200 {
				t.Errorf("%s: %q refused (%d)", tc.desc, ip, got)
			}
		}
		for _, ip := range tc.fail {
			if got := allowListStatus(t, base, hits, "X-Forwarded-For: "+ip); got != 403 {
				t.Errorf("%s: %q allowed (%d)", tc.desc, ip, got)
			}
		}
	}
}
