package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// observability.metrics and observability.accessLogs on a route, and on
// the entry point with a route overriding it: a request of a router with
// metrics off is counted in no family (Traefik builds the entry point's
// metrics per router too), one with access logs off writes no line.
func TestObservabilityToggles(t *testing.T) {
	on, off := true, false
	svc := map[string]string{"s@kubernetescrd": backend(t, "a")}
	routers := []spec.Router{
		{Name: "default@kubernetescrd", Rule: "PathPrefix(`/default`)", Service: "s@kubernetescrd"},
		{Name: "quiet@kubernetescrd", Rule: "PathPrefix(`/quiet`)", Service: "s@kubernetescrd",
			Observability: &spec.Observability{Metrics: &off, AccessLogs: &off}},
		{Name: "loud@kubernetescrd", Rule: "PathPrefix(`/loud`)", Service: "s@kubernetescrd",
			Observability: &spec.Observability{Metrics: &on, AccessLogs: &on}},
	}
	for _, c := range []struct {
		ep       []string
		observed map[string]bool // path -> counted and logged
	}{
		{nil, map[string]bool{"/default": true, "/quiet": false, "/loud": true}},
		{[]string{"--entryPoints.web.observability.metrics=false", "--entryPoints.web.observability.accessLogs=false"},
			map[string]bool{"/default": false, "/quiet": false, "/loud": true}},
	} {
		t.Run(strings.Join(c.ep, " "), func(t *testing.T) {
			logFile := t.TempDir() + "/access.log"
			s, base := startServer(t, lbSnap(routers, svc), append([]string{"--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus",
				"--metrics.prometheus.addRoutersLabels", "--accessLog.filePath=" + logFile}, c.ep...)...)
			want := 0
			for _, p := range []string{"/default", "/quiet", "/loud"} {
				get(t, base+p, "")
				if c.observed[p] {
					want++
				}
			}
			fams := scrapeMetrics(t, "http://"+s.Addr("traefik")+"/metrics")
			epWant := float64(want)
			if want == 0 {
				epWant = -1
			}
			if got := value(fams, "traefik_entrypoint_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "http", "entrypoint": "web"}); got != epWant {
				t.Errorf("entry point count %v, want %v", got, epWant)
			}
			for p, seen := range c.observed {
				name := strings.TrimPrefix(p, "/") + "@kubernetescrd"
				got := value(fams, "traefik_router_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "http",
					"router": name, "service": "s@kubernetescrd"})
				if (got == 1) != seen {
					t.Errorf("router %s counted %v, want %v", name, got, seen)
				}
			}
			var lines []string
			if want > 0 {
				lines = waitLines(t, logFile, want)
			} else {
				time.Sleep(300 * time.Millisecond) // past a flush (100 ms)
			}
			if len(lines) != want {
				t.Errorf("%d access log lines, want %d: %q", len(lines), want, lines)
			}
			for _, l := range lines {
				for p, seen := range c.observed {
					if !seen && strings.Contains(l, "GET "+p+" ") {
						t.Errorf("logged %s: %s", p, l)
					}
				}
			}
		})
	}
}
