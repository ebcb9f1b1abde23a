package middleware

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// Tests of compress, with Traefik's cases (compress_test.go,
// compression_handler_test.go, acceptencoding_test.go) as they come out
// of its middleware, over real sockets.

// zclient sends requests exactly as written: no Accept-Encoding of its
// own, no transparent decoding.
var zclient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// zfront is front, whose shutdown does not wait for zclient's idle
// connections.
func zfront(t testing.TB, backend http.Handler, ms ...Middleware) string {
	t.Helper()
	url := front(t, backend, ms...)
	t.Cleanup(zclient.CloseIdleConnections)
	return url
}

// zget sends a request with the given header lines ("Name: value"; a
// name given twice sends two lines; "Name:" sends an empty value) and
// returns the response with its raw body.
func zget(t testing.TB, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header[k] = append(req.Header[k], strings.TrimSpace(v))
	}
	resp, err := zclient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, body
}

// decoder returns a reader of the decoded body.
func zdecoder(t testing.TB, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	case "br":
		return brotli.NewReader(r)
	}
	t.Fatalf("no decoder for %q", enc)
	return nil
}

// decode decodes a whole body.
func zdecode(t testing.TB, enc string, body []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(zdecoder(t, enc, bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("decoding %s: %v", enc, err)
	}
	return out
}

// How a test backend sends its body.
const (
	zLength  = iota // with Content-Length
	zChunked        // flushed first: chunked, length unknown
)

// zresp is what a test backend answers: body, of content type ct (""
// for none, "-" for net/http's sniffing), status, sent with
// Content-Length or chunked, with extra header lines.
type zresp struct {
	body   []byte
	ct     string
	status int
	send   int
	hdr    []string
}

func (z zresp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch z.ct {
	case "":
		w.Header()["Content-Type"] = nil // no sniffing
	case "-":
	default:
		w.Header().Set("Content-Type", z.ct)
	}
	for _, h := range z.hdr {
		k, v, _ := strings.Cut(h, ":")
		w.Header().Add(k, strings.TrimSpace(v))
	}
	if z.send == zLength {
		w.Header().Set("Content-Length", strconv.Itoa(len(z.body)))
	}
	w.WriteHeader(z.status)
	if z.send == zChunked {
		w.(http.Flusher).Flush()
	}
	w.Write(z.body)
}

// zbackend answers every request with body.
func zbackend(body []byte, ct string, status int, send int, hdr ...string) http.Handler {
	return zresp{body, ct, status, send, hdr}
}

// zpaths answers a request for /key with paths[key].
type zpaths map[string]zresp

func (p zpaths) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	z, ok := p[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		http.Error(w, "no such case", 500)
		return
	}
	z.ServeHTTP(w, r)
}

// ztext returns n bytes of compressible text, different for every seed.
func ztext(n int, seed uint64) []byte {
	words := []string{"edge", "route", "traefik", "compress", "gzip", "zstd", "brotli", "body",
		"stream", "header", "vary", "accept", "encoding", "content", "length", "proxy"}
	rng := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(9) == 0 {
			fmt.Fprintf(&b, " %d\n", rng.IntN(100000))
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// znoise returns n incompressible bytes.
func znoise(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func buildCompress(t testing.TB, config string) Middleware {
	t.Helper()
	return buildOne(t, "compress", config)
}

// Each encoding decoded byte for byte, for bodies of known and unknown
// length.
func TestCompressRoundTrip(t *testing.T) {
	bodies := map[string][]byte{
		"1024":       ztext(1024, 1),
		"100000":     ztext(100000, 2),
		"noise-300k": znoise(300 << 10),
		"text-3MiB":  ztext(3<<20, 3),
	}
	paths := zpaths{}
	for name, body := range bodies {
		paths[name+"/length"] = zresp{body: body, ct: "text/plain", status: 200, send: zLength}
		paths[name+"/chunked"] = zresp{body: body, ct: "text/plain", status: 200, send: zChunked}
	}
	url := zfront(t, paths, buildCompress(t, `{}`))
	for _, enc := range []string{"gzip", "br", "zstd"} {
		for path, z := range paths {
			zrun(t, enc+"/"+path, func(t *testing.T) {
				resp, raw := zget(t, "GET", url+"/"+path, "Accept-Encoding: "+enc)
				zexpect(t, resp, raw, enc, true, z.body)
				if resp.ContentLength != -1 {
					t.Errorf("Content-Length %d: a streamed compressed body has none", resp.ContentLength)
				}
				if v := resp.Header.Values("Vary"); !slices.Contains(v, "Accept-Encoding") {
					t.Errorf("Vary %q", v)
				}
			})
		}
	}
}

// zplain is a handler that answers itself with a body that is not a
// stream (as the service's error pages are), in place of the backend.
func zplain(status int, ct string, body []byte, hdr ...string) Middleware {
	return func(Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.SetStatusCode(status)
			if ct != "" {
				ctx.Response.Header.SetContentType(ct)
			}
			for _, h := range hdr {
				k, v, _ := strings.Cut(h, ":")
				ctx.Response.Header.Add(k, strings.TrimSpace(v))
			}
			ctx.SetBody(body)
		}
	}
}

func TestCompressPlainBody(t *testing.T) {
	body := ztext(50000, 4)
	for _, enc := range []string{"gzip", "br", "zstd"} {
		zrun(t, enc, func(t *testing.T) {
			url := zfront(t, nil, buildCompress(t, `{}`), zplain(201, "text/plain", body, "Accept-Ranges: bytes"))
			resp, raw := zget(t, "GET", url, "Accept-Encoding: "+enc)
			if resp.StatusCode != 201 || resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("status %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
			}
			if resp.ContentLength != int64(len(raw)) {
				t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(raw))
			}
			if got := zdecode(t, enc, raw); !bytes.Equal(got, body) {
				t.Fatalf("decoded body differs")
			}
			// gzhttp drops Accept-Ranges from what it compresses; Traefik's
			// brotli and zstd handler keeps it.
			if ar, want := resp.Header.Get("Accept-Ranges"), map[bool]string{true: "", false: "bytes"}[enc == "gzip"]; ar != want {
				t.Errorf("Accept-Ranges %q, want %q", ar, want)
			}
		})
	}
	// Small: not compressed, Vary all the same.
	url := zfront(t, nil, buildCompress(t, `{}`), zplain(200, "text/plain", body[:1023]))
	resp, raw := zget(t, "GET", url, "Accept-Encoding: gzip")
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(raw, body[:1023]) || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("1023 bytes: Content-Encoding %q, Vary %q, %d bytes", resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), len(raw))
	}
}

