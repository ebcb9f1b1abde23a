package tlsmux

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

type acceptResult struct {
	c   net.Conn
	err error
}

// acceptAsync calls ln.Accept in a goroutine.
func acceptAsync(ln net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := ln.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func TestSplitServesTLSAndPlainHTTP(t *testing.T) {
	ca := newCA(t, "split CA")
	store := newStore(t, &Config{Certificates: []Certificate{ca.server(t, "split.test")}})
	ln := listen(t)
	tlsRaw, plain := Split(ln, 5*time.Second)
	if tlsRaw.Addr().String() != ln.Addr().String() || plain.Addr().String() != ln.Addr().String() {
		t.Errorf("Addr: %v, %v, want %v", tlsRaw.Addr(), plain.Addr(), ln.Addr())
	}

	handler := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s tls=%v sni=%s body=%s", r.Method, r.URL.Path, r.TLS != nil, sni(r), body)
	}
	var servers sync.WaitGroup
	serve := func(ln net.Listener) {
		servers.Add(1)
		go func() {
			defer servers.Done()
			srv := &http.Server{Handler: http.HandlerFunc(handler), ErrorLog: log.New(testWriter{t}, "", 0)}
			err := srv.Serve(ln)
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	serve(NewTLSListener(tlsRaw, store))
	serve(plain)

	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			ServerName: "split.test",
			RootCAs:    ca.pool,
		}},
	}
	defer client.CloseIdleConnections()
	addr := ln.Addr().String()
	var wg sync.WaitGroup
	for i := range 10 {
		for _, scheme := range []string{"http", "https"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := strings.Repeat("x", i*1000)
				resp, err := client.Post(scheme+"://"+addr+"/p", "text/plain", strings.NewReader(payload))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				got, _ := io.ReadAll(resp.Body)
				want := fmt.Sprintf("POST /p tls=%v sni=%s body=%s", scheme == "https", map[bool]string{true: "split.test"}[scheme == "https"], payload)
				if string(got) != want {
					t.Errorf("%s: got %.80q, want %.80q", scheme, got, want)
				}
			}()
		}
	}
	wg.Wait()

	// Closing one side stops both servers.
	plain.Close()
	done := make(chan struct{})
	go func() { servers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("servers still running after Close")
	}
}

// testWriter logs through t: http.Transport may abandon surplus dials, which
// the server reports as handshake errors.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func sni(r *http.Request) string {
	if r.TLS == nil {
		return ""
	}
	return r.TLS.ServerName
}

func TestSplitReplaysPeekedByte(t *testing.T) {
	ln := listen(t)
	tlsLn, plain := Split(ln, 5*time.Second)
	defer tlsLn.Close()

	for _, tc := range []struct {
		name    string
		payload string
		ln      net.Listener
		read    func(net.Conn) ([]byte, error)
	}{
		{"plain, Read", "Xhello, world", plain, func(c net.Conn) ([]byte, error) { return io.ReadAll(c) }},
		{"plain, one byte per Read", "GET / HTTP/1.1\r\n", plain, readBytewise},
		{"plain, WriteTo", "Yanother payload", plain, func(c net.Conn) ([]byte, error) {
			var b bytes.Buffer
			_, err := c.(io.WriterTo).WriteTo(&b)
			return b.Bytes(), err
		}},
		{"tls, Read", "\x16\x03\x01 not really TLS", tlsLn, func(c net.Conn) ([]byte, error) { return io.ReadAll(c) }},
		{"single byte", "Z", plain, func(c net.Conn) ([]byte, error) { return io.ReadAll(c) }},
	} {
		accepted := acceptAsync(tc.ln)
		c := dialTCP(t, ln.Addr().String())
		io.WriteString(c, tc.payload)
		c.(*net.TCPConn).CloseWrite()
		var res acceptResult
		select {
		case res = <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not accepted on the expected side", tc.name)
		}
		if res.err != nil {
			t.Fatal(res.err)
		}
		res.c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := tc.read(res.c)
		if err != nil || string(got) != tc.payload {
			t.Errorf("%s: read %q, %v; want %q", tc.name, got, err, tc.payload)
		}
		// Writes go through untouched.
		if _, err := io.WriteString(res.c, "reply"); err != nil {
			t.Error(err)
		}
		res.c.Close()
		if reply, _ := io.ReadAll(c); string(reply) != "reply" {
			t.Errorf("%s: client read %q", tc.name, reply)
		}
	}
}

