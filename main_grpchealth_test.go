package main

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestServeGRPCHealthCheck: an IngressRoute to an ExternalName Service
// (127.0.0.1) whose server is a real grpc-go server with the standard
// health service, checked with `healthCheck: {mode: grpc}`. NOT_SERVING
// takes the server down everywhere Traefik shows it (the API's
// serverStatus, traefik_service_server_up, the balancer: calls through
// the proxy get UNAVAILABLE); SERVING brings it back.
func TestServeGRPCHealthCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	dir := t.TempDir()
	manifests(t, dir, nil, `apiVersion: v1
kind: Service
metadata: {name: grpc-a, namespace: default}
spec:
  type: ExternalName
  externalName: 127.0.0.1
  ports: [{name: grpc, port: `+port+`}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: grpc, namespace: default}
spec:
  routes:
    - match: PathPrefix(`+"`/`"+`)
      services:
        - name: grpc-a
          port: `+port+`
          scheme: h2c
          healthCheck: {mode: grpc, interval: 50ms, timeout: 5s}
`)
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--providers.manifests.directory="+dir,
		"--providers.kubernetesCRD.allowExternalNameServices", "--api.insecure", "--metrics.prometheus")
	web, traefik := entryPoint(t, p, "web"), entryPoint(t, p, "traefik")
	service := "default-grpc-a-" + port + "@kubernetescrd"
	serverURL := "h2c://127.0.0.1:" + port

	conn, err := grpc.NewClient(strings.TrimPrefix(web, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := func() codes.Code {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
		return status.Code(err)
	}
	// state is the server's status as the API shows it, and its gauge.
	state := func() (api, gauge string) {
		_, _, body := fetchAll(t, traefik+"/api/http/services/"+service, "x")
		var svc struct {
			ServerStatus map[string]string `json:"serverStatus"`
			LoadBalancer struct {
				HealthCheck struct {
					Mode string `json:"mode"`
				} `json:"healthCheck"`
			} `json:"loadBalancer"`
		}
		json.Unmarshal([]byte(body), &svc)
		if svc.LoadBalancer.HealthCheck.Mode != "grpc" {
			t.Fatalf("API: health check mode %q: %s", svc.LoadBalancer.HealthCheck.Mode, body)
		}
		_, _, metrics := fetchAll(t, traefik+"/metrics", "x")
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "traefik_service_server_up{") && strings.Contains(line, `url="`+serverURL+`"`) {
				gauge = line[strings.LastIndexByte(line, ' ')+1:]
			}
		}
		return svc.ServerStatus[serverURL], gauge
	}
	want := func(api, gauge string, code codes.Code) {
		t.Helper()
		waitFor(t, "server "+api, func() bool { a, g := state(); return a == api && g == gauge })
		if got := call(); got != code {
			t.Errorf("server %s: a call through the proxy got %v, want %v", api, got, code)
		}
	}
	want("UP", "1", codes.OK)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	want("DOWN", "0", codes.Unavailable)
	if !strings.Contains(p.log(), "checking gRPC health: received gRPC status code: NOT_SERVING") {
		t.Errorf("the failure is not logged with Traefik's wording")
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	want("UP", "1", codes.OK)
}