// Traefik's Test_getCompressionEncoding and Test_parseAcceptEncoding (as
// the encoding they lead to), on the negotiation itself: what Traefik's
// parser chooses before its gzip handler looks again.
func TestCompressChooseEncoding(t *testing.T) {
	tests := []struct {
		ae        []string
		def       string
		encodings []string
		want      string // "" for none (identity or not acceptable)
	}{
		{ae: []string{""}, want: ""},
		{ae: []string{"gzip, br"}, want: "gzip"},
		{ae: []string{"gzip, br, zstd"}, want: "gzip"},
		{ae: []string{"compress, gzip"}, want: "gzip"},
		{ae: []string{"compress, rar"}, want: ""},
		{ae: []string{"*"}, want: "gzip"},
		{ae: []string{"*"}, def: "br", want: "br"},
		{ae: []string{"br;q=0.8, gzip;q=1.0, *;q=0.1"}, want: "gzip"},
		{ae: []string{"br;q=0.8, identity;q=1.0"}, want: ""},
		{ae: []string{"br;q=0.8, identity;q=0.8"}, want: "br"},
		{ae: []string{"compress;q=1.0, gzip;q=0.5"}, want: "gzip"},
		{ae: []string{"compress;q=1.0, gzip, identity;q=0"}, want: "gzip"},
		{ae: []string{"compress;q=1.0, identity;q=0"}, want: ""},
		{ae: []string{"compress;q=1.0, *;q=0"}, want: ""},
		{ae: []string{"gzip, *;q=0"}, want: "gzip"},
		{ae: []string{"zstd, gzip, br"}, encodings: []string{"br", "gzip"}, want: "br"},
		{ae: []string{"br;q=0.8, gzip;q=1.0, *;q=0.1"}, encodings: []string{"zstd", "br"}, want: "br"},
		{ae: []string{"gzip, br;q=0.9"}, encodings: []string{"gzip", "br"}, want: "gzip"},
		{ae: []string{"br;q=0, gzip;q=0, zstd;q=0"}, want: ""},
		{ae: []string{"br;q=0, gzip;q=0, zstd;q=0"}, def: "br", want: ""},
		{ae: []string{"br;q=1.0, gzip;q=1.0, zstd;q=1.0"}, want: "gzip"},
		{ae: []string{"br;q=1.0, zstd;q=1.0, gzip;q=1.0"}, want: "gzip"},
		{ae: []string{"br;q=1.0, zstd;q=1.0, gzip;q=1.0"}, def: "br", want: "gzip"},
		// Test_parseAcceptEncoding's lists, by their first entry.
		{ae: []string{"br;q=1.0, zstd;q=0.9, gzip;q=0.8, *;q=0.1"}, want: "br"},
		{ae: []string{"br;q=1.0, zstd;q=0.9, gzip;q=0.8, *;q=0.1"}, encodings: []string{"gzip"}, want: "gzip"},
		{ae: []string{"zstd,gzip, br;q=1.0, *;q=0"}, want: "gzip"},
		{ae: []string{"zstd,gzip, br;q=1.0, *;q=0"}, encodings: []string{"zstd"}, want: "zstd"},
		{ae: []string{"zstd, gzip, br, *"}, want: "gzip"},
		{ae: []string{"zstd, gzip, br, *"}, encodings: []string{"zstd", "br"}, want: "zstd"},
		{ae: []string{"gzip;q=1.0, identity; q=0.5, *;q=0"}, encodings: []string{"br"}, want: ""},
		// The parser's details: every space removed, names matched as
		// written, a q= that does not parse (even for a further parameter)
		// is 0, any other parameter ignored, lines taken together, the
		// last of a name listed twice in encodings.
		{ae: []string{"g zip"}, want: "gzip"},
		{ae: []string{"GZIP, Br"}, want: ""},
		{ae: []string{"gzip;q=0.5;level=1, br;q=0.1"}, want: "br"},
		{ae: []string{"gzip;level=1;q=0.1, br;q=0.5"}, want: "gzip"},
		{ae: []string{"gzip;Q=0.1, br;q=0.5"}, want: "gzip"},
		{ae: []string{"gzip;q=abc"}, want: ""},
		{ae: []string{"gzip;q=2, br"}, want: "gzip"},
		{ae: []string{"br;q=-1"}, want: "br"},
		{ae: []string{"gzip;q=0.1", "br;q=0.2"}, want: "br"},
		{ae: []string{"", "br"}, want: "br"},
		{ae: []string{"gzip,,br;q=0.9,"}, want: "gzip"},
		{ae: []string{"*;q=0.5, zstd;q=0.5"}, want: "gzip"},
		{ae: []string{"*;q=0.4, zstd;q=0.5"}, want: "zstd"},
		{ae: []string{"identity, *"}, want: "gzip"},
		{ae: []string{"gzip, zstd"}, encodings: []string{"zstd", "gzip", "zstd"}, want: "gzip"},
		{ae: []string{"*"}, encodings: []string{"zstd", "gzip", "zstd"}, want: "zstd"},
	}
	for _, tc := range tests {
		if tc.encodings == nil {
			tc.encodings = defaultEncodings
		}
		n := newNegotiation(tc.encodings, tc.def)
		lines := make([][]byte, len(tc.ae))
		for i, l := range tc.ae {
			lines[i] = []byte(l)
		}
		var scratch []byte
		got := ""
		if e := n.choose(lines, &scratch); e != encNone {
			got = encodingNames[e]
		}
		if got != tc.want {
			t.Errorf("Accept-Encoding %q, encodings %v, default %q: %q, want %q", tc.ae, tc.encodings, tc.def, got, tc.want)
		}
	}
}

