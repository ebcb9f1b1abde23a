package translate

import "testing"

// Traefik's "Simple Ingress Route with least time strategy": the service
// keeps strategy leasttime.
func TestLeastTimeStrategyFixture(t *testing.T) {
	snap := Snapshot(load(t, "services.yml", "with_leasttime_strategy.yml"), Options{})
	if len(snap.Routers) != 1 || len(snap.Problems) > 0 {
		t.Fatalf("routers %v\n%s", snap.Routers, problemsOf(snap))
	}
	lb := snap.Services[snap.Routers[0].Service].LoadBalancer
	if lb == nil || lb.Strategy != "leasttime" {
		t.Fatalf("load balancer %+v, want strategy leasttime", lb)
	}
}
