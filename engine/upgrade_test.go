package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// An upgrade the upstream declines is an ordinary exchange: the client's
// connection stays HTTP, and the next request on it is read, routed and
// rewritten by the proxy, never tunnelled to the upstream as raw bytes
// (found by fuzz/http1: the proxy used to tunnel whatever the answer).
func TestUpgradeDeclinedStaysHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI+" xri="+r.Header.Get("X-Real-Ip"))
		mu.Unlock()
		w.Header().Set("Keep-Alive", "timeout=5") // hop-by-hop: must not reach the client
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "no upgrade")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()})
	s, _ := startServer(t, snap)

	c, err := net.Dial("tcp", s.Addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"+
		"GET /x/../admin HTTP/1.1\r\nHost: a.test\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []string{"no upgrade", "no upgrade"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || string(body) != want || resp.Header.Get("Keep-Alive") != "" {
			t.Fatalf("response %d: %d %q %v", i+1, resp.StatusCode, body, resp.Header)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, ", "); got != "/ws xri=127.0.0.1, /admin xri=127.0.0.1" {
		t.Fatalf("the upstream saw %s; want both requests read and rewritten by the proxy", got)
	}
}

// A 101 for another protocol than the one asked is refused with 500, as
// Traefik's "backend tried to switch protocol" error.
func TestUpgradeWrongProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
				io.Copy(io.Discard, c)
			}()
		}
	}()
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()})
	_, base := startServer(t, snap)
	req, _ := http.NewRequest("GET", base+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
}