// Traefik's TestNegotiation and what its gzip handler (gzhttp) adds: it
// compresses only when the first Accept-Encoding line gives gzip a
// quality above 0, so "*" is not compressed when Traefik chose gzip for
// it. Over the sockets, with a 10-byte body and minResponseBodyBytes 1.
func TestCompressNegotiation(t *testing.T) {
	tests := []struct {
		config string
		ae     []string // nil: no Accept-Encoding
		want   string   // Content-Encoding
		vary   bool
	}{
		{ae: nil, want: ""},
		{ae: []string{"notreal"}, want: ""},
		{ae: []string{"*"}, want: "", vary: true}, // Traefik chose gzip, gzhttp refuses
		{ae: []string{"gzip"}, want: "gzip", vary: true},
		{ae: []string{"br"}, want: "br", vary: true},
		{ae: []string{"br;q=0.8, gzip;q=0.6"}, want: "br", vary: true},
		{ae: []string{"gzip;q=1.0, br;q=0.8"}, want: "gzip", vary: true},
		{ae: []string{"gzip, br"}, want: "gzip", vary: true},
		{ae: []string{"zstd"}, want: "zstd", vary: true},
		{ae: []string{"zstd;q=0.9, br;q=0.8, gzip;q=0.6"}, want: "zstd", vary: true},
		{ae: []string{"gzip;q=0.8, br;q=1.0, zstd;q=0.7"}, want: "br", vary: true},
		{ae: []string{"gzip;q=1.0, br;q=0.8, zstd;q=0.7"}, want: "gzip", vary: true},
		{ae: []string{"gzip, br, zstd"}, want: "gzip", vary: true},
		{ae: []string{""}, want: ""},
		{ae: []string{"identity"}, want: ""},
		// Beyond Traefik's table.
		{config: `"defaultEncoding":"br"`, ae: nil, want: "br", vary: true},
		{config: `"defaultEncoding":"zstd"`, ae: []string{"*"}, want: "zstd", vary: true},
		{config: `"defaultEncoding":"gzip"`, ae: nil, want: "", vary: true}, // gzhttp: no Accept-Encoding
		{config: `"encodings":["br","gzip"]`, ae: []string{"*"}, want: "br", vary: true},
		{config: `"encodings":["br"]`, ae: []string{"gzip, zstd"}, want: ""},
		{ae: []string{"gzip;q=0.5;x=1, br;q=0.1"}, want: "br", vary: true},
		{ae: []string{"br;q=0.1, GZIP"}, want: "br", vary: true},
		// Traefik reads every line; gzhttp only the first.
		{ae: []string{"br;q=0.1", "gzip"}, want: "", vary: true},
		{ae: []string{"gzip", "br;q=0.1"}, want: "gzip", vary: true},
		{ae: []string{"gzip;q=0, gzip"}, want: "", vary: true}, // gzhttp takes the first gzip
		{ae: []string{"gzip, gzip;q=0"}, want: "gzip", vary: true},
	}
	fronts := map[string]string{}
	for _, tc := range tests {
		url, ok := fronts[tc.config]
		if !ok {
			config := `{"minResponseBodyBytes":1`
			if tc.config != "" {
				config += "," + tc.config
			}
			url = zfront(t, zbackend(ztext(10, 1), "text/plain", 200, zLength), buildCompress(t, config+"}"))
			fronts[tc.config] = url
		}
		zrun(t, fmt.Sprintf("%s %q", tc.config, tc.ae), func(t *testing.T) {
			var hdr []string
			for _, v := range tc.ae {
				hdr = append(hdr, "Accept-Encoding:"+v)
			}
			resp, raw := zget(t, "GET", url, hdr...)
			zexpect(t, resp, raw, tc.want, tc.want != "", ztext(10, 1))
			if vary := resp.Header.Get("Vary") == "Accept-Encoding"; vary != tc.vary {
				t.Errorf("Vary %q, want it: %v", resp.Header.Get("Vary"), tc.vary)
			}
		})
	}
}

// zexpect checks whether a response came compressed with enc and decodes
// to body either way.
func zexpect(t *testing.T, resp *http.Response, raw []byte, enc string, compressed bool, body []byte) {
	t.Helper()
	ce := resp.Header.Get("Content-Encoding")
	switch {
	case compressed && ce != enc:
		t.Fatalf("Content-Encoding %q, want %q", ce, enc)
	case !compressed && ce != "":
		t.Fatalf("Content-Encoding %q, want none", ce)
	case compressed:
		raw = zdecode(t, enc, raw)
	}
	if !bytes.Equal(raw, body) {
		t.Fatalf("body of %d bytes differs from the %d sent", len(raw), len(body))
	}
}

// Traefik's Test_ExcludedContentTypes, Test_IncludedContentTypes and
// their Flush variants, as its middleware runs them: it keeps only the
// media type of the configured types, so their parameters never matter;
// a Content-Type mime.ParseMediaType refuses is not compressed by the
// brotli and zstd handler, while gzhttp compresses it unless
// includedContentTypes is set.
func TestCompressResponseContentType(t *testing.T) {
	const malformed = "application/json;charset=UTF-8;charset=utf-8"
	tests := []struct {
		ct       string
		excluded string
		included string
		zstd     bool // compressed with br and zstd
		gzip     bool
	}{
		{ct: "", zstd: true, gzip: true},
		{ct: malformed, zstd: false, gzip: true},
		{ct: malformed, included: "application/json", zstd: false, gzip: false},
		{ct: "application/json", excluded: "application/json"},
		{ct: "text/xml", excluded: "application/json", zstd: true, gzip: true},
		{ct: "application/json; charset=utf-8", excluded: "application/json"},
		{ct: "application/json; charset=ascii", excluded: "application/json; charset=utf-8"},
		{ct: "application/json; charset=utf-8", excluded: "application/json; charset=utf-8"},
		{ct: "application/json", excluded: "application/json; charset=ascii"},
		{ct: "Application/Json", excluded: "application/json"},
		{ct: "application/json;charset=utf-8", excluded: "application/json;            charset=utf-8"},
		{ct: "application/json", included: "application/json", zstd: true, gzip: true},
		{ct: "text/xml", included: "application/json"},
		{ct: "application/json; charset=utf-8", included: "application/json", zstd: true, gzip: true},
		{ct: "application/json; charset=ascii", included: "application/json; charset=utf-8", zstd: true, gzip: true},
		{ct: "application/json", included: "application/json; charset=ascii", zstd: true, gzip: true},
		{ct: "Application/Json", included: "application/json", zstd: true, gzip: true},
		{ct: "application/json;charset=utf-8", included: "application/json;            charset=utf-8", zstd: true, gzip: true},
		// TestShouldNotCompressWhenSpecificContentType's response cases.
		{ct: "text/event-stream", excluded: "text/event-stream"},
		{ct: "text/html", included: "text/plain"},
		{ct: "text/html", included: "text/html", zstd: true, gzip: true},
		// application/grpc is always excluded, but not from includes.
		{ct: "application/grpc"},
		{ct: "application/grpc+proto", zstd: true, gzip: true},
		{ct: "application/grpc", included: "application/grpc", zstd: true, gzip: true},
		// Parameters that do not parse; a trailing ';' does.
		{ct: "text/plain; charset", zstd: false, gzip: true},
		{ct: "text/plain;", zstd: true, gzip: true},
		{ct: "text/plain; charset=utf-8 x", included: "text/plain"},
	}
	body := ztext(5000, 5)
	fronts := map[string]string{}
	backends := map[string]zpaths{} // filled before the parallel subtests run
	for i, tc := range tests {
		config := "{}"
		switch {
		case tc.excluded != "":
			config = `{"excludedContentTypes":["` + tc.excluded + `"]}`
		case tc.included != "":
			config = `{"includedContentTypes":["` + tc.included + `"]}`
		}
		paths, ok := backends[config]
		if !ok {
			paths = zpaths{}
			backends[config] = paths
			fronts[config] = zfront(t, paths, buildCompress(t, config))
		}
		for _, send := range []int{zLength, zChunked} {
			for _, gz := range []bool{false, true} {
				ct := tc.ct
				if ct == "" && gz {
					ct = "text/plain" // gzhttp would detect a type: see TestCompressSniff
				}
				paths[fmt.Sprintf("%d/%d/%v", i, send, gz)] = zresp{body: body, ct: ct, status: 202, send: send}
			}
		}
		url := fronts[config]
		for _, enc := range []string{"gzip", "br", "zstd"} {
			zrun(t, fmt.Sprintf("%s %q -%q +%q", enc, tc.ct, tc.excluded, tc.included), func(t *testing.T) {
				want := tc.zstd
				if enc == "gzip" {
					want = tc.gzip
				}
				for _, send := range []int{zLength, zChunked} {
					resp, raw := zget(t, "GET", fmt.Sprintf("%s/%d/%d/%v", url, i, send, enc == "gzip"), "Accept-Encoding: "+enc)
					if resp.StatusCode != 202 {
						t.Fatalf("status %d", resp.StatusCode)
					}
					zexpect(t, resp, raw, enc, want, body)
				}
			})
		}
	}
}

