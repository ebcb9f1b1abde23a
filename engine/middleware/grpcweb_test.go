package middleware

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// grpcFrame is one length-prefixed gRPC message (flag 0).
func grpcFrame(msg string) []byte {
	f := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(f[1:], uint32(len(msg)))
	return append(f, msg...)
}

// grpcLikeBackend answers as a gRPC service does over HTTP (here
// HTTP/1.1, chunked, trailers): it checks that the request arrived as
// gRPC, echoes each request message upper-cased, and ends with
// grpc-status 0 as a trailer. Path /fail answers trailers-only (the
// status in the header, no body), path /stream sends a first message,
// flushes, and waits for release before the second.
func grpcLikeBackend(t *testing.T, release chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/grpc+proto" || r.Header.Get("Content-Length") != "" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			io.WriteString(w, "not gRPC: "+r.Header.Get("Content-Type")+" length "+r.Header.Get("Content-Length"))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("backend: reading the request: %v", err)
		}
		w.Header().Set("Content-Type", "application/grpc+proto")
		w.Header().Set("Grpc-Accept-Encoding", "gzip")
		switch r.URL.Path {
		case "/fail":
			w.Header().Set("Grpc-Status", "12")
			w.Header().Set("Grpc-Message", "unimplemented")
			w.WriteHeader(200)
			return
		case "/stream":
			w.Write(grpcFrame("one"))
			w.(http.Flusher).Flush()
			<-release
			w.Write(grpcFrame("two"))
		default:
			// Declared trailers here; undeclared ones (Go's TrailerPrefix)
			// on /stream, which flushes first (a body Go's server sends
			// with a Content-Length loses undeclared trailers).
			w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
			for len(body) >= 5 {
				n := binary.BigEndian.Uint32(body[1:5])
				w.Write(grpcFrame(strings.ToUpper(string(body[5 : 5+n]))))
				body = body[5+n:]
			}
		}
		if r.URL.Path == "/stream" {
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", "")
			return
		}
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "")
	})
}

// trailerFrameOf is the frame gRPC-Web puts last: flag 0x80, then the
// trailers as lower-case header lines.
func trailerFrameOf(lines string) []byte {
	f := []byte{0x80, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(f[1:], uint32(len(lines)))
	return append(f, lines...)
}

const okTrailers = "grpc-message: \r\ngrpc-status: 0\r\n"

func TestGrpcWebBinary(t *testing.T) {
	base := front(t, grpcLikeBackend(t, nil), buildOne(t, "grpcWeb", `{"allowOrigins":["https://app.test"]}`))
	body := append(grpcFrame("hello"), grpcFrame("world")...)
	resp := do(t, "POST", base+"/pkg.Svc/Echo", bytes.NewReader(body),
		"Content-Type: application/grpc-web+proto", "Origin: https://app.test", "X-Grpc-Web: 1")
	got := readAll(t, resp)
	want := string(append(append(grpcFrame("HELLO"), grpcFrame("WORLD")...), trailerFrameOf(okTrailers)...))
	if resp.StatusCode != 200 || got != want {
		t.Fatalf("status %d body %q, want 200 %q", resp.StatusCode, got, want)
	}
	for k, v := range map[string]string{
		"Content-Type":                     "application/grpc-web+proto",
		"Vary":                             "Origin",
		"Access-Control-Allow-Origin":      "https://app.test",
		"Access-Control-Allow-Credentials": "true",
		"Trailer":                          "",
	} {
		if g := resp.Header.Get(k); g != v {
			t.Errorf("%s: %q, want %q", k, g, v)
		}
	}
	if len(resp.Trailer) != 0 || resp.ContentLength != -1 {
		t.Errorf("HTTP trailers %v, length %d: want none, chunked", resp.Trailer, resp.ContentLength)
	}
	expose := strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ", ")
	for _, name := range []string{"Content-Type", "Grpc-Accept-Encoding", "Vary", "Access-Control-Allow-Origin", "grpc-status", "grpc-message"} {
		if !containsString(expose, name) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", expose, name)
		}
	}
}

// The text format: a base64 request body, a base64 answer (each piece
// padded on its own, which gRPC-Web clients accept).
func TestGrpcWebText(t *testing.T) {
	base := front(t, grpcLikeBackend(t, nil), buildOne(t, "grpcWeb", `{}`))
	req := base64.StdEncoding.EncodeToString(grpcFrame("hi"))
	resp := do(t, "POST", base+"/pkg.Svc/Echo", strings.NewReader(req), "Content-Type: application/grpc-web-text+proto")
	got := readAll(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "application/grpc-web-text+proto" {
		t.Errorf("Content-Type %q", ct)
	}
	var decoded []byte
	for rest := got; rest != ""; {
		// Each segment ends at its padding or at a multiple of 4.
		end := strings.IndexByte(rest, '=')
		if end < 0 {
			end = len(rest)
		} else {
			for end < len(rest) && rest[end] == '=' {
				end++
			}
		}
		seg, err := base64.StdEncoding.DecodeString(rest[:end])
		if err != nil {
			t.Fatalf("segment %q of %q: %v", rest[:end], got, err)
		}
		decoded = append(decoded, seg...)
		rest = rest[end:]
	}
	want := append(grpcFrame("HI"), trailerFrameOf(okTrailers)...)
	if !bytes.Equal(decoded, want) {
		t.Fatalf("decoded %q, want %q", decoded, want)
	}
	// No Origin: no CORS headers beyond Vary.
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Vary") != "Origin" {
		t.Errorf("CORS headers without an Origin: %v", resp.Header)
	}
}

