package engine

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeroute/edgeroute/compile/spec"
)

func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of name whose labels are exactly
// want, or -1.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, l := range m.Label {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// Requests through the proxy show up in /metrics, on the traefik entry
// point, under Traefik's names and labels, with the right counts and
// sizes, streamed bodies and gRPC calls included.
func TestMetricsScrape(t *testing.T) {
	grpcAddr, _ := grpcBackend(t, nil)
	snap := lbSnap([]spec.Router{
		{Name: "api@kubernetescrd", Rule: "PathPrefix(`/api`)", Service: "svc@kubernetescrd"},
		{Name: "g@kubernetescrd", Rule: "Host(`g.test`)", Service: "g@kubernetescrd"},
	}, map[string]string{"svc@kubernetescrd": backend(t, "a"), "g@kubernetescrd": "h2c://" + grpcAddr})
	s, base := startServer(t, snap, "--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus",
		"--metrics.prometheus.addRoutersLabels=true")
	var sizes int
	for i := 0; i < 5; i++ {
		code, body := get(t, base+"/api/x", "a.test")
		if code != 200 {
			t.Fatalf("GET: %d", code)
		}
		sizes += len(body)
	}
	for i := 0; i < 2; i++ {
		if code, _ := get(t, base+"/nope", "a.test"); code != 404 {
			t.Fatalf("404: %d", code)
		}
	}
	resp, err := http.Post(base+"/api/post", "text/plain", strings.NewReader("12345678"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	conn, err := grpc.NewClient(s.Addr("web"), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("g.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := healthpb.NewHealthClient(conn)
	c.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	c.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}) // NOT_FOUND (5)

	fams := scrapeMetrics(t, "http://"+s.Addr("traefik")+"/metrics")
	ep := func(code, method, proto string) map[string]string {
		return map[string]string{"code": code, "method": method, "protocol": proto, "entrypoint": "web"}
	}
	svc := map[string]string{"code": "200", "method": "GET", "protocol": "http", "service": "svc@kubernetescrd"}
	rtr := map[string]string{"code": "200", "method": "GET", "protocol": "http", "service": "svc@kubernetescrd", "router": "api@kubernetescrd"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"traefik_entrypoint_requests_total", ep("200", "GET", "http"), 5},
		{"traefik_entrypoint_requests_total", ep("404", "GET", "http"), 2},
		{"traefik_entrypoint_requests_total", ep("200", "POST", "http"), 1},
		{"traefik_entrypoint_requests_bytes_total", ep("200", "POST", "http"), 8},
		{"traefik_entrypoint_responses_bytes_total", ep("200", "GET", "http"), float64(sizes)},
		{"traefik_entrypoint_responses_bytes_total", ep("404", "GET", "http"), 2 * 19},
		{"traefik_entrypoint_request_duration_seconds", ep("200", "GET", "http"), 5},
		{"traefik_service_requests_total", svc, 5},
		{"traefik_router_requests_total", rtr, 5},
		{"traefik_entrypoint_requests_total", ep("0", "POST", "grpc"), 1},
		{"traefik_entrypoint_requests_total", ep("5", "POST", "grpc"), 1},
		{"traefik_service_server_up", map[string]string{"service": "svc@kubernetescrd", "url": snap.Endpoints["svc@kubernetescrd"][0].URL}, 1},
		{"traefik_config_reloads_total", map[string]string{}, 1},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if value(fams, "traefik_open_connections", map[string]string{"entrypoint": "web", "protocol": "TCP"}) < 0 {
		t.Errorf("traefik_open_connections missing")
	}
}