// TestShouldNotCompressWhenSpecificContentType's request cases: the
// request's Content-Type is checked against excludedContentTypes and
// application/grpc (even with includedContentTypes), before anything:
// the response is left alone, without Vary.
func TestCompressRequestContentType(t *testing.T) {
	tests := []struct {
		config, ct string
		skip       bool
	}{
		{`{"excludedContentTypes":["text/event-stream"]}`, "text/event-stream", true},
		{`{"excludedContentTypes":["application/json"]}`, "application/grpc", true},
		{`{"includedContentTypes":["application/json"]}`, "application/grpc", true},
		{`{}`, "application/grpc", true},
		{`{}`, "Application/GRPC; charset=x", true},
		{`{}`, "application/grpc; =bad", true}, // mime still returns the type
		{`{}`, "application/grpc; a=1; a=2", false},
		{`{}`, "application/grpc+proto", false},
		{`{"includedContentTypes":["text/plain"]}`, "text/plain", false},
	}
	body := ztext(5000, 6)
	for _, tc := range tests {
		zrun(t, tc.config+" "+tc.ct, func(t *testing.T) {
			url := zfront(t, zbackend(body, "text/plain", 200, zLength), buildCompress(t, tc.config))
			resp, raw := zget(t, "GET", url, "Accept-Encoding: gzip", "Content-Type: "+tc.ct)
			zexpect(t, resp, raw, "gzip", !tc.skip, body)
			if vary := resp.Header.Get("Vary"); (vary == "") != tc.skip {
				t.Errorf("Vary %q", vary)
			}
		})
	}
}

// gzhttp detects the type of a body without Content-Type, sets it, and
// filters on it; Traefik's brotli and zstd handler compresses such a
// body without looking.
func TestCompressSniff(t *testing.T) {
	html := append([]byte("<!DOCTYPE html><html><body>"), ztext(3000, 7)...)
	tests := []struct {
		config string
		enc    string
		body   []byte
		send   int // zLength, zChunked or -1 for a plain body
		want   bool
		ct     string
	}{
		{`{}`, "gzip", html, zLength, true, "text/html; charset=utf-8"},
		{`{}`, "gzip", html, zChunked, true, "text/html; charset=utf-8"},
		{`{}`, "gzip", html, -1, true, "text/html; charset=utf-8"},
		{`{"excludedContentTypes":["text/html"]}`, "gzip", html, zLength, false, "text/html; charset=utf-8"},
		{`{"excludedContentTypes":["text/html"]}`, "gzip", html, zChunked, false, "text/html; charset=utf-8"},
		{`{"excludedContentTypes":["text/html"]}`, "gzip", html, -1, false, "text/html; charset=utf-8"},
		{`{"includedContentTypes":["text/plain"]}`, "gzip", ztext(3000, 8), zLength, true, "text/plain; charset=utf-8"},
		{`{"includedContentTypes":["text/plain"]}`, "gzip", html, zLength, false, "text/html; charset=utf-8"},
		{`{"excludedContentTypes":["application/octet-stream"]}`, "gzip", znoise(4000), zLength, false, "application/octet-stream"},
		{`{"excludedContentTypes":["text/html"]}`, "br", html, zLength, true, ""},
		{`{"includedContentTypes":["text/plain"]}`, "zstd", html, zChunked, true, ""},
		// A small plain body still gets its type; a small streamed one of
		// known length does not (gzhttp gives up at its Content-Length).
		{`{}`, "gzip", html[:500], -1, false, "text/html; charset=utf-8"},
		{`{}`, "gzip", html[:500], zLength, false, ""},
	}
	for _, tc := range tests {
		zrun(t, fmt.Sprintf("%s %s %d %d", tc.config, tc.enc, len(tc.body), tc.send), func(t *testing.T) {
			ms := []Middleware{buildCompress(t, tc.config)}
			var b http.Handler
			if tc.send < 0 {
				ms = append(ms, zplain(200, "", tc.body))
			} else {
				b = zbackend(tc.body, "", 200, tc.send)
			}
			url := zfront(t, b, ms...)
			resp, raw := zget(t, "GET", url, "Accept-Encoding: "+tc.enc)
			zexpect(t, resp, raw, tc.enc, tc.want, tc.body)
			if ct := resp.Header.Get("Content-Type"); ct != tc.ct {
				t.Errorf("Content-Type %q, want %q", ct, tc.ct)
			}
		})
	}
}

// zrun runs a parallel subtest (each starts servers, whose shutdown
// takes a while).
func zrun(t *testing.T, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		f(t)
	})
}

