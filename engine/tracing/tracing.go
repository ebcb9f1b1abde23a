// Package tracing exports OpenTelemetry traces of the requests edgeroute
// serves, as Traefik v3 does (pkg/observability/tracing and
// pkg/middlewares/observability): an entry point span (kind server, named
// by the method) per request, and a "ReverseProxy" span (kind client) per
// request sent upstream, whose context goes upstream in the W3C
// traceparent header (and whatever else OTEL_PROPAGATORS names; tracecontext
// and baggage by default). An incoming traceparent is continued. With the
// detailed verbosity the router, each middleware and the service get spans
// of their own (kind internal) in between.
//
// Spans go to an OTLP collector over HTTP (protobuf) or gRPC through the
// OpenTelemetry SDK's batch span processor: ending a span only queues it
// (a full queue drops spans), so a slow or absent collector never delays
// a request. Nothing here runs when tracing is off: the engine holds a nil
// *Tracer and never calls in.
package tracing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding/gzip"
)

// Config is the static tracing configuration (Traefik's tracing.*).
type Config struct {
	ServiceName             string            // default "traefik"
	SampleRate              float64           // default 1.0
	ResourceAttributes      map[string]string // resourceAttributes (globalAttributes, deprecated, when unset)
	CapturedRequestHeaders  []string
	CapturedResponseHeaders []string
	SafeQueryParams         []string
	// GRPC, when set, exports over gRPC; otherwise HTTP does (HTTP is
	// never nil after Defaults).
	GRPC *GRPC
	HTTP *HTTP
}

// HTTP is tracing.otlp.http.
type HTTP struct {
	Endpoint string // scheme://host:port/path, default https://localhost:4318 (path /v1/traces)
	Headers  map[string]string
	TLS      *ClientTLS
}

// GRPC is tracing.otlp.grpc.
type GRPC struct {
	Endpoint string // host:port, default localhost:4317
	Insecure bool
	Headers  map[string]string
	TLS      *ClientTLS
}

// ClientTLS is Traefik's ClientTLS: CA, Cert and Key are each a file
// path or the PEM itself.
type ClientTLS struct {
	CA, Cert, Key      string
	InsecureSkipVerify bool
}

// Defaults returns Traefik's defaults: service "traefik", every request
// sampled, OTLP over HTTP to https://localhost:4318.
func Defaults() Config {
	return Config{ServiceName: "traefik", SampleRate: 1, HTTP: &HTTP{Endpoint: "https://localhost:4318"}}
}

// DefaultGRPC is tracing.otlp.grpc's default.
func DefaultGRPC() *GRPC { return &GRPC{Endpoint: "localhost:4317"} }

// Check validates what Traefik validates at start.
func (c *Config) Check() error {
	if g := c.GRPC; g != nil && g.TLS != nil && g.Insecure {
		return errors.New("tracing OTLP GRPC: TLS and Insecure options are mutually exclusive")
	}
	return nil
}

// scope is the instrumentation scope of every span: Traefik's, so that
// queries written for Traefik's traces find edgeroute's.
const scope = "github.com/traefik/traefik"

// Tracer makes the spans of requests. Its methods are safe for
// concurrent use.
type Tracer struct {
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TextMapPropagator

	safeQuery               []string
	capturedRequestHeaders  []string // canonical
	capturedResponseHeaders []string
	reqHeaderKeys           []attribute.Key // http.request.header.<lower name>
	respHeaderKeys          []attribute.Key
}

