// Package explain fuzzes explain against serve: a raw request is sent to a
// running engine over a loopback socket and explained with
// engine.Explain; both must name the same service, or the same refusal.
package explain

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
)

type fixture struct {
	static *engine.Static
	srv    *engine.Server
	rt     *engine.Runtime
	addr   string
}

var (
	once sync.Once
	fx   *fixture
)

// rules are the routers, one service each (named after the router).
var rules = map[string]string{
	"catchall": "PathPrefix(`/`)",
	"prefix-a": "PathPrefix(`/a/`)",
	"encoded":  "Path(`/a%2Fb`)",
	"space":    "Path(`/a b`)",
	"xfp":      "Header(`X-Forwarded-Proto`,`https`)",
	"canary":   "Header(`X-Canary`,`1`)",
	"host-a":   "Host(`a.test`)",
	"wild":     "Host(`*.b.test`)",
	"query":    "Query(`q`,`a b`)",
	"method":   "Method(`POST`) && PathPrefix(`/p`)",
	"regexp":   "HostRegexp(`^c[0-9]+\\.test$`)",
}

func setup(tb testing.TB) *fixture {
	once.Do(func() {
		snap := &spec.Snapshot{Services: map[string]*spec.Service{}, Endpoints: map[string][]spec.Server{}}
		for name, rule := range rules {
			prio := int64(0)
			if name == "catchall" {
				prio = 1
			}
			snap.Routers = append(snap.Routers, spec.Router{Name: name, Rule: rule, Priority: prio, Service: name})
			snap.Services[name] = &spec.Service{Name: name, LoadBalancer: &spec.LoadBalancer{EndpointsKey: name, PassHostHeader: true, Strategy: "wrr"}}
			snap.Endpoints[name] = []spec.Server{{URL: "http://" + nameServer(name)}}
		}
		static, err := engine.ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
		if err != nil {
			panic(err)
		}
		s := engine.NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if probs := s.Apply(snap); len(probs) > 0 {
			panic(fmt.Sprint(probs))
		}
		if err := s.Listen(); err != nil {
			panic(err)
		}
		go s.Serve(context.Background()) // lives for the test binary
		fx = &fixture{static: static, srv: s, rt: s.Runtime(), addr: s.Addr("web")}
	})
	return fx
}

// nameServer answers every request with its name in X-Svc, whatever the
// request line, and returns its address.
func nameServer(name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
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
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" || line == "\n" {
							break
						}
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Svc: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", name)
					return
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func FuzzExplainServe(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x.test\r\n\r\n",
		"GET /a%2Fb{ HTTP/1.1\r\nHost: x.test\r\n\r\n",
		"GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x.test\r\nX-Canary: 1\r\nConnection: close, X-Canary\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x.test\r\nX-Forwarded-Proto: https\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: c7.test\r\n\r\n",
		"GET /?q=a+b HTTP/1.1\r\nHost: z.b.test\r\n\r\n",
		"GET /nohost HTTP/1.0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x.test\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Complete header blocks only, without body framing: explain
		// decides on the header; a body the server waits for (or finds
		// short) is the framing's business, not routing's.
		lower := bytes.ToLower(raw)
		if len(raw) > 4096 || !bytes.Contains(raw, []byte("\r\n\r\n")) ||
			bytes.Contains(lower, []byte("content-length")) || bytes.Contains(lower, []byte("transfer-encoding")) {
			return
		}
		fx := setup(t)
		x, err := engine.Explain(fx.static, fx.rt, "web", raw, engine.Conn{ClientIP: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		served, ok := send(t, fx.addr, raw)
		explained := fmt.Sprint(x.Status)
		if x.Router != nil {
			explained = x.Router.Service
		}
		switch {
		case !ok && x.Status >= 400:
			// The server closed without answering what explain calls
			// unparsable (fasthttp drops some malformed requests).
		case served != explained:
			t.Errorf("%q: served %s, explained %s (%s)", raw, served, explained, x.Reason)
		}
	})
}

// send writes raw on a new connection and returns the service that
// answered the first response, or its status.
func send(t *testing.T, addr string, raw []byte) (string, bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write(raw)
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", false
	}
	resp.Body.Close()
	if svc := resp.Header.Get("X-Svc"); svc != "" {
		return svc, true
	}
	return fmt.Sprint(resp.StatusCode), true
}