// What is never compressed, and what still gets Vary: Traefik's
// TestIntegrationShouldNotCompress, TestShouldNotCompressWhenContentEncodingHeader,
// Test_AlreadyCompressed, Test_NoBody, TestShouldNotCompressHeadRequest;
// Content-Range, which gzhttp leaves alone and Traefik's brotli and zstd
// handler compresses, and gzhttp's No-Gzip-Compression.
func TestCompressLeftAlone(t *testing.T) {
	big := ztext(100000, 9)
	paths := zpaths{
		"encoded":      {body: big, ct: "text/plain", status: 200, send: zLength, hdr: []string{"Content-Encoding: gzip", "Vary: Accept-Encoding"}},
		"encoded-201":  {body: big, ct: "text/plain", status: 201, send: zChunked, hdr: []string{"Content-Encoding: gzip"}},
		"encoded-id":   {body: big, ct: "text/plain", status: 200, send: zLength, hdr: []string{"Content-Encoding: identity"}},
		"204":          {status: 204, send: zChunked},
		"304":          {status: 304, send: zChunked, hdr: []string{"Etag: \"x\""}},
		"empty":        {ct: "text/plain", status: 200, send: zLength},
		"empty-chunk":  {ct: "text/plain", status: 200, send: zChunked},
		"range":        {body: big[:5000], ct: "text/plain", status: 206, send: zLength, hdr: []string{"Content-Range: bytes 0-4999/100000", "Accept-Ranges: bytes"}},
		"nogzip":       {body: big, ct: "text/plain", status: 200, send: zLength, hdr: []string{"No-Gzip-Compression: 1"}},
		"nogzip-empty": {body: big, ct: "text/plain", status: 200, send: zChunked, hdr: []string{"No-Gzip-Compression:"}},
		"404":          {body: big, ct: "text/plain", status: 404, send: zLength},
		"500":          {body: big, ct: "text/plain", status: 500, send: zChunked},
	}
	url := zfront(t, paths, buildCompress(t, `{}`))
	tests := []struct {
		path, method, enc string
		compressed        bool
		check             func(t *testing.T, resp *http.Response)
	}{
		{"encoded", "GET", "gzip", false, nil},
		{"encoded", "GET", "br", false, nil},
		{"encoded-201", "GET", "zstd", false, nil},
		{"encoded-id", "GET", "br", false, nil},
		{"204", "GET", "gzip", false, nil},
		{"304", "GET", "zstd", false, nil},
		{"empty", "GET", "br", false, nil},
		{"empty-chunk", "GET", "gzip", false, nil},
		{"empty-chunk", "GET", "zstd", false, nil},
		{"range", "GET", "gzip", false, func(t *testing.T, resp *http.Response) {
			if resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("Content-Range") == "" {
				t.Errorf("range headers lost: %v", resp.Header)
			}
		}},
		{"range", "GET", "br", true, func(t *testing.T, resp *http.Response) {
			if resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("Accept-Ranges lost")
			}
		}},
		{"range", "GET", "zstd", true, nil},
		{"nogzip", "GET", "gzip", false, func(t *testing.T, resp *http.Response) {
			if _, ok := resp.Header["No-Gzip-Compression"]; ok {
				t.Errorf("No-Gzip-Compression reached the client")
			}
		}},
		{"nogzip-empty", "GET", "gzip", false, func(t *testing.T, resp *http.Response) {
			if _, ok := resp.Header["No-Gzip-Compression"]; ok {
				t.Errorf("No-Gzip-Compression reached the client")
			}
		}},
		{"nogzip", "GET", "zstd", true, func(t *testing.T, resp *http.Response) {
			if resp.Header.Get("No-Gzip-Compression") != "1" {
				t.Errorf("No-Gzip-Compression is gzhttp's only")
			}
		}},
		{"404", "GET", "gzip", true, nil},
		{"500", "GET", "br", true, nil},
	}
	for _, tc := range tests {
		zrun(t, tc.path+" "+tc.enc, func(t *testing.T) {
			resp, raw := zget(t, tc.method, url+"/"+tc.path, "Accept-Encoding: "+tc.enc)
			z := paths[tc.path]
			if resp.StatusCode != z.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, z.status)
			}
			body := z.body
			if ce := resp.Header.Get("Content-Encoding"); !tc.compressed && ce != "" {
				if ce != z.hdr[0][len("Content-Encoding: "):] {
					t.Fatalf("Content-Encoding %q", ce)
				}
				if !bytes.Equal(raw, body) {
					t.Fatalf("body changed")
				}
			} else {
				zexpect(t, resp, raw, tc.enc, tc.compressed, body)
			}
			if v := resp.Header.Values("Vary"); !slices.Contains(v, "Accept-Encoding") {
				t.Errorf("Vary %q", v)
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
	// HEAD is passed through untouched, without Vary.
	zrun(t, "HEAD", func(t *testing.T) {
		for _, enc := range []string{"gzip", "br", "zstd"} {
			resp, _ := zget(t, "HEAD", url+"/404", "Accept-Encoding: "+enc)
			if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "" || resp.ContentLength != int64(len(big)) {
				t.Errorf("HEAD %s: Content-Encoding %q, Vary %q, Content-Length %d", enc, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), resp.ContentLength)
			}
		}
	})
}

// minResponseBodyBytes applies to bodies of known length (Traefik's
// Test_MinSize, TestMinResponseBodyBytes, Test_SmallBodyNoCompression).
// A body of unknown length is compressed as soon as it has a byte
// (Test_FlushForceCompress: Traefik's proxy flushes such bodies after
// every write, which forces the decision).
func TestCompressMinSize(t *testing.T) {
	small := []byte("aaabbc" + strings.Repeat("aaabbbccc", 9) + "aaabbbc")
	tests := []struct {
		config string
		body   []byte
		send   int
		want   bool
	}{
		{`{"minResponseBodyBytes":128}`, ztext(127, 1), zLength, false},
		{`{"minResponseBodyBytes":128}`, ztext(128, 1), zLength, true},
		{`{}`, ztext(1023, 1), zLength, false},
		{`{}`, ztext(1024, 1), zLength, true},
		{`{"minResponseBodyBytes":0}`, ztext(1023, 1), zLength, false},
		{`{"minResponseBodyBytes":0}`, ztext(1024, 1), zLength, true},
		{`{"minResponseBodyBytes":100001}`, ztext(100000, 1), zLength, false},
		{`{}`, ztext(100000, 1), zLength, true},
		{`{}`, small, zLength, false},
		{`{}`, small, zChunked, true},
		{`{"minResponseBodyBytes":100001}`, ztext(1, 1), zChunked, true},
	}
	for _, tc := range tests {
		for _, enc := range []string{"gzip", "br", "zstd"} {
			zrun(t, fmt.Sprintf("%s %s %d %d", enc, tc.config, len(tc.body), tc.send), func(t *testing.T) {
				url := zfront(t, zbackend(tc.body, "text/plain", 202, tc.send), buildCompress(t, tc.config))
				resp, raw := zget(t, "GET", url, "Accept-Encoding: "+enc)
				zexpect(t, resp, raw, enc, tc.want, tc.body)
			})
		}
	}
}

