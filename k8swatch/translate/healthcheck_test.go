package translate

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// hcRoute is an IngressRoute to services.yml's ExternalName service
// external-svc-with-http with the given healthCheck.
func hcRoute(hc string) string {
	return `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: r, namespace: default}
spec:
  routes:
  - match: Host(` + "`a.test`" + `)
    services:
    - name: external-svc-with-http
      port: 80
      healthCheck: ` + hc + `
`
}

const hcService = "default-external-svc-with-http-80" + ProviderSuffix

// healthCheck.mode as Traefik's provider keeps it: grpc is accepted
// with the defaults of http mode (interval 30s, timeout 5s, unhealthy
// interval = interval); the mode is kept as written, and a mode that is
// neither http nor grpc runs in http mode, as in Traefik, which never
// refuses one; edgeroute warns about it, about the fields mode grpc
// ignores, and about a scheme Traefik's gRPC check cannot dial.
func TestHealthCheckMode(t *testing.T) {
	opts := Options{AllowExternalNameServices: true}
	for _, tc := range []struct {
		hc   string
		want spec.HealthCheck
		warn string // "" for none
	}{
		{hc: `{mode: grpc}`, want: spec.HealthCheck{Mode: "grpc", Interval: 30 * time.Second, UnhealthyInterval: 30 * time.Second,
			Timeout: 5 * time.Second, FollowRedirects: true}},
		{hc: `{mode: grpc, scheme: h2c, port: 9000, interval: 2s, unhealthyInterval: 500ms, timeout: 1s}`, want: spec.HealthCheck{Mode: "grpc",
			Scheme: "h2c", Port: 9000, Interval: 2 * time.Second, UnhealthyInterval: 500 * time.Millisecond, Timeout: time.Second, FollowRedirects: true}},
		{hc: `{mode: grpc, scheme: http, interval: 10}`, want: spec.HealthCheck{Mode: "grpc", Scheme: "http", Interval: 10 * time.Second,
			UnhealthyInterval: 10 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true}},
		{hc: `{mode: http, path: /health}`, want: spec.HealthCheck{Mode: "http", Path: "/health", Interval: 30 * time.Second,
			UnhealthyInterval: 30 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true}},
		{hc: `{path: /health}`, want: spec.HealthCheck{Path: "/health", Interval: 30 * time.Second,
			UnhealthyInterval: 30 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true}},
		{hc: `{mode: grpc, path: /health, method: HEAD, status: 204, hostname: h.test, headers: {X-A: b}, followRedirects: false}`,
			want: spec.HealthCheck{Mode: "grpc", Path: "/health", Method: "HEAD", Status: 204, Hostname: "h.test", Headers: map[string]string{"X-A": "b"},
				Interval: 30 * time.Second, UnhealthyInterval: 30 * time.Second, Timeout: 5 * time.Second},
			warn: "Service default/external-svc-with-http: service default/external-svc-with-http: healthCheck: mode grpc does not use path, method, status, hostname, headers, followRedirects (Traefik ignores them too)"},
		{hc: `{mode: grpc, scheme: https}`, want: spec.HealthCheck{Mode: "grpc", Scheme: "https", Interval: 30 * time.Second,
			UnhealthyInterval: 30 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true},
			warn: `healthCheck: mode grpc with scheme "https": as in Traefik, whose gRPC check dials only plaintext (h2c) and sets no TLS credentials otherwise, every check fails (grpc: no transport security set) and the servers stay down`},
		{hc: `{mode: GRPC, path: /health}`, want: spec.HealthCheck{Mode: "GRPC", Path: "/health", Interval: 30 * time.Second,
			UnhealthyInterval: 30 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true},
			warn: `service default/external-svc-with-http: healthCheck: mode "GRPC" is neither http nor grpc: the check runs in http mode, as in Traefik`},
		{hc: `{mode: tcp}`, want: spec.HealthCheck{Mode: "tcp", Interval: 30 * time.Second,
			UnhealthyInterval: 30 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true},
			warn: `healthCheck: mode "tcp" is neither http nor grpc`},
	} {
		snap := decodeTS(t, hcRoute(tc.hc), opts)
		if len(snap.Routers) != 1 {
			t.Errorf("%s: routers %v\n%s", tc.hc, snap.Routers, problemsOf(snap))
			continue
		}
		var errs, warns []string
		for _, p := range snap.Problems {
			if p.Warning {
				warns = append(warns, p.Error())
			} else {
				errs = append(errs, p.Error())
			}
		}
		if len(errs) > 0 || (tc.warn == "") != (len(warns) == 0) || tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn)) {
			t.Errorf("%s: problems\n%s\nwant warning %q", tc.hc, problemsOf(snap), tc.warn)
		}
		lb := snap.Services[hcService].LoadBalancer
		if lb == nil || lb.HealthCheck == nil || !reflect.DeepEqual(*lb.HealthCheck, tc.want) {
			t.Errorf("%s: health check\n got %+v\nwant %+v", tc.hc, lb, tc.want)
		}
	}
}

// Mode grpc on a TraefikService's weighted child: the child's load
// balancer has the gRPC check; on a Service that is not ExternalName,
// Traefik's refusal of any healthCheck applies to grpc too.
func TestHealthCheckModeGRPCPlaces(t *testing.T) {
	opts := Options{AllowExternalNameServices: true}
	snap := decodeTS(t, tsRouteFor("wrr")+ts("wrr", `  weighted:
    services:
    - {name: external-svc-with-http, port: 80, healthCheck: {mode: grpc, interval: 3s}}
    - {name: whoami, port: 80}`), opts)
	if len(snap.Routers) != 1 || len(snap.Problems) > 0 {
		t.Fatalf("routers %v\n%s", snap.Routers, problemsOf(snap))
	}
	lb := snap.Services[hcService].LoadBalancer
	if lb == nil || lb.HealthCheck == nil || lb.HealthCheck.Mode != "grpc" || lb.HealthCheck.Interval != 3*time.Second {
		t.Errorf("weighted child: %+v", lb)
	}

	snap = decodeTS(t, strings.Replace(hcRoute(`{mode: grpc}`), "external-svc-with-http", "whoami", 1), opts)
	if len(snap.Routers) != 0 || !strings.Contains(problemsOf(snap), "healthCheck allowed only for ExternalName services: default/whoami") {
		t.Errorf("routers %v\n%s", snap.Routers, problemsOf(snap))
	}
}

// tsRouteFor is tsRoute naming the TraefikService.
func tsRouteFor(name string) string { return strings.Replace(tsRoute, "%s", name, 1) }
