package engine

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/tracing"
)

// tracing.* keys with Traefik's defaults (service traefik, rate 1, OTLP
// over HTTP to https://localhost:4318), the gRPC switch, every option,
// and the errors Traefik gives.
func TestStaticTracing(t *testing.T) {
	ptr := func(b bool) *bool { return &b }
	def := tracing.Defaults()
	for _, c := range []struct {
		args []string
		want *tracing.Config
		err  string
	}{
		{args: nil, want: nil},
		{args: []string{"--tracing"}, want: &def},
		{args: []string{"--tracing.otlp"}, want: &def},
		{args: []string{"--tracing=false"}, want: nil},
		{args: []string{"--tracing.otlp.http"}, want: &def},
		{args: []string{"--tracing.serviceName=edge", "--tracing.sampleRate=0.25", "--tracing.resourceAttributes.env=prod",
			"--tracing.capturedRequestHeaders=X-A,X-B", "--tracing.capturedResponseHeaders=X-C", "--tracing.safeQueryParams=q",
			"--tracing.otlp.http.endpoint=http://collector:4318/v1/traces", "--tracing.otlp.http.headers.authorization=Bearer x",
			"--tracing.otlp.http.tls.ca=/ca.pem", "--tracing.otlp.http.tls.insecureSkipVerify=true"},
			want: &tracing.Config{ServiceName: "edge", SampleRate: 0.25, ResourceAttributes: map[string]string{"env": "prod"},
				CapturedRequestHeaders: []string{"X-A", "X-B"}, CapturedResponseHeaders: []string{"X-C"}, SafeQueryParams: []string{"q"},
				HTTP: &tracing.HTTP{Endpoint: "http://collector:4318/v1/traces", Headers: map[string]string{"authorization": "Bearer x"},
					TLS: &tracing.ClientTLS{CA: "/ca.pem", InsecureSkipVerify: true}}}},
		{args: []string{"--tracing.otlp.grpc"}, want: &tracing.Config{ServiceName: "traefik", SampleRate: 1,
			HTTP: def.HTTP, GRPC: &tracing.GRPC{Endpoint: "localhost:4317"}}},
		{args: []string{"--tracing.otlp.grpc.endpoint=c:4317", "--tracing.otlp.grpc.insecure", "--tracing.otlp.grpc.headers.k=v"},
			want: &tracing.Config{ServiceName: "traefik", SampleRate: 1, HTTP: def.HTTP,
				GRPC: &tracing.GRPC{Endpoint: "c:4317", Insecure: true, Headers: map[string]string{"k": "v"}}}},
		// globalAttributes (deprecated) applies when resourceAttributes is not set.
		{args: []string{"--tracing.globalAttributes.a=1"}, want: &tracing.Config{ServiceName: "traefik", SampleRate: 1, HTTP: def.HTTP,
			ResourceAttributes: map[string]string{"a": "1"}}},
		{args: []string{"--tracing.globalAttributes.a=1", "--tracing.resourceAttributes.b=2"}, want: &tracing.Config{ServiceName: "traefik",
			SampleRate: 1, HTTP: def.HTTP, ResourceAttributes: map[string]string{"b": "2"}}},
		{args: []string{"--tracing.otlp.grpc.insecure", "--tracing.otlp.grpc.tls.ca=x"}, err: "TLS and Insecure options are mutually exclusive"},
		{args: []string{"--tracing.addInternals"}, err: "not supported"},
		{args: []string{"--tracing.sampleRate=half"}, err: "not a number"},
		{args: []string{"--tracing.otlp.grpc.bogus=1"}, err: "unknown"},
		{args: []string{"--tracing.zipkin"}, err: "unknown"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			s, err := ParseStatic(c.args)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Tracing, c.want) {
				t.Errorf("got %+v, want %+v", s.Tracing, c.want)
			}
		})
	}
	// The YAML file form, and the entry point's observability.
	f := t.TempDir() + "/c.yaml"
	os.WriteFile(f, []byte("tracing:\n  sampleRate: 0.5\n  otlp:\n    grpc:\n      endpoint: c:4317\n      insecure: true\n"+
		"entryPoints:\n  web:\n    address: ':80'\n    observability:\n      tracing: false\n      traceVerbosity: detailed\n      accessLogs: false\n"), 0o644)
	s, err := ParseStatic([]string{"--configFile=" + f})
	if err != nil {
		t.Fatal(err)
	}
	if s.Tracing.SampleRate != 0.5 || s.Tracing.GRPC == nil || !reflect.DeepEqual(*s.Tracing.GRPC, tracing.GRPC{Endpoint: "c:4317", Insecure: true}) {
		t.Errorf("yaml: %+v", s.Tracing)
	}
	if o := s.EntryPoints["web"].Observability; !reflect.DeepEqual(o, &spec.Observability{Tracing: ptr(false), AccessLogs: ptr(false), TraceVerbosity: "detailed"}) {
		t.Errorf("entry point observability %+v", o)
	}
	if _, err := ParseStatic([]string{"--entryPoints.web.address=:80", "--entryPoints.web.observability.traceVerbosity=loud"}); err == nil {
		t.Error("traceVerbosity loud accepted")
	}
}
