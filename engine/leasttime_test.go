package engine

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// TestLeastTimeOverSockets: a least-time service learns the response times
// of its servers and sends sequential requests to the fast one.
func TestLeastTimeOverSockets(t *testing.T) {
	slow := func(name string, delay time.Duration) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(delay)
			w.Write([]byte(name))
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String()
	}
	fast, lazy := slow("fast", 0), slow("slow", 200*time.Millisecond)
	snap := &spec.Snapshot{
		Routers:   []spec.Router{{Name: "r", Rule: "Host(`lt.test`)", Service: "svc"}},
		Services:  map[string]*spec.Service{"svc": {Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "leasttime"}}},
		Endpoints: map[string][]spec.Server{"svc": {{URL: fast}, {URL: lazy}}},
	}
	_, base := startServer(t, snap)
	seen := map[string]int{}
	// The fast server answers in 0 ms (whole milliseconds), so scores tie
	// at 0 and EDF order decides until the slow one has been timed.
	for range 10 {
		_, body := get(t, base+"/", "lt.test")
		if seen[body]++; body == "slow" {
			break
		}
	}
	if seen["slow"] != 1 {
		t.Fatalf("warm-up picks %v, want the slow server once", seen)
	}
	for i := range 20 {
		if code, body := get(t, base+"/", "lt.test"); code != 200 || !strings.HasPrefix(body, "fast") {
			t.Fatalf("request %d: %d %q, want the fast server", i, code, body)
		}
	}
}
