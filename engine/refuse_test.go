package engine

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// A request the parser refuses after pipelined ones: every earlier answer
// reaches the client first, then the refusal (found by fuzz/http1: the
// refusal was written on the connection ahead of the answer still in
// fasthttp's write buffer, which the shut write side then lost; the
// client saw its first request refused though the backend had served it).
func TestRefusalAfterPipelinedRequest(t *testing.T) {
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": backend(t, "a")})
	s, _ := startServer(t, snap)
	c, err := net.Dial("tcp", s.Addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /first HTTP/1.1\r\nHost: a.test\r\n\r\nGET /second HTTP/1.1\r\nHost: a.test\r\n\r\nGET  /bad HTTP/1.1\r\nHost: a.test\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []int{200, 200, 400} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("want %d: %v", want, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, want)
		}
	}
}

// A 431 on a connection's second request is still read by a client
// that keeps sending its oversized header.
func TestRefusalOnSecondRequest(t *testing.T) {
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": backend(t, "a")})
	s, _ := startServer(t, snap)
	c, err := net.Dial("tcp", s.Addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /first HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	go io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 431 {
		t.Fatalf("second: %v %v, want a readable 431", resp, err)
	}
}
