package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// A headers middleware that removes X-Forwarded-For with Traefik's exact
// spelling stops the proxy from adding it back (Traefik leaves the header
// nil, which Go's ReverseProxy honours); another spelling only deletes
// it, and the client is appended as usual.
func TestHeadersOmitXFF(t *testing.T) {
	b := backend(t, "a")
	snap := lbSnap([]spec.Router{
		{Name: "omit", Rule: "Host(`a.test`)", Service: "svc-a", Middlewares: []string{"omit"}},
		{Name: "del", Rule: "Host(`b.test`)", Service: "svc-a", Middlewares: []string{"del"}},
	}, map[string]string{"svc-a": b})
	snap.Middlewares = map[string]*spec.Middleware{
		"omit": {Name: "omit", Kind: "headers", Config: json.RawMessage(`{"customRequestHeaders":{"X-Forwarded-For":""}}`)},
		"del":  {Name: "del", Kind: "headers", Config: json.RawMessage(`{"customRequestHeaders":{"x-forwarded-for":""}}`)},
	}
	_, base := startServer(t, snap, "--entryPoints.web.forwardedHeaders.insecure=true")
	if _, body := get(t, base+"/", "a.test", "X-Forwarded-For: 6.6.6.6"); !strings.Contains(body, "xff= ") {
		t.Errorf("X-Forwarded-For removed: backend saw %s", body)
	}
	if _, body := get(t, base+"/", "b.test", "X-Forwarded-For: 6.6.6.6"); !strings.Contains(body, "xff=127.0.0.1 ") {
		t.Errorf("x-forwarded-for removed: backend saw %s", body)
	}
}
