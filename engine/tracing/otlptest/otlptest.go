// Package otlptest runs a real OTLP trace receiver for tests: the
// OpenTelemetry Collector's own otlpreceiver (gRPC and HTTP protobuf, on
// 127.0.0.1 ports the system picks), feeding a sink that records every
// span it accepts.
package otlptest

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Receiver is a running OTLP receiver.
type Receiver struct {
	// GRPCAddr is the gRPC endpoint (host:port); HTTPURL the HTTP one's
	// base URL (http://host:port; traces go to /v1/traces).
	GRPCAddr, HTTPURL string

	sink *consumertest.TracesSink
	rcv  receiver.Traces
}

// Span is one received span, flattened.
type Span struct {
	TraceID, SpanID, ParentID string // hex; ParentID "" for a root span
	TraceState                string
	Name                      string
	Kind                      string // "Server", "Client", "Internal", ...
	Status                    string // "Unset", "Ok", "Error"
	StatusMessage             string
	Attrs                     map[string]any // string, int64, float64, bool, []any
	Resource                  map[string]any
	Scope                     string
	Start, End                time.Time
}

// Start runs a receiver until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(f.Type())
	set.Logger = zap.New(core)
	r := &Receiver{sink: new(consumertest.TracesSink)}
	rcv, err := f.CreateTraces(context.Background(), set, cfg, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	r.rcv = rcv
	t.Cleanup(func() { rcv.Shutdown(context.Background()) })
	// The receiver logs the addresses it bound ("Starting GRPC server",
	// endpoint=...).
	for _, e := range logs.All() {
		ep, _ := e.ContextMap()["endpoint"].(string)
		switch e.Message {
		case "Starting GRPC server":
			r.GRPCAddr = ep
		case "Starting HTTP server":
			r.HTTPURL = "http://" + ep
		}
	}
	if r.GRPCAddr == "" || r.HTTPURL == "" {
		t.Fatalf("otlptest: receiver addresses not logged: %v", logs.All())
	}
	return r
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	var out []Span
	for _, td := range r.sink.AllTraces() {
		out = append(out, flatten(td)...)
	}
	return out
}

// Reset forgets the spans received so far.
func (r *Receiver) Reset() { r.sink.Reset() }

// Wait returns the spans once at least n have arrived, failing the test
// after timeout.
func (r *Receiver) Wait(t testing.TB, n int, timeout time.Duration) []Span {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s := r.Spans(); len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("otlptest: %d spans after %v, want %d: %v", len(r.Spans()), timeout, n, r.Spans())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flatten(td ptrace.Traces) []Span {
	var out []Span
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		res := rs.Resource().Attributes().AsRaw()
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				s := ss.Spans().At(k)
				sp := Span{
					TraceID: hexID(s.TraceID()), SpanID: hexSpan(s.SpanID()), TraceState: s.TraceState().AsRaw(),
					Name: s.Name(), Kind: s.Kind().String(), Status: s.Status().Code().String(),
					StatusMessage: s.Status().Message(), Attrs: s.Attributes().AsRaw(), Resource: res,
					Scope: ss.Scope().Name(), Start: s.StartTimestamp().AsTime(), End: s.EndTimestamp().AsTime(),
				}
				if !s.ParentSpanID().IsEmpty() {
					sp.ParentID = hexSpan(s.ParentSpanID())
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

func hexID(id pcommon.TraceID) string  { return hex.EncodeToString(id[:]) }
func hexSpan(id pcommon.SpanID) string { return hex.EncodeToString(id[:]) }

// String prints a span briefly, for failure messages.
func (s Span) String() string {
	return fmt.Sprintf("%s %q trace=%s span=%s parent=%s", s.Kind, s.Name, s.TraceID, s.SpanID, s.ParentID)
}
