package main

import (
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"
)

// Two edgeroute processes serving the same manifests share one rateLimit
// budget through one real Redis: a burst of 10 and one request a minute
// admit 10 (11 across a refill) of 40 requests sent alternately to both,
// where a budget per process would admit 20.
func TestTwoProxiesShareOneRateLimit(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	redis := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redis.Process.Kill(); redis.Wait() })
	waitFor(t, "redis to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, fmt.Sprintf(`apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: budget, namespace: default}
spec:
  rateLimit:
    average: 1
    period: 1m
    burst: 10
    redis: {endpoints: [%q]}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: limited, namespace: default}
spec:
  routes:
    - match: Host(`+"`a.test`"+`)
      middlewares: [{name: budget}]
      services: [{name: whoami-a, port: 80}]
`, addr))
	var bases []string
	for range 2 {
		p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir)
		bases = append(bases, "http://"+p.address(t))
	}
	admitted := map[int]int{}
	total := 0
	start := time.Now()
	for i := range 40 {
		code, _ := fetch(t, bases[i%2]+"/", "a.test")
		switch code {
		case 200:
			admitted[i%2]++
			total++
		case 429:
		default:
			t.Fatalf("request %d: status %d", i, code)
		}
	}
	if time.Since(start) > 50*time.Second {
		t.Skip("the run took close to the refill period; counts are not comparable")
	}
	if total < 10 || total > 11 || admitted[0] == 0 || admitted[1] == 0 {
		t.Errorf("admitted %d (per proxy %v) of 40: want 10 or 11 in all, from both proxies (a budget per proxy would admit 20)", total, admitted)
	}
}