// New sets up the exporter and the tracer provider: batch span
// processor, parent-based sampling at cfg.SampleRate, and Traefik's
// resource (service name and version, host, OS, process, container,
// then resourceAttributes, then OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME).
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Tracer, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.HTTP == nil && cfg.GRPC == nil {
		cfg.HTTP = Defaults().HTTP
	}
	var (
		exp *otlptrace.Exporter
		err error
	)
	if cfg.GRPC != nil {
		exp, err = grpcExporter(cfg.GRPC)
	} else {
		exp, err = httpExporter(cfg.HTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: setting up exporter: %w", err)
	}
	// process.owner is looked up from USER, as in Traefik (which sets it
	// when empty so that the lookup does not fail in scratch images).
	if os.Getenv("USER") == "" {
		os.Setenv("USER", "traefik")
	}
	var attrs []attribute.KeyValue
	for k, v := range cfg.ResourceAttributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	res, err := resource.New(ctx,
		resource.WithContainer(),
		resource.WithHost(),
		resource.WithOS(),
		resource.WithProcess(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(version())),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: building resource: %w", err)
	}
	if log != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("tracing", "error", err)
		}))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRate))),
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(exp)),
	)
	t := &Tracer{tp: tp, tr: tp.Tracer(scope), prop: autoprop.NewTextMapPropagator(),
		safeQuery:               cfg.SafeQueryParams,
		capturedRequestHeaders:  canonical(cfg.CapturedRequestHeaders),
		capturedResponseHeaders: canonical(cfg.CapturedResponseHeaders)}
	for _, h := range t.capturedRequestHeaders {
		t.reqHeaderKeys = append(t.reqHeaderKeys, attribute.Key("http.request.header."+lower(h)))
	}
	for _, h := range t.capturedResponseHeaders {
		t.respHeaderKeys = append(t.respHeaderKeys, attribute.Key("http.response.header."+lower(h)))
	}
	return t, nil
}

// Shutdown exports the spans still queued (for up to 5 s, as Traefik)
// and stops the exporter.
func (t *Tracer) Shutdown() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.tp.Shutdown(ctx)
}

// ForceFlush exports the queued spans now (tests).
func (t *Tracer) ForceFlush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

func httpExporter(c *HTTP) (*otlptrace.Exporter, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("invalid collector endpoint %q: %w", c.Endpoint, err)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpoint(u.Host),
		otlptracehttp.WithHeaders(c.Headers),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
	}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if u.Path != "" {
		opts = append(opts, otlptracehttp.WithURLPath(u.Path))
	}
	if c.TLS != nil {
		cfg, err := c.TLS.config()
		if err != nil {
			return nil, fmt.Errorf("creating TLS client config: %w", err)
		}
		opts = append(opts, otlptracehttp.WithTLSClientConfig(cfg))
	}
	return otlptrace.New(context.Background(), otlptracehttp.NewClient(opts...))
}

func grpcExporter(c *GRPC) (*otlptrace.Exporter, error) {
	host, port, err := net.SplitHostPort(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("invalid collector endpoint %q: %w", c.Endpoint, err)
	}
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(net.JoinHostPort(host, port)),
		otlptracegrpc.WithHeaders(c.Headers),
		otlptracegrpc.WithCompressor(gzip.Name),
	}
	if c.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	if c.TLS != nil {
		cfg, err := c.TLS.config()
		if err != nil {
			return nil, fmt.Errorf("creating TLS client config: %w", err)
		}
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(cfg)))
	}
	return otlptrace.New(context.Background(), otlptracegrpc.NewClient(opts...))
}

// config is Traefik's ClientTLS.CreateTLSConfig: the system roots unless
// a CA is given; a certificate needs its key.
func (c *ClientTLS) config() (*tls.Config, error) {
	var pool *x509.CertPool
	if c.CA != "" {
		ca := []byte(c.CA)
		if _, err := os.Stat(c.CA); err == nil {
			if ca, err = os.ReadFile(c.CA); err != nil {
				return nil, fmt.Errorf("failed to read CA. %w", err)
			}
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("failed to parse CA")
		}
	}
	if (c.Cert != "") != (c.Key != "") {
		return nil, errors.New("both TLS cert and key must be defined")
	}
	cfg := &tls.Config{RootCAs: pool, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.Cert == "" {
		return cfg, nil
	}
	pair, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
	if err != nil {
		if _, err := os.Stat(c.Cert); err != nil {
			return nil, errors.New("cert file does not exist")
		}
		if _, err := os.Stat(c.Key); err != nil {
			return nil, errors.New("key file does not exist")
		}
		if pair, err = tls.LoadX509KeyPair(c.Cert, c.Key); err != nil {
			return nil, err
		}
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg, nil
}

// version is service.version: the main module's version, else "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func canonical(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = http.CanonicalHeaderKey(h)
	}
	return out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