// ztextReader streams ztext-like text without holding it (n < 0:
// endless).
type ztextReader struct {
	rng  *rand.Rand
	left int
	buf  []byte
}

func newZtextReader(n int, seed uint64) *ztextReader {
	return &ztextReader{rng: rand.New(rand.NewPCG(seed, 7)), left: n}
}

func (z *ztextReader) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	words := []string{"edge", "route", "traefik", "compress", "gzip", "zstd", "brotli", "body",
		"stream", "header", "vary", "accept", "encoding", "content", "length", "proxy"}
	for len(z.buf) < len(p) {
		z.buf = append(z.buf, words[z.rng.IntN(len(words))]...)
		if z.rng.IntN(9) == 0 {
			z.buf = strconv.AppendInt(append(z.buf, ' '), int64(z.rng.IntN(100000)), 10)
			z.buf = append(z.buf, '\n')
		} else {
			z.buf = append(z.buf, ' ')
		}
	}
	if z.left >= 0 && z.left < len(p) { // z.left < 0: endless
		p = p[:z.left]
	}
	n := copy(p, z.buf)
	z.buf = z.buf[:copy(z.buf, z.buf[n:])]
	if z.left > 0 {
		z.left -= n
	}
	return n, nil
}

// zwithin fails the test unless f returns within a generous time: a
// guard against hanging, not a measurement.
func zwithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still waiting", what)
	}
}

// A body of unknown length (an event stream) is flushed through: each
// event decodes at the client before the backend sends the next.
func TestCompressStreamFlush(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		zrun(t, enc, func(t *testing.T) {
			events := make(chan string)
			url := zfront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				for ev := range events {
					io.WriteString(w, ev)
					w.(http.Flusher).Flush()
				}
			}), buildCompress(t, `{}`))
			var once sync.Once
			end := func() { once.Do(func() { close(events) }) }
			t.Cleanup(end) // before the front's shutdown, which waits for the handler
			event := func(i int) string { return fmt.Sprintf("id: %d\ndata: %s\n\n", i, strings.Repeat("x", i*100)) }
			// The headers wait for the first event, as in Traefik, which
			// decides on the first write.
			go func() { events <- event(0) }()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Accept-Encoding", enc)
			var resp *http.Response
			var err error
			zwithin(t, "the response to the first event", func() { resp, err = zclient.Do(req) })
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
			var dec io.Reader
			for i := range 5 {
				if i > 0 {
					events <- event(i)
				}
				got := make([]byte, len(event(i)))
				zwithin(t, "event "+strconv.Itoa(i), func() {
					if dec == nil {
						dec = zdecoder(t, enc, resp.Body)
					}
					if _, err := io.ReadFull(dec, got); err != nil {
						t.Errorf("event %d: %v", i, err)
					}
				})
				if string(got) != event(i) {
					t.Fatalf("event %d: %q", i, got)
				}
			}
			end()
			rest, err := io.ReadAll(dec)
			if err != nil || len(rest) > 0 {
				t.Errorf("after the events: %q, %v", rest, err)
			}
		})
	}
}

// ztracked is an upstream body that records how it is closed.
type ztracked struct {
	io.Reader
	mu     sync.Mutex
	closes int
	err    error
	closed chan struct{}
}

func newZtracked(r io.Reader) *ztracked { return &ztracked{Reader: r, closed: make(chan struct{})} }

func (z *ztracked) CloseWithError(err error) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.closes++
	z.err = err
	if z.closes == 1 {
		close(z.closed)
	}
	return nil
}

// zstreamOf answers, in place of the backend, with a body stream.
func zstreamOf(body func() io.Reader, size int, ct string) Middleware {
	return func(Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.Response.Header.SetContentType(ct)
			ctx.Response.SetBodyStream(body(), size)
		}
	}
}

