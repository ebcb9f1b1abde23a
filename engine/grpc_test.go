package engine

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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
	for _, impl := range h2Impls {
		t.Run(impl, func(t *testing.T) { testGRPC(t, impl) })
	}
}

func testGRPC(t *testing.T, impl string) {
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
		// A middleware that changes the response takes the answer off the
		// direct HTTP/2 relay; the trailers must still follow.
		{Name: "hdr", Rule: "Host(`hdr.test`)", Service: "h2c", Middlewares: []string{"hdr@kubernetescrd"}},
	}
	snap := withMiddlewares(lbSnap(routers, map[string]string{"h2c": "h2c://" + h2cAddr, "tls": "https://" + tlsAddr, "dead": "h2c://" + deadAddr}),
		mwDef("hdr@kubernetescrd", "headers", `{"customResponseHeaders":{"X-Edge":"1"}}`))
	s, _ := startServer(t, snap, "--serversTransport.rootCAs="+caFile, h2ImplArg(impl))
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
	checkGRPC(t, "h2c front door, response-changing middleware", dial("hdr.test", insecure.NewCredentials()), h2cHealth)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(dial("dead.test", insecure.NewCredentials())).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("dead upstream: %v, want Unavailable", err)
	}
}

// grpcWebCall posts one gRPC-Web message and returns the answer's
// messages, its trailer frame's fields and the response.
func grpcWebCall(t *testing.T, c *http.Client, url, host, ct string, msg []byte) ([][]byte, map[string]string, *http.Response) {
	t.Helper()
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	frame = append(frame, msg...)
	var body io.Reader = bytes.NewReader(frame)
	text := strings.HasPrefix(ct, "application/grpc-web-text")
	if text {
		body = strings.NewReader(base64.StdEncoding.EncodeToString(frame))
	}
	req, _ := http.NewRequest("POST", url, body)
	req.Host = host
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Grpc-Web", "1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if text {
		var dec []byte
		for s := string(raw); s != ""; {
			n := strings.IndexByte(s, '=')
			if n < 0 {
				n = len(s)
			}
			for n < len(s) && s[n] == '=' {
				n++
			}
			d, err := base64.StdEncoding.DecodeString(s[:n])
			if err != nil {
				t.Fatalf("base64 %q: %v", raw, err)
			}
			dec, s = append(dec, d...), s[n:]
		}
		raw = dec
	}
	var msgs [][]byte
	trailers := map[string]string{}
	for len(raw) >= 5 {
		n := binary.BigEndian.Uint32(raw[1:5])
		if raw[0]&0x80 != 0 {
			for _, line := range strings.Split(string(raw[5:5+n]), "\r\n") {
				if k, v, ok := strings.Cut(line, ": "); ok {
					trailers[k] = v
				}
			}
		} else {
			msgs = append(msgs, raw[5:5+n])
		}
		raw = raw[5+n:]
	}
	if len(raw) != 0 {
		t.Fatalf("%d bytes after the last frame", len(raw))
	}
	return msgs, trailers, resp
}

// gRPC-Web through the grpcWeb middleware to a real gRPC server (h2c),
// from HTTP/1.1 and from HTTP/2 (TLS) clients, binary and text: the
// answer's message, its status in the trailer frame, a trailers-only
// error, and a gRPC route without the middleware still gets its trailers
// on HTTP/1.1 (chunked) when a middleware changes the response.
func TestGRPCWeb(t *testing.T) {
	for _, impl := range h2Impls {
		t.Run(impl, func(t *testing.T) { testGRPCWeb(t, impl) })
	}
}

func testGRPCWeb(t *testing.T, impl string) {
	addr, _ := grpcBackend(t, nil)
	snap := withMiddlewares(lbSnap([]spec.Router{
		{Name: "web", Rule: "Host(`web.test`)", Service: "g", Middlewares: []string{"gw@kubernetescrd"}},
		{Name: "web-tls", Rule: "Host(`web.test`)", Service: "g", Middlewares: []string{"gw@kubernetescrd"}, TLS: &spec.RouterTLS{Options: spec.DefaultTLSOptions}},
	}, map[string]string{"g": "h2c://" + addr}),
		mwDef("gw@kubernetescrd", "grpcWeb", `{"allowOrigins":["*"]}`))
	s, base := startServer(t, snap, h2ImplArg(impl))
	h2 := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{ServerName: "web.test", InsecureSkipVerify: true}}}
	tlsBase := "https://" + s.Addr("web")

	req, _ := proto.Marshal(&healthpb.HealthCheckRequest{Service: "svc"})
	for _, c := range []struct {
		name, url string
		client    *http.Client
		ct        string
		proto     int
	}{
		{"HTTP/1.1 binary", base, http.DefaultClient, "application/grpc-web+proto", 1},
		{"HTTP/1.1 text", base, http.DefaultClient, "application/grpc-web-text", 1},
		{"HTTP/2 binary", tlsBase, h2, "application/grpc-web+proto", 2},
		{"HTTP/2 text", tlsBase, h2, "application/grpc-web-text+proto", 2},
	} {
		msgs, trailers, resp := grpcWebCall(t, c.client, c.url+"/grpc.health.v1.Health/Check", "web.test", c.ct, req)
		if resp.ProtoMajor != c.proto || resp.StatusCode != 200 {
			t.Fatalf("%s: %s %d", c.name, resp.Proto, resp.StatusCode)
		}
		if want := c.ct; resp.Header.Get("Content-Type") != want {
			t.Errorf("%s: Content-Type %q, want %q", c.name, resp.Header.Get("Content-Type"), want)
		}
		var hr healthpb.HealthCheckResponse
		if len(msgs) != 1 || proto.Unmarshal(msgs[0], &hr) != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s: messages %q", c.name, msgs)
		}
		if trailers["grpc-status"] != "0" {
			t.Errorf("%s: trailer frame %v", c.name, trailers)
		}
		if len(resp.Trailer) != 0 {
			t.Errorf("%s: HTTP trailers %v", c.name, resp.Trailer)
		}
	}
	// Unknown service: NOT_FOUND, trailers-only, so the status is a header.
	req, _ = proto.Marshal(&healthpb.HealthCheckRequest{Service: "nope"})
	msgs, trailers, resp := grpcWebCall(t, http.DefaultClient, base+"/grpc.health.v1.Health/Check", "web.test", "application/grpc-web+proto", req)
	if len(msgs) != 0 || len(trailers) != 0 || resp.Header.Get("Grpc-Status") != "5" {
		t.Errorf("trailers-only: %q %v %v", msgs, trailers, resp.Header)
	}
}
