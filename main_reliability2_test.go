package main

// The reliability matrix, continued: header trust, limits and backend
// faults (docs/reliability.md §A1.2, §A1.6, §A1.7).

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestForwardedHeaderTrust is §A1.6 X1, X2, X5: from an untrusted peer
// (127.0.0.1 is not in trustedIPs) the client's X-Forwarded-* are replaced;
// headers the client lists in Connection go before the proxy adds its own,
// so a client cannot delete them; hop-by-hop headers are not forwarded
// and TE keeps only "trailers".
func TestForwardedHeaderTrust(t *testing.T) {
	bk := newCapture(t)
	addr := captureProxy(t, bk.port())
	payload := "GET /x HTTP/1.1\r\nHost: a.test\r\n" +
		"Connection: keep-alive, X-Forwarded-For, X-Forwarded-Host, X-Real-Ip, X-Forwarded-Proto, X-Custom\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n" +
		"X-Forwarded-Server: evil\r\nX-Real-Ip: 6.6.6.6\r\nX-Custom: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n" +
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
	statuses, _ := rawExchange(t, addr, payload+second)
	if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 200 {
		t.Fatalf("statuses %v, want 200 200", statuses)
	}
	seen := bk.requests()
	if len(seen) != 2 {
		t.Fatalf("backend saw %q", seen)
	}
	got := strings.ToLower(string(seen[0]))
	for _, want := range []string{"\r\nx-forwarded-for: 127.0.0.1\r\n", "\r\nx-forwarded-host: a.test\r\n", "\r\nx-real-ip: 127.0.0.1\r\n",
		"\r\nx-forwarded-proto: http\r\n", "\r\nx-forwarded-port: 80\r\n", "\r\nte: trailers\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("backend did not get %q:\n%s", strings.TrimSpace(want), seen[0])
		}
	}
	// The client's Connection line is hop-by-hop itself (CVE-2024-45410's
	// class: a backend must not learn which headers the client listed).
	for _, bad := range []string{"6.6.6.6", "evil", "\r\nx-custom:", "\r\nkeep-alive:", "\r\nupgrade:", "\r\nconnection:", ": https\r\n", "x-forwarded-port: 1\r\n"} {
		if strings.Contains(got, bad) {
			t.Errorf("backend got %q:\n%s", bad, seen[0])
		}
	}
	// Connection: close from the client closes the client connection after
	// the answer; the pipelined request is never forwarded.
	statuses, closed := rawExchange(t, addr, "GET /c HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"+second)
	if len(statuses) != 1 || statuses[0] != 200 || !closed {
		t.Errorf("Connection: close: statuses %v closed %v, want one 200 and close", statuses, closed)
	}
	s := bk.requests()
	if len(s) != 3 {
		t.Fatalf("backend saw %q", s[2:])
	}
	// The client's close is not the upstream's: the upstream connection
	// stays reusable.
	if strings.Contains(strings.ToLower(string(s[2])), "\r\nconnection:") {
		t.Errorf("Connection: close forwarded upstream:\n%s", s[2])
	}
}

// TestHeaderBlockTooLarge is §A1.2 L1: a header block over the 32 KiB
// limit gets a 431 the client can read, and the backend sees nothing.
func TestHeaderBlockTooLarge(t *testing.T) {
	bk := newCapture(t)
	addr := captureProxy(t, bk.port())
	for _, payload := range []string{
		"GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test\r\n" + strings.Repeat("Cookie: c=0123456789012345678901234567890123456789\r\n", 2000) + "\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go io.WriteString(c, payload) // the proxy stops reading; the write may fail
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != 431 {
			t.Errorf("%d-byte header block: %v %v, want a readable 431", len(payload), resp, err)
		}
	}
	if s := bk.requests(); len(s) != 0 {
		t.Errorf("backend saw %d requests", len(s))
	}
}

