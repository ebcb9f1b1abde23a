package metrics

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape parses the registry's exposition with Prometheus's own parser.
func scrape(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	r.Write(&buf)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, buf.String())
	}
	return fams
}

// find returns the metric of a family whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		if len(got) != len(want) {
			continue
		}
		return m
	}
	return nil
}

func TestTraefikNamesAndValues(t *testing.T) {
	r := NewRegistry(Options{EntryPoints: true, Routers: true, Services: true})
	ep, rt, sv := r.EntryPoint("web"), r.Router("api@kubernetescrd", "svc@kubernetescrd"), r.Service("svc@kubernetescrd")
	for i := 0; i < 3; i++ {
		for _, f := range []*Family{ep, rt, sv} {
			f.Observe([]byte("GET"), HTTP, 200, 50*time.Millisecond, 10, 100)
		}
	}
	ep.Observe([]byte("POST"), WebSocket, 404, 2*time.Second, 0, 19)
	sv.Retried(2)
	ep.ObserveTLS(tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256)
	r.Reloaded(true)
	r.OpenConnections("web", func() int { return 7 })
	r.SetGauges([]Gauge{{Name: "traefik_service_server_up", Labels: map[string]string{"service": "svc@kubernetescrd", "url": "http://10.0.0.1:80"}, Value: func() float64 { return 1 }}})
	fams := scrape(t, r)

	get := map[string]string{"code": "200", "method": "GET", "protocol": "http"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range get {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"traefik_entrypoint_requests_total", with(map[string]string{"entrypoint": "web"}), 3},
		{"traefik_entrypoint_requests_bytes_total", with(map[string]string{"entrypoint": "web"}), 30},
		{"traefik_entrypoint_responses_bytes_total", with(map[string]string{"entrypoint": "web"}), 300},
		{"traefik_router_requests_total", with(map[string]string{"router": "api@kubernetescrd", "service": "svc@kubernetescrd"}), 3},
		{"traefik_service_requests_total", with(map[string]string{"service": "svc@kubernetescrd"}), 3},
		{"traefik_entrypoint_requests_total", map[string]string{"code": "404", "method": "POST", "protocol": "websocket", "entrypoint": "web"}, 1},
		{"traefik_service_retries_total", map[string]string{"service": "svc@kubernetescrd"}, 2},
		{"traefik_entrypoint_requests_tls_total", map[string]string{"entrypoint": "web", "tls_version": "1.3", "tls_cipher": "TLS_AES_128_GCM_SHA256"}, 1},
		{"traefik_config_reloads_total", map[string]string{}, 1},
		{"traefik_open_connections", map[string]string{"entrypoint": "web", "protocol": "TCP"}, 7},
		{"traefik_service_server_up", map[string]string{"service": "svc@kubernetescrd", "url": "http://10.0.0.1:80"}, 1},
	} {
		m := find(fams, c.name, c.labels)
		if m == nil {
			t.Errorf("%s%v: missing", c.name, c.labels)
			continue
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		}
		if v != c.value {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.value)
		}
	}
	// The histogram has Traefik's buckets.
	h := find(fams, "traefik_entrypoint_request_duration_seconds", with(map[string]string{"entrypoint": "web"}))
	if h == nil || h.Histogram == nil {
		t.Fatalf("duration histogram missing: %v", fams["traefik_entrypoint_request_duration_seconds"])
	}
	var bounds []string
	for _, b := range h.Histogram.Bucket {
		bounds = append(bounds, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	if got := fmt.Sprint(bounds); got != "[0.1:3 0.3:3 1.2:3 5:3 +Inf:3]" || h.Histogram.GetSampleCount() != 3 {
		t.Errorf("buckets %s, count %d", got, h.Histogram.GetSampleCount())
	}
	if s := find(fams, "traefik_config_last_reload_success", map[string]string{}); s == nil || s.Gauge.GetValue() < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last reload success: %v", s)
	}

	// A gauge of a removed server disappears.
	r.SetGauges(nil)
	if m := find(scrape(t, r), "traefik_service_server_up", map[string]string{"service": "svc@kubernetescrd", "url": "http://10.0.0.1:80"}); m != nil {
		t.Errorf("server_up of a removed server still reported")
	}
}

// Only the families asked for are recorded; method labels are bounded.
func TestOptionsAndBounds(t *testing.T) {
	r := NewRegistry(Options{EntryPoints: true})
	if r.Router("a", "b") != nil || r.Service("b") != nil {
		t.Fatal("router/service families without their options")
	}
	ep := r.EntryPoint("web")
	for i := 0; i < maxMethods+10; i++ {
		ep.Observe([]byte(fmt.Sprintf("M%d", i)), HTTP, 200, 0, 0, 0)
	}
	fams := scrape(t, r)
	if n := len(fams["traefik_entrypoint_requests_total"].Metric); n != maxMethods+1 {
		t.Errorf("%d series, want %d (the rest as OTHER)", n, maxMethods+1)
	}
	if m := find(fams, "traefik_entrypoint_requests_total", map[string]string{"code": "200", "method": "OTHER", "protocol": "http", "entrypoint": "web"}); m == nil || m.Counter.GetValue() != 10 {
		t.Errorf("OTHER: %v", m)
	}
}

func TestObserveAllocatesNothing(t *testing.T) {
	r := NewRegistry(Options{EntryPoints: true, Services: true})
	ep, sv := r.EntryPoint("web"), r.Service("s")
	method := []byte("GET")
	ep.Observe(method, HTTP, 200, time.Millisecond, 1, 1)
	sv.Observe(method, HTTP, 200, time.Millisecond, 1, 1)
	ep.ObserveTLS(tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256)
	if n := testing.AllocsPerRun(1000, func() {
		ep.Observe(method, HTTP, 200, time.Millisecond, 1, 1)
		sv.Observe(method, HTTP, 200, time.Millisecond, 1, 1)
		ep.ObserveTLS(tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256)
	}); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := NewRegistry(Options{EntryPoints: true, Services: true})
	ep := r.EntryPoint("web")
	method := []byte("GET")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ep.Observe(method, HTTP, 200, time.Millisecond, 100, 1000)
		}
	})
}
