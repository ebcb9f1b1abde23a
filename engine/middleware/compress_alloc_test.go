//go:build !race

package middleware

import "testing"

// Once its pools are warm, compress allocates nothing per request:
// negotiation, the type checks and the compression itself.
func TestCompressAllocs(t *testing.T) {
	tests := []struct {
		config, ae string
		stream     bool
	}{
		{`{}`, "", true},
		{`{}`, "identity", true},
		{`{}`, "gzip", true},
		{`{}`, "gzip, deflate, br;q=0.9, zstd;q=0.8", false},
		{`{}`, "br", true},
		{`{}`, "br", false},
		{`{"excludedContentTypes":["text/html; charset=utf-8"]}`, "zstd", true},
		{`{"includedContentTypes":["application/json"]}`, "zstd, *;q=0.1", false},
	}
	for _, tc := range tests {
		z := newZbench(t, tc.config, tc.ae, tc.stream, zjson)
		z.ctx.Request.Header.SetContentType("text/plain; charset=utf-8")
		for range 3 {
			z.run(t)
		}
		if n := testing.AllocsPerRun(100, func() { z.run(t) }); n != 0 {
			t.Errorf("%s %q stream %v: %.1f allocations per request", tc.config, tc.ae, tc.stream, n)
		}
	}
}
