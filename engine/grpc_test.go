package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// grpcBackend serves gRPC's health service (unary Check, server-streaming
// Watch) in cleartext (h2c) or, with cert, over TLS.
func grpcBackend(t *testing.T, cert *tls.Certificate) (addr string, hs *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(cert)))
	}
	srv := grpc.NewServer(opts...)
	hs = health.NewServer()
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), hs
}

// ipCert issues a server certificate for 127.0.0.1.
func (ca *testCA) ipCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func checkGRPC(t *testing.T, what string, conn *grpc.ClientConn, hs *health.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := healthpb.NewHealthClient(conn)
	resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("%s: unary Check: %v %v", what, resp, err)
	}
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"}); status.Code(err) != codes.NotFound {
		t.Fatalf("%s: the backend's status (trailers) did not come through: %v", what, err)
	}
	w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("%s: first streamed message: %v %v", what, m, err)
	}
	// The next message arrives while the stream stays open: the proxy
	// flushes each one at once.
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_NOT_SERVING)
	if m, err := w.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("%s: second streamed message: %v %v", what, m, err)
	}
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
}

// gRPC unary and streaming calls through the proxy, over h2c and over TLS
// on the client side, to h2c and TLS upstreams; a dead upstream gives a
// gRPC UNAVAILABLE status, not an HTTP error.
func TestGRPC(t *testing.T) {
	ca := newTestCA(t)
	h2cAddr, h2cHealth := grpcBackend(t, nil)
	tlsCert := ca.ipCert(t)
	tlsAddr, tlsHealth := grpcBackend(t, &tlsCert)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.pem, 0o600)

	routers := []spec.Router{
		{Name: "h2c", Rule: "Host(`h2c.test`)", Service: "h2c"},
		{Name: "h2c-tls", Rule: "Host(`h2c.test`)", Service: "h2c", TLS: &spec.RouterTLS{Options: spec.DefaultTLSOptions}},
		{Name: "tls", Rule: "Host(`tls.test`)", Service: "tls"},
		{Name: "dead", Rule: "Host(`dead.test`)", Service: "dead"},
	}
	snap := lbSnap(routers, map[string]string{"h2c": "h2c://" + h2cAddr, "tls": "https://" + tlsAddr, "dead": "h2c://" + deadAddr})
	s, _ := startServer(t, snap, "--serversTransport.rootCAs="+caFile)
	addr := s.Addr("web")

	dial := func(authority string, creds credentials.TransportCredentials) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithAuthority(authority))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	checkGRPC(t, "h2c front door, h2c upstream", dial("h2c.test", insecure.NewCredentials()), h2cHealth)
	checkGRPC(t, "TLS front door, h2c upstream", dial("h2c.test", credentials.NewTLS(&tls.Config{ServerName: "h2c.test", InsecureSkipVerify: true})), h2cHealth)
	checkGRPC(t, "h2c front door, TLS upstream", dial("tls.test", insecure.NewCredentials()), tlsHealth)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(dial("dead.test", insecure.NewCredentials())).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("dead upstream: %v, want Unavailable", err)
	}
}
