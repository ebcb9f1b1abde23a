package main

// The HTTP/2 front door through the real binary: graceful shutdown with
// streams in flight, for each implementation (native, std) over h2c and
// TLS.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

const shutdownH2Routes = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: plain, namespace: default}
spec:
  routes:
    - match: PathPrefix(` + "`/`" + `)
      services: [{name: whoami-b, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: secure, namespace: default}
spec:
  tls: {}
  routes:
    - match: PathPrefix(` + "`/`" + `)
      services: [{name: whoami-b, port: 80}]
`

// TestShutdown200InFlightH2 is TestShutdown200InFlight over HTTP/2: 200
// streams in flight on one connection when SIGTERM comes; the listener
// closes while they finish (GOAWAY NO_ERROR covers them), and all 200 get
// their 200 OK.
func TestShutdown200InFlightH2(t *testing.T) {
	for _, impl := range []string{"native", "std"} {
		for _, secure := range []bool{false, true} {
			name := impl + "/h2c"
			if secure {
				name = impl + "/tls"
			}
			t.Run(name, func(t *testing.T) { testShutdownH2(t, impl, secure) })
		}
	}
}

func testShutdownH2(t *testing.T, impl string, secure bool) {
	_, pb := whoami(t, "whoami-b")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-b": pb}, shutdownH2Routes)
	proxy := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir,
		"--entryPoints.web.transport.lifeCycle.graceTimeOut=20s", "--entryPoints.web.http2.implementation="+impl)
	addr := proxy.address(t)
	var rt http.RoundTripper
	scheme := "https"
	var conns sync.Map
	if secure {
		rt = &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"},
			DialTLSContext: func(ctx context.Context, network, a string, cfg *tls.Config) (net.Conn, error) {
				c, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, network, a)
				if err == nil {
					conns.Store(c, true)
				}
				return c, err
			}}
	} else {
		scheme = "http"
		rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, a)
			if err == nil {
				conns.Store(c, true)
			}
			return c, err
		}}
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: rt}
	// One stream first, so that the 200 share its connection.
	if resp, err := c.Get(scheme + "://" + addr + "/warm"); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("%s://%s/inflight-%d?wait=4s", scheme, addr, i))
			if err != nil {
				errs <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.HasPrefix(string(body), "Name: whoami-b") {
				errs <- fmt.Errorf("%s %d body %.30q", resp.Proto, resp.StatusCode, body)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	time.Sleep(1500 * time.Millisecond) // all 200 are at the backend, which answers after 4 s
	proxy.cmd.Process.Signal(syscall.SIGTERM)
	refused := false
	for i := 0; i < 40 && !refused; i++ {
		cn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			refused = true
			break
		}
		cn.Close()
		time.Sleep(25 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("the in-flight requests ended before the listener was seen closed: the test proves nothing")
	default:
	}
	if !refused {
		t.Error("new connections still accepted 1 s after SIGTERM")
	}
	<-done
	close(errs)
	n := 0
	for err := range errs {
		n++
		if n <= 5 {
			t.Errorf("in-flight request lost: %v", err)
		}
	}
	if n > 0 {
		t.Errorf("%d of 200 in-flight requests lost", n)
	}
	dials := 0
	conns.Range(func(_, _ any) bool { dials++; return true })
	if dials != 1 {
		t.Errorf("the client dialled %d connections, want the 200 streams on one", dials)
	}
	// The process exits once the streams are done.
	exited := make(chan error, 1)
	go func() { exited <- proxy.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Error("the proxy did not exit after its streams finished")
	}
}
