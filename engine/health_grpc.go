package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// modeGRPC is the health check mode that asks the gRPC health protocol.
// Traefik compares the mode exactly: any other value (even "GRPC") is an
// HTTP check.
const modeGRPC = "grpc"

// checkGRPC is one probe in mode grpc, as Traefik's checkHealthGRPC: a
// fresh connection to the server's host and port (healthCheck.port
// overrides the port), one grpc.health.v1.Health/Check call for the
// server's overall health (the empty service name), bounded as a whole
// by the timeout. Only SERVING is healthy. The path, method, status,
// hostname, headers and followRedirects of the check do not apply, and
// neither does the service's ServersTransport.
//
// The connection is plaintext (h2c) when the check's scheme is empty,
// "http" or "h2c". For any other scheme Traefik sets no transport
// credentials at all, so grpc-go refuses to dial and every check fails
// ("no transport security set"): Traefik has no gRPC health check over
// TLS, and edgeroute reproduces that (the translator warns about it).
func (p *prober) checkGRPC(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if err := p.grpcHealth(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("checking gRPC health: %w", err)
	}
	return nil
}

func (p *prober) grpcHealth(ctx context.Context) error {
	port := p.target.Port()
	if p.cfg.Port != 0 {
		port = strconv.Itoa(p.cfg.Port)
	}
	addr := net.JoinHostPort(p.target.Hostname(), port)
	var opts []grpc.DialOption
	switch p.cfg.Scheme {
	case "", "http", "h2c":
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	// DialContext, as Traefik: it passes the address to the dialer as it
	// is (the passthrough resolver) and starts connecting at once, where
	// NewClient would resolve it through its own DNS resolver. Without
	// WithBlock it returns before the connection is made, so it fails
	// only on its options; the call below waits for the connection.
	conn, err := grpc.DialContext(ctx, addr, opts...) //nolint:staticcheck // see above
	if err != nil {
		return fmt.Errorf("fail to connect to %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		switch status.Code(err) {
		case codes.Unimplemented:
			return fmt.Errorf("gRPC server does not implement the health protocol: %w", err)
		case codes.DeadlineExceeded:
			return fmt.Errorf("gRPC health check timeout: %w", err)
		case codes.Canceled:
			return context.Canceled // the check was stopped
		}
		return fmt.Errorf("gRPC health check failed: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("received gRPC status code: %v", resp.GetStatus())
	}
	return nil
}