// The upstream body is closed exactly once in every case: read to its
// end, the client gone mid-body, the response replaced by a middleware
// in front of compress; and when compress reads the start of the body
// to decide against it.
func TestCompressClosesUpstream(t *testing.T) {
	type upstream struct {
		size int
		ct   string
		gen  func() io.Reader
	}
	text := func(n int) func() io.Reader { return func() io.Reader { return newZtextReader(n, 3) } }
	endless := func() io.Reader { return newZtextReader(-1, 4) }
	cases := []struct {
		name     string
		up       upstream
		enc      string
		abort    bool // the client reads a little and goes
		replaced bool // a middleware in front resets the response
		wantErr  bool
	}{
		{name: "read/length", up: upstream{1 << 20, "text/plain", text(1 << 20)}, enc: "gzip"},
		{name: "read/chunked", up: upstream{-1, "text/plain", text(1 << 20)}, enc: "zstd"},
		{name: "read/empty-chunked", up: upstream{-1, "text/plain", text(0)}, enc: "br"},
		{name: "read/sniffed-excluded", up: upstream{1 << 20, "", text(1 << 20)}, enc: "gzip"},
		{name: "read/small", up: upstream{100, "text/plain", text(100)}, enc: "gzip"},
		{name: "abort/gzip", up: upstream{-1, "text/plain", endless}, enc: "gzip", abort: true, wantErr: true},
		{name: "abort/br", up: upstream{-1, "text/plain", endless}, enc: "br", abort: true, wantErr: true},
		{name: "abort/zstd", up: upstream{-1, "text/plain", endless}, enc: "zstd", abort: true, wantErr: true},
		{name: "abort/sniffed-excluded", up: upstream{-1, "", endless}, enc: "gzip", abort: true, wantErr: true},
		{name: "replaced", up: upstream{-1, "text/plain", endless}, enc: "zstd", replaced: true},
	}
	for _, tc := range cases {
		zrun(t, tc.name, func(t *testing.T) {
			var ups []*ztracked
			var mu sync.Mutex
			gen := func() io.Reader {
				z := newZtracked(tc.up.gen())
				mu.Lock()
				ups = append(ups, z)
				mu.Unlock()
				return z
			}
			ms := []Middleware{buildCompress(t, `{"excludedContentTypes":["text/plain"]}`), zstreamOf(gen, tc.up.size, tc.up.ct)}
			if tc.up.ct != "" {
				ms[0] = buildCompress(t, `{}`)
			}
			if tc.replaced {
				ms = append([]Middleware{func(next Handler) Handler {
					return func(ctx *fasthttp.RequestCtx, r *Request) {
						next(ctx, r)
						ctx.Response.Reset()
						ctx.SetBodyString("replaced")
					}
				}}, ms...)
			}
			url := zfront(t, nil, ms...)
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Accept-Encoding", tc.enc)
			resp, err := zclient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.abort {
				io.ReadFull(resp.Body, make([]byte, 100))
			} else {
				io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close() // unread: the connection goes
			mu.Lock()
			if len(ups) != 1 {
				t.Fatalf("%d upstream bodies", len(ups))
			}
			up := ups[0]
			mu.Unlock()
			zwithin(t, "the upstream body's close", func() { <-up.closed })
			up.mu.Lock()
			defer up.mu.Unlock()
			if up.closes != 1 || (up.err != nil) != tc.wantErr {
				t.Errorf("closed %d times, last with %v", up.closes, up.err)
			}
		})
	}
}

// Upstream connections are released for reuse, compressed or not.
func TestCompressReusesUpstream(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	big := ztext(200000, 10)
	paths := zpaths{
		"length":  {body: big, ct: "text/plain", status: 200, send: zLength},
		"chunked": {body: big, ct: "text/plain", status: 200, send: zChunked},
		"sniffed": {body: append([]byte("<html>"), big...), status: 200, send: zLength},
		"small":   {body: big[:10], ct: "text/plain", status: 200, send: zLength},
		"empty":   {ct: "text/plain", status: 200, send: zChunked},
		"json":    {body: big, ct: "application/json", status: 200, send: zChunked},
	}
	url := zfront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		paths.ServeHTTP(w, r)
	}), buildCompress(t, `{"excludedContentTypes":["text/html","application/json"]}`))
	for range 3 {
		for path, z := range paths {
			for _, enc := range []string{"gzip", "br", "zstd"} {
				resp, raw := zget(t, "GET", url+"/"+path, "Accept-Encoding: "+enc)
				if ce := resp.Header.Get("Content-Encoding"); ce != "" {
					raw = zdecode(t, ce, raw)
				}
				if !bytes.Equal(raw, z.body) {
					t.Fatalf("%s %s: body differs", path, enc)
				}
			}
		}
	}
	if len(conns) != 1 {
		t.Errorf("the backend saw %d connections for requests one after the other", len(conns))
	}
}

// A 64 MiB body streams through with the heap far below its size (half
// of it, for the encoder and the test's decoder together): the
// compressing body holds an input buffer and the encoder's state, never
// the body.
func TestCompressLargeBody(t *testing.T) {
	const size = 64 << 20
	if zrace {
		// Minutes under the race detector; the same streaming runs there
		// with the smaller bodies of TestCompressRoundTrip.
		t.Skip("a memory measure, without the race detector")
	}
	for _, enc := range []string{"gzip", "zstd", "br"} {
		for _, send := range []int{zLength, zChunked} {
			if enc == "br" && send == zChunked {
				continue // brotli is slow; its bigger case is the sized one
			}
			t.Run(fmt.Sprintf("%s/%d", enc, send), func(t *testing.T) {
				url := zfront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/plain")
					if send == zLength {
						w.Header().Set("Content-Length", strconv.Itoa(size))
					}
					io.CopyBuffer(w, newZtextReader(size, 11), make([]byte, 32<<10))
				}), buildCompress(t, `{}`))
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base, peak := ms.HeapInuse, ms.HeapInuse
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := zclient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Header.Get("Content-Encoding") != enc {
					t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				}
				dec := zdecoder(t, enc, resp.Body)
				want := newZtextReader(size, 11)
				got, exp := make([]byte, 1<<20), make([]byte, 1<<20)
				total := 0
				for {
					n, err := io.ReadFull(dec, got)
					if n > 0 {
						io.ReadFull(want, exp[:n])
						if !bytes.Equal(got[:n], exp[:n]) {
							t.Fatalf("decoded body differs after %d bytes", total)
						}
						total += n
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
					if err == io.EOF || err == io.ErrUnexpectedEOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if total != size {
					t.Fatalf("decoded %d bytes, want %d", total, size)
				}
				grown := float64(peak-min(base, peak)) / (1 << 20)
				t.Logf("heap in use grew by at most %.1f MiB", grown)
				// The decoders are in the same heap (the brotli and zstd ones
				// hold a window of 4 MiB each); measured: up to 24 MiB.
				if limit := 32.0; grown > limit {
					t.Errorf("heap in use grew by %.1f MiB for a %d MiB body (limit %.0f MiB)", grown, size>>20, limit)
				}
			})
		}
	}
}

