// Package metrics records Traefik's Prometheus metrics (the traefik_*
// names, labels and buckets of its pkg/observability/metrics/prometheus.go)
// with github.com/VictoriaMetrics/metrics, and exposes them in the
// Prometheus text format.
//
// Recording is allocation-free: a Family (an entry point, a router, a
// service) finds the series of a request's method, protocol and status
// code through lock-free lookups; a series is created once, under a lock,
// the first time its label set is seen. Families are kept by name across
// configuration reloads, so counters never restart while the process
// lives.
package metrics

import (
	"crypto/tls"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Options are the static metrics.prometheus options.
type Options struct {
	// EntryPoints, Routers and Services are addEntryPointsLabels (default
	// true), addRoutersLabels (default false) and addServicesLabels
	// (default true): which request metrics are recorded.
	EntryPoints, Routers, Services bool
	// Buckets are the duration histograms' upper bounds, in seconds
	// (default 0.1, 0.3, 1.2, 5).
	Buckets []float64
}

// DefaultBuckets are Traefik's histogram buckets.
var DefaultBuckets = []float64{0.1, 0.3, 1.2, 5}

// Protocol is the protocol label of a request, as Traefik tells them.
type Protocol uint8

// The protocols, in Traefik's words.
const (
	HTTP Protocol = iota
	WebSocket
	SSE
	GRPC
	GRPCWeb
	numProtocols
)

var protocolNames = [numProtocols]string{"http", "websocket", "sse", "grpc", "grpc-web"}

// maxMethods bounds the distinct method labels of a family: a method is
// any token, and each would be a new series. Beyond it, further methods
// are counted as "OTHER" (Traefik labels every method as sent).
const maxMethods = 32

// Registry holds every metric of the process. It is safe for concurrent
// use.
type Registry struct {
	set  *vm.Set
	opts Options

	mu       sync.Mutex
	families map[string]*Family

	reloads     *vm.Counter
	lastSuccess atomic.Int64 // Unix seconds of the last successful reload
	failures    *vm.Counter
	gauges      map[string]bool // names of per-configuration gauges (server up, certificates)
}

// NewRegistry makes a registry with the process-wide metrics.
func NewRegistry(opts Options) *Registry {
	if len(opts.Buckets) == 0 {
		opts.Buckets = DefaultBuckets
	}
	// # TYPE lines, as Prometheus's client writes them: parsers then know
	// counters, gauges and histograms apart.
	vm.ExposeMetadata(true)
	r := &Registry{set: vm.NewSet(), opts: opts, families: map[string]*Family{}, gauges: map[string]bool{}}
	r.reloads = r.set.NewCounter("traefik_config_reloads_total")
	r.failures = r.set.NewCounter("traefik_config_reloads_failure_total")
	r.set.NewGauge("traefik_config_last_reload_success", func() float64 { return float64(r.lastSuccess.Load()) })
	return r
}

// Options returns the registry's options.
func (r *Registry) Options() Options { return r.opts }

// Reloaded counts a configuration reload; ok tells it applied.
func (r *Registry) Reloaded(ok bool) {
	r.reloads.Inc()
	if ok {
		r.lastSuccess.Store(time.Now().Unix())
	} else {
		r.failures.Inc()
	}
}

// OpenConnections registers traefik_open_connections of an entry point,
// read from count at each scrape.
func (r *Registry) OpenConnections(entryPoint string, count func() int) {
	name := "traefik_open_connections{" + label("entrypoint", entryPoint) + "," + label("protocol", "TCP") + "}"
	r.set.GetOrCreateGauge(name, func() float64 { return float64(count()) })
}

// Gauge is a configuration-dependent gauge: a server's health
// (traefik_service_server_up) or a certificate's expiry
// (traefik_tls_certs_not_after).
type Gauge struct {
	Name   string            // e.g. "traefik_service_server_up"
	Labels map[string]string // label values
	Value  func() float64
}

// SetGauges replaces the configuration-dependent gauges: those not in
// gs are unregistered, so that a removed server or certificate stops
// being reported.
func (r *Registry) SetGauges(gs []Gauge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := map[string]bool{}
	for _, g := range gs {
		keys := make([]string, 0, len(g.Labels))
		for k := range g.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = label(k, g.Labels[k])
		}
		name := g.Name + "{" + strings.Join(parts, ",") + "}"
		keep[name] = true
		if r.gauges[name] {
			r.set.UnregisterMetric(name) // its value function belongs to the old configuration
		}
		r.set.GetOrCreateGauge(name, g.Value)
	}
	for name := range r.gauges {
		if !keep[name] {
			r.set.UnregisterMetric(name)
		}
	}
	r.gauges = keep
}

// Write writes every metric in the Prometheus text format.
func (r *Registry) Write(w io.Writer) { r.set.WritePrometheus(w) }

// Family is the request metrics of one entry point, router or service.
type Family struct {
	reg    *Registry
	prefix string // "traefik_entrypoint"
	labels string // `entrypoint="web"`, escaped
	// methods maps a method to its series, copy-on-write.
	methods atomic.Pointer[map[string]*methodSeries]
	mu      sync.Mutex
	// retries is traefik_service_retries_total (services only).
	retries *vm.Counter
	// tls maps version<<16|cipher to traefik_entrypoint_requests_tls_total
	// (entry points only), copy-on-write.
	tls atomic.Pointer[map[uint32]*vm.Counter]
}

type methodSeries struct {
	label  string
	protos [numProtocols]atomic.Pointer[codeSeries]
}

// codeSeries holds a series per status code: HTTP's (100-599) and gRPC's
// (0-16); others share 0.
type codeSeries [600]atomic.Pointer[series]

