package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/engine/tracing/otlptest"
)

// The binary traces over OTLP/gRPC to a real collector receiver: the
// IngressRoute's observability block is honoured (a route with tracing
// off exports nothing and sends no traceparent), a route with
// traceVerbosity detailed gets its Router and Service spans, the client's
// trace is continued up to whoami, and the spans still queued at SIGTERM
// are exported before the process exits.
func TestServeTracing(t *testing.T) {
	rcv := otlptest.Start(t)
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: traced, namespace: default}
spec:
  routes:
    - match: PathPrefix(`+"`/min`"+`)
      services: [{name: whoami-a, port: 80}]
    - match: PathPrefix(`+"`/detailed`"+`)
      observability: {traceVerbosity: detailed}
      services: [{name: whoami-a, port: 80}]
    - match: PathPrefix(`+"`/off`"+`)
      observability: {tracing: false}
      services: [{name: whoami-a, port: 80}]
`)
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir,
		"--tracing.otlp.grpc.endpoint="+rcv.GRPCAddr, "--tracing.otlp.grpc.insecure", "--tracing.serviceName=edge-e2e")
	base := "http://" + p.address(t)
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	get := func(path string) string {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	tpRE := regexp.MustCompile(`Traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})-01`)
	minBody, _, offBody := get("/min"), get("/detailed"), get("/off")
	if m := tpRE.FindStringSubmatch(offBody); m == nil || m[2] != "b7ad6b7169203331" {
		t.Errorf("a route not traced passes the client's traceparent unchanged: %q", offBody)
	}
	m := tpRE.FindStringSubmatch(minBody)
	if m == nil || m[1] != traceID || m[2] == "b7ad6b7169203331" {
		t.Fatalf("whoami saw no continued traceparent: %q", minBody)
	}
	// The batch processor holds the spans (5 s by default): SIGTERM
	// exports them.
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit")
	}
	spans := rcv.Spans()
	names := map[string]int{}
	var proxy otlptest.Span
	for _, s := range spans {
		names[s.Name]++
		if s.TraceID != traceID || s.Resource["service.name"] != "edge-e2e" {
			t.Errorf("span %v of resource %v", s, s.Resource["service.name"])
		}
		if s.Name == "ReverseProxy" && s.SpanID == m[2] {
			proxy = s
		}
		if s.Name == "GET" && filepath.Base(s.Attrs["url.path"].(string)) == "off" {
			t.Errorf("route with tracing off traced: %v", s)
		}
	}
	if names["GET"] != 2 || names["ReverseProxy"] != 2 || names["Router"] != 1 || names["Service"] != 1 || len(spans) != 6 {
		t.Errorf("spans %v, want 2 GET, 2 ReverseProxy, 1 Router, 1 Service: %v", names, spans)
	}
	if proxy.Kind != "Client" {
		t.Errorf("whoami's parent %s is not a ReverseProxy span: %v", m[2], spans)
	}
}