func readBytewise(c net.Conn) ([]byte, error) {
	var out []byte
	var b [1]byte
	for {
		n, err := c.Read(b[:])
		out = append(out, b[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestSplitDropsSilentClient(t *testing.T) {
	const peekTimeout = time.Second
	ln := listen(t)
	tlsLn, plain := Split(ln, peekTimeout)
	defer plain.Close()
	addr := ln.Addr().String()

	start := time.Now()
	silent := dialTCP(t, addr)

	// Others are served while the silent client waits.
	for i := range 3 {
		accepted := acceptAsync(plain)
		c := dialTCP(t, addr)
		fmt.Fprintf(c, "client %d", i)
		c.(*net.TCPConn).CloseWrite()
		select {
		case res := <-accepted:
			if res.err != nil {
				t.Fatal(res.err)
			}
			if b, _ := io.ReadAll(res.c); string(b) != fmt.Sprintf("client %d", i) {
				t.Errorf("accepted %q, want client %d", b, i)
			}
			res.c.Close()
		case <-time.After(peekTimeout / 2):
			t.Fatalf("client %d blocked behind the silent one", i)
		}
	}
	if elapsed := time.Since(start); elapsed >= peekTimeout {
		t.Fatalf("test too slow to prove anything: %v", elapsed)
	}

	// The silent client is closed after the timeout, not handed out.
	silentTLS := acceptAsync(tlsLn)
	silentPlain := acceptAsync(plain)
	if n, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatalf("silent client read %d bytes", n)
	}
	if elapsed := time.Since(start); elapsed < peekTimeout || elapsed > peekTimeout+3*time.Second {
		t.Errorf("silent client closed after %v, want about %v", elapsed, peekTimeout)
	}
	select {
	case res := <-silentTLS:
		t.Errorf("silent client handed to the TLS side: %v", res.err)
	case res := <-silentPlain:
		t.Errorf("silent client handed to the plain side: %v", res.err)
	case <-time.After(100 * time.Millisecond):
	}

	// A client closing before sending anything is dropped too.
	early := dialTCP(t, addr)
	early.Close()
	c := dialTCP(t, addr)
	io.WriteString(c, "after")
	c.(*net.TCPConn).CloseWrite()
	select {
	case res := <-silentPlain:
		if res.err != nil {
			t.Fatal(res.err)
		}
		if b, _ := io.ReadAll(res.c); string(b) != "after" {
			t.Errorf("accepted %q, want the client after", b)
		}
		res.c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("client not accepted")
	}
}

func TestSplitClose(t *testing.T) {
	for _, which := range []string{"tls", "plain", "parent"} {
		t.Run(which, func(t *testing.T) {
			ln := listen(t)
			tlsLn, plain := Split(ln, time.Minute)
			addr := ln.Addr().String()
			closeIt := func() {
				switch which {
				case "tls":
					if err := tlsLn.Close(); err != nil {
						t.Fatal(err)
					}
				case "plain":
					if err := plain.Close(); err != nil {
						t.Fatal(err)
					}
				case "parent":
					ln.Close()
				}
			}

			tlsAccept, plainAccept := acceptAsync(tlsLn), acceptAsync(plain)
			peeking := dialTCP(t, addr) // sends nothing: being peeked at
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			closeIt()
			for name, ch := range map[string]<-chan acceptResult{"tls": tlsAccept, "plain": plainAccept} {
				select {
				case res := <-ch:
					if !errors.Is(res.err, net.ErrClosed) {
						t.Errorf("%s Accept: %v, want net.ErrClosed", name, res.err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s Accept still blocked after Close", name)
				}
			}
			for _, l := range []net.Listener{tlsLn, plain} {
				if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Accept after Close: %v", err)
				}
				if err := l.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			}
			if _, err := peeking.Read(make([]byte, 1)); err == nil {
				t.Error("connection being peeked at still open")
			} else if d := time.Since(start); d > 3*time.Second {
				t.Errorf("connection being peeked at closed only after %v", d)
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Error("parent listener still accepting")
			}
		})
	}
}

// TestSplitCloseWaiting closes a connection that was peeked at but never
// accepted.
func TestSplitCloseWaiting(t *testing.T) {
	ln := listen(t)
	tlsLn, plain := Split(ln, time.Minute)
	waiting := dialTCP(t, ln.Addr().String())
	io.WriteString(waiting, "nobody accepts the plain side")
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	tlsLn.Close()
	if _, err := waiting.Read(make([]byte, 1)); err == nil {
		t.Error("waiting connection still open")
	} else if d := time.Since(start); d > 3*time.Second {
		t.Errorf("waiting connection closed only after %v", d)
	}
	if _, err := plain.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}