type series struct {
	requests, reqBytes, respBytes *vm.Counter
	duration                      *vm.PrometheusHistogram
}

// EntryPoint returns the family of an entry point (nil when entry point
// metrics are off).
func (r *Registry) EntryPoint(name string) *Family {
	if !r.opts.EntryPoints {
		return nil
	}
	return r.family("traefik_entrypoint", label("entrypoint", name))
}

// Router returns the family of a router and its service (nil unless
// addRoutersLabels).
func (r *Registry) Router(router, service string) *Family {
	if !r.opts.Routers {
		return nil
	}
	return r.family("traefik_router", label("router", router)+","+label("service", service))
}

// Service returns the family of a service (nil when service metrics are
// off).
func (r *Registry) Service(name string) *Family {
	if !r.opts.Services {
		return nil
	}
	f := r.family("traefik_service", label("service", name))
	f.mu.Lock()
	if f.retries == nil {
		f.retries = r.set.GetOrCreateCounter("traefik_service_retries_total{" + f.labels + "}")
	}
	f.mu.Unlock()
	return f
}

func (r *Registry) family(prefix, labels string) *Family {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := prefix + "{" + labels
	if f := r.families[key]; f != nil {
		return f
	}
	f := &Family{reg: r, prefix: prefix, labels: labels}
	m := map[string]*methodSeries{}
	f.methods.Store(&m)
	r.families[key] = f
	return f
}

// Observe records one request: its method, protocol, status code (for
// gRPC, its grpc-status, as Traefik), duration and body sizes. It is
// allocation-free once the label set has been seen.
func (f *Family) Observe(method []byte, proto Protocol, code int, d time.Duration, reqBytes, respBytes int64) {
	ms := (*f.methods.Load())[string(method)]
	if ms == nil {
		ms = f.newMethod(method)
	}
	if proto >= numProtocols {
		proto = HTTP
	}
	cs := ms.protos[proto].Load()
	if cs == nil {
		f.mu.Lock()
		if cs = ms.protos[proto].Load(); cs == nil {
			cs = new(codeSeries)
			ms.protos[proto].Store(cs)
		}
		f.mu.Unlock()
	}
	if code < 0 || code > 599 {
		code = 0 // gRPC status codes are small; anything outside HTTP's range shares 0
	}
	s := cs[code].Load()
	if s == nil {
		s = f.newSeries(ms, proto, code, cs)
	}
	s.requests.Inc()
	s.duration.Update(d.Seconds())
	if reqBytes > 0 {
		s.reqBytes.AddInt64(reqBytes)
	}
	if respBytes > 0 {
		s.respBytes.AddInt64(respBytes)
	}
}

// Retried counts retries of a service's requests.
func (f *Family) Retried(n int) {
	if f.retries != nil && n > 0 {
		f.retries.Add(n)
	}
}

// ObserveTLS counts a request over TLS (entry points):
// traefik_entrypoint_requests_tls_total{tls_version,tls_cipher}, with
// Traefik's names ("1.3", Go's suite name).
func (f *Family) ObserveTLS(version, cipher uint16) {
	key := uint32(version)<<16 | uint32(cipher)
	if m := f.tls.Load(); m != nil {
		if c := (*m)[key]; c != nil {
			c.Inc()
			return
		}
	}
	f.mu.Lock()
	old := f.tls.Load()
	m := map[uint32]*vm.Counter{}
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	c := m[key]
	if c == nil {
		c = f.reg.set.GetOrCreateCounter(f.prefix + "_requests_tls_total{" + f.labels + "," +
			label("tls_cipher", cipherName(cipher)) + "," + label("tls_version", versionName(version)) + "}")
		m[key] = c
		f.tls.Store(&m)
	}
	f.mu.Unlock()
	c.Inc()
}

// TLSVersionName and TLSCipherName are Traefik's names of a TLS version
// ("1.3") and suite (Go's name), as metrics and access logs use them.
func TLSVersionName(v uint16) string { return versionName(v) }

// TLSCipherName: see TLSVersionName.
func TLSCipherName(c uint16) string { return cipherName(c) }

// versionName is Traefik's GetVersion.
func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return "unknown"
}

// cipherName is Traefik's GetCipherName: Go's name of the suite.
func cipherName(c uint16) string {
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if s.ID == c {
			return s.Name
		}
	}
	return "unknown"
}

func (f *Family) newMethod(method []byte) *methodSeries {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.methods.Load()
	if ms := old[string(method)]; ms != nil {
		return ms
	}
	name := string(method)
	if len(old) >= maxMethods {
		if ms := old["OTHER"]; ms != nil {
			return ms
		}
		name = "OTHER"
	}
	ms := &methodSeries{label: name}
	m := make(map[string]*methodSeries, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = ms
	f.methods.Store(&m)
	return ms
}

func (f *Family) newSeries(ms *methodSeries, proto Protocol, code int, cs *codeSeries) *series {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := cs[code].Load(); s != nil {
		return s
	}
	codeLabel := strconv.Itoa(code)
	labels := "{" + label("code", codeLabel) + "," + f.labels + "," + label("method", ms.label) + "," +
		label("protocol", protocolNames[proto]) + "}"
	set := f.reg.set
	s := &series{
		requests:  set.GetOrCreateCounter(f.prefix + "_requests_total" + labels),
		reqBytes:  set.GetOrCreateCounter(f.prefix + "_requests_bytes_total" + labels),
		respBytes: set.GetOrCreateCounter(f.prefix + "_responses_bytes_total" + labels),
		duration:  set.GetOrCreatePrometheusHistogramExt(f.prefix+"_request_duration_seconds"+labels, f.reg.opts.Buckets),
	}
	cs[code].Store(s)
	return s
}

// label formats name="value" with the text format's escapes.
func label(name, value string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
