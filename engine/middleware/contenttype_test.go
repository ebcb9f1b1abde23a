package middleware

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// ctBuilt builds a contentType middleware and returns it with its
// warnings.
func ctBuilt(config string) *Built {
	def := &spec.Middleware{Name: "default-ct@kubernetescrd", Kind: "contentType", Config: []byte(config)}
	return Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
}

// plainBackend answers body with the given headers and nothing else: Go's
// own sniffing is off, as behind Traefik's entry points.
func plainBackend(status int, body string, hdr ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ":")
			w.Header().Set(k, strings.TrimSpace(v))
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// Traefik's content_type_test.go cases, then sniffing's edges.
func TestContentType(t *testing.T) {
	html := "<!DOCTYPE html><html><body>x</body></html>"
	png := "\x89PNG\x0D\x0A\x1A\x0A" + strings.Repeat("\x00", 40)
	spaces := strings.Repeat(" ", 600) // DetectContentType sees only 512 of them
	tests := []struct {
		name, config string
		status       int
		body         string
		hdr          []string
		method       string
		want         string
	}{
		{"keeps the server's type, autoDetect false", `{"autoDetect":false}`, 200, "Test", []string{"Content-Type: application/json"}, "", "application/json"},
		{"no type stays none, autoDetect false", `{"autoDetect":false}`, 200, "Test", nil, "", ""},
		{"keeps the server's type", `{}`, 200, "Test", []string{"Content-Type: application/json"}, "", "application/json"},
		{"sniffs a missing type", `{}`, 200, "Test", nil, "", "text/plain; charset=utf-8"},
		{"autoDetect true sniffs", `{"autoDetect":true}`, 200, "Test", nil, "", "text/plain; charset=utf-8"},
		{"html", `{}`, 200, html, nil, "", "text/html; charset=utf-8"},
		{"png", `{}`, 200, png, nil, "", "image/png"},
		{"binary", `{}`, 200, "\x00\x01\x02\x03", nil, "", "application/octet-stream"},
		{"only the first 512 bytes count", `{}`, 200, spaces + html, nil, "", "text/plain; charset=utf-8"},
		{"html within 512 bytes", `{}`, 200, strings.Repeat(" ", 100) + html, nil, "", "text/html; charset=utf-8"},
		{"empty body", `{}`, 200, "", nil, "", ""},
		{"204", `{}`, 204, "", nil, "", ""},
		{"304", `{}`, 304, "", nil, "", ""},
		{"error status sniffed too", `{}`, 500, html, nil, "", "text/html; charset=utf-8"},
		{"content-encoding", `{}`, 200, "\x1f\x8b\x08\x00", []string{"Content-Encoding: br"}, "", ""},
		{"HEAD", `{}`, 200, html, nil, "HEAD", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := front(t, plainBackend(tc.status, tc.body, tc.hdr...), buildOne(t, "contentType", tc.config))
			method := tc.method
			if method == "" {
				method = "GET"
			}
			resp := do(t, method, url+"/", nil)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.want {
				t.Errorf("Content-Type %q, want %q", got, tc.want)
			}
			if _, set := resp.Header["Content-Type"]; tc.want == "" && set {
				t.Errorf("Content-Type sent: %q", resp.Header["Content-Type"])
			}
			if method == "GET" && string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
		})
	}
}

// A long body streams through whole, with its length, after the
// read-ahead; a chunked one too.
func TestContentTypeStreams(t *testing.T) {
	big := strings.Repeat("<p>hello</p>", 100000) // 1.2 MB
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				}
				for i := 0; i < len(big); i += 100000 {
					io.WriteString(w, big[i:min(i+100000, len(big))])
					w.(http.Flusher).Flush()
				}
			})
			url := front(t, backend, buildOne(t, "contentType", `{}`))
			resp := do(t, "GET", url+"/", nil)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != big {
				t.Errorf("body of %d bytes, want %d", len(body), len(big))
			}
			if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			if want := int64(len(big)); !chunked && resp.ContentLength != want {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, want)
			}
			if chunked && resp.ContentLength != -1 {
				t.Errorf("Content-Length %d, want chunked", resp.ContentLength)
			}
		})
	}
}

// A stream of unknown length is sniffed on its first read: its first
// bytes reach the client while the backend still holds the rest back
// (the backend waits for the client to have read them).
func TestContentTypeDoesNotHoldAStream(t *testing.T) {
	got := make(chan struct{})
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>first\n")
		w.(http.Flusher).Flush()
		select {
		case <-got:
		case <-time.After(10 * time.Second): // a failure, not a timing assertion
		}
		io.WriteString(w, "rest</html>")
	})
	url := front(t, backend, buildOne(t, "contentType", `{}`))
	resp := do(t, "GET", url+"/", nil)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	done := make(chan string, 1)
	go func() { line, _ := br.ReadString('\n'); done <- line }()
	select {
	case line := <-done:
		if line != "<html>first\n" {
			t.Errorf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first bytes were held back")
	}
	close(got)
	rest, _ := io.ReadAll(br)
	if string(rest) != "rest</html>" {
		t.Errorf("rest %q", rest)
	}
}

func TestContentTypeConfig(t *testing.T) {
	for _, cfg := range []string{`{"autoDetect":true}`, `{"autoDetect":false}`} {
		b := ctBuilt(cfg)
		if b.Err != nil || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "AutoDetect option is deprecated") {
			t.Errorf("%s: err %v, warnings %q", cfg, b.Err, b.Warnings)
		}
	}
	if b := ctBuilt(`{}`); b.Err != nil || len(b.Warnings) != 0 {
		t.Errorf("{}: err %v, warnings %q", b.Err, b.Warnings)
	}
	if _, err := tryBuild("contentType", `{"autoDetect":"yes"}`); err == nil {
		t.Error("autoDetect \"yes\" accepted")
	}
	if _, err := tryBuild("contentType", `{"sniff":true}`); err == nil || !strings.Contains(err.Error(), `"sniff" is not supported`) {
		t.Errorf("unknown option: err = %v", err)
	}
}
