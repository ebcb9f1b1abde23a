package engine

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// h2Impls are the HTTP/2 front doors (entryPoints.NAME.http2.implementation):
// the HTTP/2 tests run against both while std is kept to compare with.
var h2Impls = []string{"native", "std"}

func h2ImplArg(impl string) string { return "--entryPoints.web.http2.implementation=" + impl }

func TestHTTP2StaticKeys(t *testing.T) {
	s, err := ParseStatic([]string{"--entryPoints.web.address=:1", "--entryPoints.web.http2.maxConcurrentStreams=7",
		"--entryPoints.web.http2.maxDecoderHeaderTableSize=1024", "--entryPoints.web.http2.maxEncoderHeaderTableSize=0",
		"--entryPoints.web.http2.implementation=STD"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.EntryPoints["web"].HTTP2; got != (EntryPointHTTP2{MaxConcurrentStreams: 7, MaxDecoderHeaderTableSize: 1024, Implementation: "std"}) {
		t.Errorf("http2 keys: %+v", got)
	}
	c := h2ConfigFor(s.EntryPoints["web"])
	if c.MaxConcurrentStreams != 7 || c.MaxDecoderHeaderTableSize != 1024 || c.MaxEncoderHeaderTableSize != 4096 {
		t.Errorf("Go's configuration: %+v", c)
	}
	s, _ = ParseStatic([]string{"--entryPoints.web.address=:1"})
	if got := s.EntryPoints["web"].HTTP2.Implementation; got != "native" {
		t.Errorf("default implementation %q", got)
	}
	for _, bad := range []string{"--entryPoints.web.http2.maxConcurrentStreams=-1", "--entryPoints.web.http2.maxDecoderHeaderTableSize=-5",
		"--entryPoints.web.http2.maxEncoderHeaderTableSize=x", "--entryPoints.web.http2.implementation=nghttp2"} {
		if _, err := ParseStatic([]string{"--entryPoints.web.address=:1", bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// heldBackend answers each request once release is closed, counting
// those it holds.
func heldBackend(t *testing.T) (url string, held func() int, release func()) {
	var mu sync.Mutex
	n := 0
	gate := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		select {
		case <-gate:
		case <-time.After(30 * time.Second):
		}
		io.WriteString(w, "held")
	})}
	go srv.Serve(ln)
	var once sync.Once
	rel := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { rel(); srv.Close() })
	return "http://" + ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }, rel
}

// The http2 keys reach the client: SETTINGS advertise
// maxConcurrentStreams and the decoder's table size, and a stream over
// the limit is refused while the others are served (both front doors).
func TestHTTP2MaxConcurrentStreams(t *testing.T) {
	for _, impl := range h2Impls {
		t.Run(impl, func(t *testing.T) {
			url, held, release := heldBackend(t)
			snap := lbSnap([]spec.Router{{Name: "plain", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": url})
			s, _ := startServer(t, snap, h2ImplArg(impl), "--entryPoints.web.http2.maxConcurrentStreams=3",
				"--entryPoints.web.http2.maxDecoderHeaderTableSize=2048")
			c, err := net.Dial("tcp", s.Addr("web"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(c, http2.ClientPreface)
			fr := http2.NewFramer(c, c)
			fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
			fr.WriteSettings()
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			sf, ok := f.(*http2.SettingsFrame)
			if !ok {
				t.Fatalf("first frame %T", f)
			}
			if v, _ := sf.Value(http2.SettingMaxConcurrentStreams); v != 3 {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d", v)
			}
			if v, _ := sf.Value(http2.SettingHeaderTableSize); v != 2048 {
				t.Errorf("SETTINGS_HEADER_TABLE_SIZE %d", v)
			}
			fr.WriteSettingsAck()
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for id := uint32(1); id <= 9; id += 2 {
				hb.Reset()
				for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a.test"}, {":path", "/"}} {
					enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
				}
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
			}
			refused, answered := map[uint32]http2.ErrCode{}, map[uint32]bool{}
			for len(refused) < 2 {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("%v (refused %v)", err, refused)
				}
				if r, ok := f.(*http2.RSTStreamFrame); ok {
					refused[r.StreamID] = r.ErrCode
				}
			}
			if refused[7] == 0 && refused[9] == 0 || len(refused) != 2 {
				t.Errorf("refused %v, want streams 7 and 9 (over 3)", refused)
			}
			for _, code := range refused {
				if code != http2.ErrCodeProtocol && code != http2.ErrCodeRefusedStream {
					t.Errorf("refused with %v", code)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); held() < 3 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if n := held(); n != 3 {
				t.Errorf("backend holds %d requests, want 3", n)
			}
			release()
			for len(answered) < 3 {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatal(err)
				}
				if d, ok := f.(*http2.DataFrame); ok && d.StreamEnded() {
					answered[d.StreamID] = true
				}
			}
			if !answered[1] || !answered[3] || !answered[5] {
				t.Errorf("answered %v", answered)
			}
		})
	}
}

// The native front door's answers carry what net/http's carried through
// the adapter: Date (added when the upstream sent none), no sniffed
// Content-Type, and the request's Host from :authority; a POST body and
// a large streamed answer cross flow control both ways, over TLS.
func TestH2NativeTLSBodies(t *testing.T) {
	ca := newTestCA(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header()["Date"] = nil         // none
		w.Header()["Content-Type"] = nil // none either (no sniffing)
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", "8388608")
			chunk := bytes.Repeat([]byte("z"), 1<<20)
			for range 8 {
				w.Write(chunk)
			}
			return
		}
		io.WriteString(w, r.Host+" "+strings.Repeat("x", 10)+" "+string(rune('0'+len(b)%10)))
	})}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	s, _ := startServer(t, tlsSnap(ca, t, "http://"+ln.Addr().String()), h2ImplArg("native"))
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{ServerName: "a.test", InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("POST", "https://"+s.Addr("web")+"/p", strings.NewReader(strings.Repeat("b", 5<<20+3)))
	req.Host = "a.test"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "a.test xxxxxxxxxx 3" || resp.Header.Get("Date") == "" || resp.Header["Content-Type"] != nil {
		t.Errorf("POST: %s %d %q %v", resp.Proto, resp.StatusCode, body, resp.Header)
	}
	req, _ = http.NewRequest("GET", "https://"+s.Addr("web")+"/big", nil)
	req.Host = "a.test"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 8<<20 || resp.ContentLength != 8<<20 {
		t.Errorf("8 MiB answer: %d bytes, %v, Content-Length %d", n, err, resp.ContentLength)
	}
}

// The answer's DATA stays within the window the client grants: with an
// initial stream window of 1000 bytes, a 10000-byte answer arrives 1000
// bytes, then as much as each WINDOW_UPDATE allows (both front doors).
func TestHTTP2SendFlowControl(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("w"), 10000))
	})}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	for _, impl := range h2Impls {
		t.Run(impl, func(t *testing.T) {
			snap := lbSnap([]spec.Router{{Name: "plain", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()})
			s, _ := startServer(t, snap, h2ImplArg(impl))
			c, err := net.Dial("tcp", s.Addr("web"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, http2.ClientPreface)
			fr := http2.NewFramer(c, c)
			fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a.test"}, {":path", "/"}} {
				enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
			granted, got := 1000, 0
			// next reads until the server has used up the window (then
			// for a moment more, in which nothing may come) or the stream
			// ended (false), failing on more bytes than granted.
			next := func() bool {
				wait := 10 * time.Second
				for {
					if got == granted {
						wait = 300 * time.Millisecond
					}
					c.SetReadDeadline(time.Now().Add(wait))
					f, err := fr.ReadFrame()
					if ne, ok := err.(net.Error); ok && ne.Timeout() && got == granted {
						return true
					}
					if err != nil {
						t.Fatalf("after %d of %d bytes: %v", got, granted, err)
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							fr.WriteSettingsAck()
						}
					case *http2.DataFrame:
						got += len(f.Data())
						if got > granted {
							t.Fatalf("%d bytes sent, %d granted", got, granted)
						}
						if f.StreamEnded() {
							return false
						}
					case *http2.RSTStreamFrame, *http2.GoAwayFrame:
						t.Fatalf("%v", f)
					}
				}
			}
			for open := next(); open; open = next() {
				fr.WriteWindowUpdate(1, 3000)
				granted += 3000
			}
			if got != 10000 {
				t.Errorf("%d bytes in all", got)
			}
		})
	}
}