// A trailers-only answer (a gRPC error without messages) keeps its
// status in the header and gets an empty trailer frame.
func TestGrpcWebTrailersOnly(t *testing.T) {
	base := front(t, grpcLikeBackend(t, nil), buildOne(t, "grpcWeb", `{}`))
	resp := do(t, "POST", base+"/fail", bytes.NewReader(grpcFrame("x")), "Content-Type: application/grpc-web+proto")
	got := readAll(t, resp)
	if got != string(trailerFrameOf("")) || resp.Header.Get("Grpc-Status") != "12" || resp.Header.Get("Grpc-Message") != "unimplemented" {
		t.Fatalf("body %q, header %v", got, resp.Header)
	}
}

// A server-streaming answer is relayed as it comes: the first message
// reaches the client while the service still holds the second.
func TestGrpcWebStreams(t *testing.T) {
	release := make(chan struct{})
	base := front(t, grpcLikeBackend(t, release), buildOne(t, "grpcWeb", `{}`))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := grpcFrame("x")
	io.WriteString(conn, "POST /stream HTTP/1.1\r\nHost: a.test\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: 6\r\n\r\n")
	conn.Write(body)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 8)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != string(grpcFrame("one")) {
		t.Fatalf("first message: %q %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if want := string(append(grpcFrame("two"), trailerFrameOf(okTrailers)...)); err != nil || string(rest) != want {
		t.Fatalf("rest: %q %v, want %q", rest, err, want)
	}
}

// The CORS preflight of a gRPC-Web call, as rs/cors v1.7.0 answers it.
func TestGrpcWebPreflight(t *testing.T) {
	base := front(t, nil, buildOne(t, "grpcWeb", `{"allowOrigins":["https://app.test"]}`))
	star := front(t, nil, buildOne(t, "grpcWeb", `{"allowOrigins":["*"]}`))
	vary := []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
	cases := []struct {
		name, url string
		hdr       []string
		allowed   bool
	}{
		{"allowed", base, []string{"Origin: https://app.test", "Access-Control-Request-Method: post", "Access-Control-Request-Headers: x-grpc-web,content-type, x-user-agent"}, true},
		{"star", star, []string{"Origin: https://other.test", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: X-Grpc-Web"}, true},
		{"other origin", base, []string{"Origin: https://evil.test", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: x-grpc-web"}, false},
		{"no origin", base, []string{"Access-Control-Request-Method: POST", "Access-Control-Request-Headers: x-grpc-web"}, false},
		{"method", base, []string{"Origin: https://app.test", "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: x-grpc-web"}, false},
	}
	for _, c := range cases {
		resp := do(t, "OPTIONS", c.url+"/pkg.Svc/Echo", nil, c.hdr...)
		body := readAll(t, resp)
		if resp.StatusCode != 200 || body != "" {
			t.Errorf("%s: %d %q, want 200 and no body", c.name, resp.StatusCode, body)
		}
		if g := resp.Header.Values("Vary"); strings.Join(g, "|") != strings.Join(vary, "|") {
			t.Errorf("%s: Vary %q", c.name, g)
		}
		origin := resp.Header.Get("Access-Control-Allow-Origin")
		if !c.allowed {
			if origin != "" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("%s: allowed: %v", c.name, resp.Header)
			}
			continue
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      strings.TrimPrefix(c.hdr[0], "Origin: "),
			"Access-Control-Allow-Methods":     "POST",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "600",
		}
		if c.name == "allowed" {
			want["Access-Control-Allow-Headers"] = "X-Grpc-Web, Content-Type, X-User-Agent"
		} else {
			want["Access-Control-Allow-Headers"] = "X-Grpc-Web"
		}
		for k, v := range want {
			if g := resp.Header.Get(k); g != v {
				t.Errorf("%s: %s %q, want %q", c.name, k, g, v)
			}
		}
	}
}

// Requests that are not gRPC-Web pass untouched, a preflight that does
// not name x-grpc-web included.
func TestGrpcWebPassesOthers(t *testing.T) {
	base := front(t, nil, buildOne(t, "grpcWeb", `{"allowOrigins":["*"]}`))
	for _, c := range []struct{ method, ct, acrh string }{
		{"GET", "application/grpc-web+proto", ""},
		{"POST", "application/json", ""},
		{"POST", "application/grpc+proto", ""},
		{"OPTIONS", "", "content-type"},
	} {
		hdr := []string{"Origin: https://a.test", "Access-Control-Request-Method: POST"}
		if c.ct != "" {
			hdr = append(hdr, "Content-Type: "+c.ct)
		}
		if c.acrh != "" {
			hdr = append(hdr, "Access-Control-Request-Headers: "+c.acrh)
		}
		resp := do(t, c.method, base+"/x", strings.NewReader("body"), hdr...)
		body := readAll(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(body, `"method":"`+c.method+`"`) ||
			resp.Header.Get("Vary") != "" || resp.Header.Get("Access-Control-Expose-Headers") != "" {
			t.Errorf("%s %s: %d %v %s", c.method, c.ct, resp.StatusCode, resp.Header, body)
		}
		if c.ct != "" && !strings.Contains(body, c.ct) {
			t.Errorf("%s %s: Content-Type changed: %s", c.method, c.ct, body)
		}
	}
}

func TestGrpcWebConfig(t *testing.T) {
	if _, err := tryBuild("grpcWeb", `{"allowOrigin":["*"]}`); err == nil || !strings.Contains(err.Error(), "allowOrigin") {
		t.Errorf("unknown option: %v", err)
	}
}