// Bad configurations are build errors with Traefik's messages.
func TestCompressConfig(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{"excludedContentTypes":["text/html"],"includedContentTypes":["text/plain"]}`, "excludedContentTypes and includedContentTypes options are mutually exclusive"},
		{`{"excludedContentTypes":["text/"]}`, "parsing excluded media type: mime: expected token after slash"},
		{`{"excludedContentTypes":[""]}`, "parsing excluded media type: mime: no media type"},
		{`{"includedContentTypes":["text/plain; charset"]}`, "parsing included media type: mime: invalid media parameter"},
		{`{"encodings":[]}`, "at least one encoding must be specified"},
		{`{"encodings":["gzip","deflate"]}`, "unsupported encoding: deflate"},
		{`{"encodings":["GZIP"]}`, "unsupported encoding: GZIP"},
		{`{"encodings":["gzip"],"defaultEncoding":"br"}`, "unsupported default encoding: br"},
		{`{"defaultEncoding":"identity"}`, "unsupported default encoding: identity"},
		{`{"minResponseBodyBytes":-1}`, "minResponseBodyBytes -1: must be 0 or more"},
		{`{"minResponseBodyBytes":"1k"}`, "cannot unmarshal"},
		{`{"level":5}`, `"level" is not supported`},
	}
	for _, tc := range tests {
		if _, err := tryBuild("compress", tc.config); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.err)
		}
	}
	for _, ok := range []string{`{}`, `null`, `{"encodings":null}`, `{"encodings":["zstd"],"defaultEncoding":"zstd"}`,
		`{"excludedContentTypes":["application/json; charset=utf-8"]}`, `{"defaultEncoding":""}`, `{"minResponseBodyBytes":0}`} {
		if _, err := tryBuild("compress", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// The configuration has the CRD's fields, by their JSON names.
func TestCompressConfigFields(t *testing.T) {
	names := func(typ reflect.Type) []string {
		var out []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	k, ok := Lookup("compress")
	if !ok {
		t.Fatal("compress is not in Kinds")
	}
	if got, want := names(k.ConfigType()), names(reflect.TypeFor[crd.Compress]()); !slices.Equal(got, want) {
		t.Errorf("fields %v, the CRD's %v", got, want)
	}
}

// The fast media type parser agrees with mime.ParseMediaType.
func FuzzCompressMediaType(f *testing.F) {
	for _, s := range []string{"", "text/html", " Text/HTML ; charset=UTF-8 ", "application/json;charset=UTF-8;charset=utf-8",
		"application/json; charset=utf-8; charset=\"utf-8\"", "text/plain;", "text/plain; ;", "text/plain; charset",
		"text/plain; charset=", "text/plain; charset=\"\"", "text/plain; a=\"b\\\"c\"", "text/plain; a=\"b\\c\"", "text/plain; a=\"x",
		"text/plain; a=\"x\r\"", "text", "text/", "/plain", "text/plain/x", "text/pl ain", "text/plain x", "a/b; c=d e",
		"a/b; c*=utf-8''x; c*0=y", "a/b;A=1;a=1", "a/b;A=1;a=2", "a/b; 1=1; 2=2; 3=3; 4=4; 5=5; 6=6; 7=7; 8=8; 9=9",
		"\u212aext/plain", "text/plain;\u00a0a=b", "text/plain\x00", "multipart/form-data; boundary=----x", "a/b;=c", "a/b; c = d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mt, _, err := mime.ParseMediaType(s)
		want := mediaOK
		switch {
		case errors.Is(err, mime.ErrInvalidMediaParameter):
			want = mediaBadParams
		case err != nil:
			want = mediaInvalid
		}
		got, st := parseMediaType([]byte(s))
		if st != want || !mediaEqualFold(got, []byte(mt)) {
			t.Errorf("%q: %q %d, mime: %q %v", s, got, st, mt, err)
		}
	})
}

// zrefChoose is Traefik's getCompressionEncoding written plainly, with
// the field lines as net/http gives them (trimmed), to check choose's
// allocation-free version against.
func zrefChoose(lines []string, encodings []string, def string) string {
	for i := range lines {
		lines[i] = strings.Trim(lines[i], " \t")
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	supported := map[string]int{"*": -1, "identity": len(encodings)}
	for i, e := range encodings {
		supported[e] = i
	}
	type entry struct {
		typ string
		w   float64
	}
	var entries []entry
	for _, line := range lines {
		for item := range strings.SplitSeq(strings.ReplaceAll(line, " ", ""), ",") {
			parsed := strings.SplitN(item, ";", 2)
			if _, ok := supported[parsed[0]]; !ok {
				continue
			}
			w := 1.0
			if len(parsed) > 1 && strings.HasPrefix(parsed[1], "q=") {
				w, _ = strconv.ParseFloat(strings.TrimPrefix(parsed[1], "q="), 64)
				if w == 0 {
					continue
				}
			}
			entries = append(entries, entry{parsed[0], w})
		}
	}
	if len(entries) == 0 {
		return ""
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.w == b.w {
			return cmp.Compare(supported[a.typ], supported[b.typ])
		}
		return cmp.Compare(b.w, a.w)
	})
	switch entries[0].typ {
	case "*":
		if def != "" {
			return def
		}
		return encodings[0]
	case "identity":
		return ""
	}
	return entries[0].typ
}

// zrefGzipQ is gzhttp's parseEncodingGzip written plainly.
func zrefGzipQ(s string) float64 {
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		coding, q := "", 1.0
		for i, p := range strings.Split(part, ";") {
			p = strings.TrimSpace(p)
			if i == 0 {
				coding = strings.ToLower(p)
			} else if v, ok := strings.CutPrefix(p, "q="); ok {
				q, _ = strconv.ParseFloat(v, 64)
				q = max(0, min(q, 1))
			}
		}
		if coding == "gzip" {
			return q
		}
	}
	return 0
}

func FuzzCompressAcceptEncoding(f *testing.F) {
	for _, s := range []string{"", " ", "gzip", "gzip, br", "br;q=0.8, gzip;q=1.0, *;q=0.1", "*;q=0", "identity;q=0, gzip",
		"g zip;q =0.5", "gzip;q=NaN, br;q=NaN, zstd;q=NaN", "gzip;q=1e400", "gzip;q=-0", "br;q=0x1p-2", "\tgzip\t",
		"gzip;q=0.5\nbr", "GZIP;Q=1", "gzip ; q=0.2 , br", "a,b,c,d,e,f,g,h,i,j,k,l,m,gzip,br;q=0.9,zstd;q=0.9,*;q=0.9,identity;q=0.9",
		"zstd;q=NaN,br;q=NaN,gzip;q=NaN,*;q=NaN,identity;q=NaN,zstd;q=NaN,br;q=NaN,gzip;q=NaN,*;q=NaN,identity;q=NaN,zstd;q=NaN,br;q=NaN,gzip;q=NaN"} {
		f.Add(s, uint8(0))
	}
	configs := []struct {
		encodings []string
		def       string
	}{{defaultEncodings, ""}, {defaultEncodings, "zstd"}, {[]string{"br", "gzip"}, ""}, {[]string{"zstd", "gzip", "zstd"}, "gzip"}}
	f.Fuzz(func(t *testing.T, s string, c uint8) {
		cfg := configs[int(c)%len(configs)]
		lines := strings.Split(s, "\n") // one field line each
		n := newNegotiation(cfg.encodings, cfg.def)
		raw := make([][]byte, len(lines))
		for i, l := range lines {
			raw[i] = []byte(l)
		}
		var scratch []byte
		got := ""
		if e := n.choose(raw, &scratch); e != encNone {
			got = encodingNames[e]
		}
		if want := zrefChoose(slices.Clone(lines), cfg.encodings, cfg.def); got != want {
			t.Errorf("%q %v: %q, Traefik's: %q", lines, cfg, got, want)
		}
		q, want := gzipQValue([]byte(lines[0])), zrefGzipQ(lines[0])
		if q != want && !(q != q && want != want) {
			t.Errorf("gzip quality of %q: %v, gzhttp's: %v", lines[0], q, want)
		}
	})
}