// faultBackend accepts connections and runs fault on each.
func faultBackend(t *testing.T, fault func(c *net.TCPConn, br *bufio.Reader)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for { // the request head (the tests send no bodies)
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
				}
				fault(c.(*net.TCPConn), br)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestBackendFaults is §A1.7 B1, B3, B6, B8: refused → 502; garbage
// (not HTTP, a 4-digit status, two Content-Lengths) → an error status,
// nothing of the garbage relayed (500 as Traefik's proxy answers a
// malformed response: its error handler's default); reset mid-body → the client connection ends without a complete
// body (never a clean end, never an appended error page); an HTTP/1.0
// backend that ends its body by closing is forwarded, complete.
func TestBackendFaults(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	garbage := faultBackend(t, func(c *net.TCPConn, _ *bufio.Reader) {
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02garbage\r\n\r\n")
	})
	badStatus := faultBackend(t, func(c *net.TCPConn, _ *bufio.Reader) {
		io.WriteString(c, "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	bothCLTE := faultBackend(t, func(c *net.TCPConn, _ *bufio.Reader) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
	})
	reset := faultBackend(t, func(c *net.TCPConn, _ *bufio.Reader) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 50000))
		time.Sleep(100 * time.Millisecond)
		c.SetLinger(0) // RST
	})
	http10 := faultBackend(t, func(c *net.TCPConn, _ *bufio.Reader) {
		io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"+strings.Repeat("y", 70000))
	})
	dir := t.TempDir()
	ports := map[string]int{"refused": refusedPort, "garbage": garbage, "badstatus": badStatus, "dupcl": bothCLTE, "reset": reset, "http10": http10}
	routes := "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: faults, namespace: default}\nspec:\n  routes:\n"
	for name := range ports {
		routes += "    - match: PathPrefix(`/" + name + "`)\n      services: [{name: " + name + ", port: 80}]\n"
	}
	manifests(t, dir, ports, routes)
	base := "http://" + start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir).address(t)
	if code, _ := fetch(t, base+"/refused", "a.test"); code != 502 {
		t.Errorf("refused: %d, want 502", code)
	}
	for _, name := range []string{"garbage", "badstatus", "dupcl"} {
		if code, body := fetch(t, base+"/"+name, "a.test"); (code != 500 && code != 502) || body != http.StatusText(code) {
			t.Errorf("%s backend: %d %q, want 500 or 502 with its status text", name, code, body)
		}
	}
	resp, err := client.Get(base + "/reset")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) >= 100000 || strings.Trim(string(b), "x") != "" {
		t.Errorf("reset mid-body: %d bytes (%v), want a truncated body of x's and an error", len(b), err)
	}
	resp, err = client.Get(base + "/http10")
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" || len(b) != 70000 || strings.Trim(string(b), "y") != "" {
		t.Errorf("HTTP/1.0 backend: %s %d, %d bytes, %v", resp.Proto, resp.StatusCode, len(b), err)
	}
}

// TestHeaderFidelityForwarded is issue 18's header fidelity on the way
// upstream, as Traefik's Go transport writes it: Cookie lines as sent,
// the first of repeated User-Agent and Content-Type lines (fasthttp keeps
// the last), a chunked body's trailers announced in a Trailer line of
// canonical names, and header names in their canonical form.
func TestHeaderFidelityForwarded(t *testing.T) {
	bk := newCapture(t)
	addr := captureProxy(t, bk.port())
	payload := "POST /x HTTP/1.1\r\nHost: a.test\r\nUser-Agent: one\r\nuser-agent: two\r\nContent-Type: text/a\r\n" +
		"content-type: text/b\r\nCookie: a=1;b=2\r\ncookie: c=3\r\nTrailer: x-foo\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"1\r\nx\r\n0\r\nx-foo: bar\r\n\r\n"
	statuses, _ := rawExchange(t, addr, payload+second)
	if len(statuses) != 2 || statuses[0] != 200 {
		t.Fatalf("statuses %v", statuses)
	}
	seen := bk.requests()
	if len(seen) != 2 {
		t.Fatalf("backend saw %q", seen)
	}
	got := string(seen[0])
	for _, want := range []string{"\r\nUser-Agent: one\r\n", "\r\nContent-Type: text/a\r\n", "\r\nCookie: a=1;b=2\r\n",
		"\r\nCookie: c=3\r\n", "\r\nTrailer: X-Foo\r\n", "\r\n1\r\nx\r\n0\r\nX-Foo: bar\r\n\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("backend did not get %q:\n%s", strings.TrimSpace(want), got)
		}
	}
	for _, bad := range []string{"two", "text/b", "a=1; b=2"} {
		if strings.Contains(got, bad) {
			t.Errorf("backend got %q:\n%s", bad, got)
		}
	}
}
