package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/edgeroute/edgeroute/engine/accesslog"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/tracing"
)

// Static is the static configuration, with Traefik's key names. It comes
// from flags (--entryPoints.web.address=:8000) and, optionally, a YAML file
// (--configFile); keys are case-insensitive, as in Traefik.
type Static struct {
	EntryPoints map[string]*EntryPoint
	// ManifestsDir is --providers.manifests.directory: a folder of
	// Kubernetes manifests to serve from.
	ManifestsDir string
	// ManifestsDebounce is --providers.manifests.debounce: how long the
	// folder must be quiet before a rebuild; 0 keeps the provider's
	// default (100ms).
	ManifestsDebounce time.Duration
	// KubernetesCRD is set by --providers.kubernetesCRD, or by any of its
	// options when no manifests folder is given (as in Traefik, where
	// configuring a provider enables it): watch a live cluster.
	KubernetesCRD bool
	// Kube holds the cluster connection options of the kubernetesCRD
	// provider.
	Kube KubeOptions
	// IngressClass is providers.kubernetesCRD.ingressClass: only routes of
	// this class (spec.ingressClassName, else the kubernetes.io/ingress.class
	// annotation) are served; empty serves those without a class.
	IngressClass string
	// Ping is ping: the router ping@internal (PathPrefix(`/ping`)) on
	// PingEntryPoint ("traefik"), unless PingManualRouting leaves the
	// routing of ping@internal to IngressRoutes.
	Ping              bool
	PingEntryPoint    string
	PingManualRouting bool
	// Metrics is metrics.prometheus; nil when off.
	Metrics *Metrics
	// API is api: Traefik's API and dashboard; nil when off.
	API *API
	// AccessLog is accessLog; nil when off.
	AccessLog *accesslog.Config
	// Tracing is tracing: OpenTelemetry traces over OTLP; nil when off.
	Tracing *tracing.Config
	// globalAttributes is tracing.globalAttributes (deprecated): the
	// resource attributes when resourceAttributes is not set.
	globalAttributes map[string]string
	// AllowCrossNamespace, AllowExternalNameServices, AllowEmptyServices and
	// NativeLBByDefault are the kubernetesCRD provider options, which apply to
	// the manifests provider too.
	AllowCrossNamespace       bool
	AllowExternalNameServices bool
	AllowEmptyServices        bool
	NativeLBByDefault         bool
	// ServersTransport is the static serversTransport (Traefik's
	// default@internal): how https upstreams of load balancers that name
	// no ServersTransport are verified.
	ServersTransport ServersTransport
	// CertResolvers are certificatesResolvers.NAME.acme, by lower-case
	// name.
	CertResolvers map[string]*acme.Config
	// GraceTimeout bounds the drain on SIGTERM
	// (entryPoints.NAME.transport.lifeCycle.graceTimeOut).
	GraceTimeout time.Duration
}

// Metrics is metrics.prometheus: Traefik's Prometheus metrics, served as
// /metrics on EntryPoint.
type Metrics struct {
	EntryPoint                                                string // default "traefik"
	AddEntryPointsLabels, AddRoutersLabels, AddServicesLabels bool
	Buckets                                                   []float64
	// ManualRouting leaves the routing of prometheus@internal to
	// IngressRoutes: no router prometheus@internal on EntryPoint.
	ManualRouting bool
}

// API is api: the API (api@internal) and the dashboard
// (dashboard@internal), with Traefik's defaults.
type API struct {
	// Insecure serves them on the entry point named traefik (Traefik's
	// routers api@internal and dashboard@internal); otherwise only an
	// IngressRoute to the internal services reaches them.
	Insecure  bool
	Dashboard bool   // default true
	BasePath  string // default "/"
	// DisableDashboardAd and DashboardName are reported by /api/version.
	DisableDashboardAd bool
	DashboardName      string
}

// validBasePath is Traefik's check of api.basePath.
var validBasePath = regexp.MustCompile(`^/[a-zA-Z0-9/_.:~-]*$`)

// ServersTransport is serversTransport.{rootCAs,insecureSkipVerify}.
type ServersTransport struct {
	RootCAs            []string // PEM files added to the system roots
	InsecureSkipVerify bool
}

// UpstreamTLS is the TLS client configuration of https upstreams: the
// system roots plus RootCAs.
func (t ServersTransport) UpstreamTLS() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify}
	if len(t.RootCAs) == 0 {
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range t.RootCAs {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("serversTransport.rootCAs: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("serversTransport.rootCAs: %s holds no PEM certificate", f)
		}
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// KubeOptions are the kubernetesCRD provider's connection options, with
// Traefik's names and defaults.
type KubeOptions struct {
	Endpoint         string // API server URL; in-cluster or KUBECONFIG otherwise
	Token            string // bearer token
	CertAuthFilePath string // CA bundle of the API server
	Namespaces       []string
	LabelSelector    string        // for the traefik.io kinds only
	ThrottleDuration time.Duration // minimum time between two rebuilds
	set              bool          // some option was given
}

// EntryPoint is one listener.
type EntryPoint struct {
	Name string
	// Index numbers the entry points by name, from 0, so that a request
	// finds its entry point's tables by index rather than by name.
	Index            int
	Address          string
	AsDefault        bool
	ForwardedHeaders ForwardedHeaders
	SanitizePath     bool
	// EncodedCharacters is entryPoints.NAME.http.encodedCharacters: which
	// encoded characters the entry point's routers refuse (nil: none).
	EncodedCharacters *EncodedCharacters
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// Middlewares is entryPoints.NAME.http.middlewares: middlewares run
	// before those of every router of the entry point ("name@provider";
	// a name without a provider is the kubernetescrd one).
	Middlewares []string
	// TLS is entryPoints.NAME.http.tls: every router on the entry point
	// becomes a TLS router (with these options unless it names its own).
	TLS *EntryPointTLS
	// Observability is entryPoints.NAME.observability: the defaults of
	// its routers' access logs, metrics and tracing (nil: all on,
	// minimal verbosity).
	Observability *spec.Observability
	// HTTP2 is entryPoints.NAME.http2.
	HTTP2 EntryPointHTTP2
}

// EntryPointHTTP2 is entryPoints.NAME.http2: Traefik's three limits (0
// is Go's default: 250 streams, 4096-byte tables) and which HTTP/2 front
// door serves the entry point.
type EntryPointHTTP2 struct {
	MaxConcurrentStreams      int
	MaxDecoderHeaderTableSize int
	MaxEncoderHeaderTableSize int
	// Implementation is "native" (edgeroute's own framing, the
	// default) or "std" (Go's net/http server), kept for one release
	// to compare and fall back.
	Implementation string
}

// EntryPointTLS is entryPoints.NAME.http.tls.
type EntryPointTLS struct {
	// Options names the TLS options ("default", or a TLSOption as
	// "namespace-name@kubernetescrd").
	Options string
}

// ForwardedHeaders is entryPoints.NAME.forwardedHeaders.
type ForwardedHeaders struct {
	Insecure   bool
	TrustedIPs []string
}

// DefaultEntryPoints is what runs when none is configured: the entry points
// of Traefik's Helm chart.
var DefaultEntryPoints = map[string]string{"web": ":8000", "websecure": ":8443", "traefik": ":8080"}

// accessLogField restores the case of an access-log field name, which
// key parsing lowered ("downstreamstatus" -> "DownstreamStatus").
func accessLogField(lower string) string {
	for _, f := range accesslog.FieldNames {
		if strings.EqualFold(f, lower) {
			return f
		}
	}
	return lower
}

func newAPI() *API { return &API{Dashboard: true, BasePath: "/"} }

func newMetrics() *Metrics {
	return &Metrics{EntryPoint: "traefik", AddEntryPointsLabels: true, AddServicesLabels: true}
}

func newEntryPoint(name string) *EntryPoint {
	return &EntryPoint{
		Name:         name,
		SanitizePath: true,
		ReadTimeout:  60 * time.Second,
		IdleTimeout:  180 * time.Second,
		HTTP2:        EntryPointHTTP2{Implementation: "native"},
	}
}

// ParseStatic reads the static configuration from command-line arguments of
// the form --key=value or --key (true). --configFile=PATH reads a YAML file
// first; flags override it. Unknown keys are errors: a key that is silently
// ignored is a bug report waiting to happen.
func ParseStatic(args []string) (*Static, error) {
	kv := map[string]string{}
	var order []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("unexpected argument %q (flags are --key=value)", a)
		}
		k, v, ok := strings.Cut(a[2:], "=")
		if !ok {
			v = "true"
		}
		lk := strings.ToLower(k)
		if _, seen := kv[lk]; !seen {
			order = append(order, lk)
		}
		kv[lk] = v
	}
	flat := map[string]string{}
	var keys []string
	if f, ok := kv["configfile"]; ok {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading --configFile: %w", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", f, err)
		}
		flatten("", doc, flat)
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	for _, k := range order {
		if k == "configfile" {
			continue
		}
		if _, ok := flat[k]; !ok {
			keys = append(keys, k)
		}
		flat[k] = kv[k]
	}
	s := &Static{EntryPoints: map[string]*EntryPoint{}, GraceTimeout: 10 * time.Second}
	for _, k := range keys {
		if err := s.set(k, flat[k]); err != nil {
			return nil, err
		}
	}
	switch {
	case s.KubernetesCRD && s.ManifestsDir != "":
		return nil, errors.New("--providers.kubernetesCRD and --providers.manifests.directory: edgeroute serves one provider at a time")
	case s.Kube.set && s.ManifestsDir == "":
		// As in Traefik, configuring the provider enables it. With a
		// manifests folder, its options apply to the folder instead.
		s.KubernetesCRD = true
	}
	if m := s.Metrics; m != nil && !m.ManualRouting && s.EntryPoints[m.EntryPoint] == nil && len(s.EntryPoints) > 0 && m.EntryPoint != "traefik" {
		return nil, fmt.Errorf("--metrics.prometheus.entryPoint: no entry point %q", m.EntryPoint)
	}
	if s.API != nil && !validBasePath.MatchString(s.API.BasePath) {
		return nil, errors.New("API basePath must be a valid absolute URL path")
	}
	if t := s.Tracing; t != nil {
		if t.ResourceAttributes == nil && s.globalAttributes != nil {
			t.ResourceAttributes = s.globalAttributes
		}
		if err := t.Check(); err != nil {
			return nil, err
		}
	}
	if s.PingEntryPoint == "" {
		s.PingEntryPoint = "traefik"
	}
	if s.Ping && !s.PingManualRouting && s.PingEntryPoint != "traefik" && s.EntryPoints[s.PingEntryPoint] == nil && len(s.EntryPoints) > 0 {
		return nil, fmt.Errorf("--ping.entryPoint: no entry point %q", s.PingEntryPoint)
	}
	internal := s.Ping && !s.PingManualRouting && s.PingEntryPoint == "traefik" ||
		s.API != nil && s.API.Insecure ||
		s.Metrics != nil && !s.Metrics.ManualRouting && s.Metrics.EntryPoint == "traefik"
	if internal && s.EntryPoints["traefik"] == nil && len(s.EntryPoints) > 0 {
		// As in Traefik, the internal entry point is made when ping, the
		// insecure API or the metrics ask for it.
		ep := newEntryPoint("traefik")
		ep.Address = DefaultEntryPoints["traefik"]
		s.EntryPoints["traefik"] = ep
	}
	if len(s.EntryPoints) == 0 {
		for name, addr := range DefaultEntryPoints {
			ep := newEntryPoint(name)
			ep.Address = addr
			s.EntryPoints[name] = ep
		}
	}
	names := make([]string, 0, len(s.EntryPoints))
	for name := range s.EntryPoints {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		s.EntryPoints[name].Index = i
	}
	for name, ep := range s.EntryPoints {
		if ep.Address == "" {
			return nil, fmt.Errorf("entryPoints.%s.address is required", name)
		}
		if _, _, err := net.SplitHostPort(strings.TrimSuffix(ep.Address, "/tcp")); err != nil {
			return nil, fmt.Errorf("entryPoints.%s.address %q: %v", name, ep.Address, err)
		}
	}
	if err := s.validateResolvers(); err != nil {
		return nil, err
	}
	return s, nil
}

// flatten turns nested YAML maps into dotted lower-case keys.
func flatten(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 && prefix != "" {
			out[prefix] = "true" // "ping: {}" enables ping
		}
		for k, sub := range v {
			key := strings.ToLower(k)
			if prefix != "" {
				key = prefix + "." + key
			}
			flatten(key, sub, out)
		}
	case []any:
		var parts []string
		for _, x := range v {
			parts = append(parts, fmt.Sprint(x))
		}
		out[prefix] = strings.Join(parts, ",")
	case nil:
		out[prefix] = "true"
	default:
		out[prefix] = fmt.Sprint(v)
	}
}

func (s *Static) set(key, val string) error {
	parts := strings.Split(key, ".")
	bad := func(err error) error { return fmt.Errorf("--%s=%s: %v", key, val, err) }
	boolean := func(dst *bool) error {
		b, err := strconv.ParseBool(val)
		if err != nil {
			return bad(err)
		}
		*dst = b
		return nil
	}
	// nonNegative reads an int32 that Traefik refuses below zero.
	nonNegative := func(dst *int, what string) error {
		n, err := strconv.ParseInt(val, 10, 32)
		if err != nil {
			return bad(err)
		}
		if n < 0 {
			return bad(fmt.Errorf("%s value must be greater than or equal to zero", what))
		}
		*dst = int(n)
		return nil
	}
	duration := func(dst *time.Duration) error {
		d, err := spec.ParseDuration(val)
		if err != nil {
			return bad(err)
		}
		*dst = d
		return nil
	}
	switch {
	case parts[0] == "entrypoints" && len(parts) >= 3:
		name := parts[1]
		var ep *EntryPoint
		for n, e := range s.EntryPoints {
			if strings.EqualFold(n, name) {
				ep = e
			}
		}
		if ep == nil {
			ep = newEntryPoint(name)
			s.EntryPoints[name] = ep
		}
		switch sub := strings.Join(parts[2:], "."); sub {
		case "address":
			ep.Address = val
			return nil
		case "asdefault":
			return boolean(&ep.AsDefault)
		case "forwardedheaders.insecure":
			return boolean(&ep.ForwardedHeaders.Insecure)
		case "forwardedheaders.trustedips":
			ep.ForwardedHeaders.TrustedIPs = splitList(val)
			return nil
		case "http.middlewares":
			ep.Middlewares = splitList(val)
			return nil
		case "http.sanitizepath":
			return boolean(&ep.SanitizePath)
		case "http.encodedcharacters":
			var on bool
			if err := boolean(&on); err != nil {
				return err
			}
			if !on {
				ep.EncodedCharacters = nil
			} else if ep.EncodedCharacters == nil {
				ep.EncodedCharacters = allowAllEncoded()
			}
			return nil
		case "http.encodedcharacters.allowencodedslash", "http.encodedcharacters.allowencodedbackslash",
			"http.encodedcharacters.allowencodednullcharacter", "http.encodedcharacters.allowencodedsemicolon",
			"http.encodedcharacters.allowencodedpercent", "http.encodedcharacters.allowencodedquestionmark",
			"http.encodedcharacters.allowencodedhash":
			if ep.EncodedCharacters == nil {
				ep.EncodedCharacters = allowAllEncoded()
			}
			return boolean(ep.EncodedCharacters.field(strings.TrimPrefix(sub, "http.encodedcharacters.")))
		case "http.tls":
			var on bool
			if err := boolean(&on); err != nil {
				return err
			}
			if !on {
				ep.TLS = nil
			} else if ep.TLS == nil {
				ep.TLS = &EntryPointTLS{}
			}
			return nil
		case "http.tls.options":
			if ep.TLS == nil {
				ep.TLS = &EntryPointTLS{}
			}
			ep.TLS.Options = val
			return nil
		case "observability.accesslogs", "observability.metrics", "observability.tracing":
			if ep.Observability == nil {
				ep.Observability = &spec.Observability{}
			}
			var b bool
			if err := boolean(&b); err != nil {
				return err
			}
			switch parts[len(parts)-1] {
			case "accesslogs":
				ep.Observability.AccessLogs = &b
			case "metrics":
				ep.Observability.Metrics = &b
			default:
				ep.Observability.Tracing = &b
			}
			return nil
		case "observability.traceverbosity":
			if val != "minimal" && val != "detailed" {
				return bad(errors.New("one of minimal, detailed"))
			}
			if ep.Observability == nil {
				ep.Observability = &spec.Observability{}
			}
			ep.Observability.TraceVerbosity = val
			return nil
		case "http.tls.certresolver":
			return bad(errors.New("an entry point's default certificate resolver is not supported by edgeroute yet; set tls.certResolver on the IngressRoutes"))
		case "transport.respondingtimeouts.readtimeout":
			return duration(&ep.ReadTimeout)
		case "transport.respondingtimeouts.writetimeout":
			return duration(&ep.WriteTimeout)
		case "transport.respondingtimeouts.idletimeout":
			return duration(&ep.IdleTimeout)
		case "http2.maxconcurrentstreams":
			return nonNegative(&ep.HTTP2.MaxConcurrentStreams, "max concurrent streams")
		case "http2.maxdecoderheadertablesize":
			return nonNegative(&ep.HTTP2.MaxDecoderHeaderTableSize, "max decoder header table size")
		case "http2.maxencoderheadertablesize":
			return nonNegative(&ep.HTTP2.MaxEncoderHeaderTableSize, "max encoder header table size")
		case "http2.implementation":
			switch v := strings.ToLower(val); v {
			case "native", "std":
				ep.HTTP2.Implementation = v
				return nil
			}
			return bad(errors.New(`the HTTP/2 implementation is "native" or "std"`))
		case "transport.lifecycle.gracetimeout":
			return duration(&s.GraceTimeout) // the longest entry point's wins
		}
	case parts[0] == "certificatesresolvers" && len(parts) >= 2:
		return s.setResolver(key, parts, val)
	case key == "providers.manifests.directory":
		s.ManifestsDir = val
		return nil
	case key == "providers.manifests.debounce":
		// The watcher rebuilds at most 1s after the first change, so a
		// longer quiet time would mean nothing.
		if err := duration(&s.ManifestsDebounce); err != nil {
			return err
		}
		if s.ManifestsDebounce <= 0 || s.ManifestsDebounce > time.Second {
			return bad(errors.New("the debounce must be more than 0 and at most 1s"))
		}
		return nil
	case key == "providers.kubernetescrd":
		return boolean(&s.KubernetesCRD)
	case key == "providers.kubernetescrd.endpoint":
		s.Kube.Endpoint, s.Kube.set = val, true
		return nil
	case key == "providers.kubernetescrd.token":
		s.Kube.Token, s.Kube.set = val, true
		return nil
	case key == "providers.kubernetescrd.certauthfilepath":
		s.Kube.CertAuthFilePath, s.Kube.set = val, true
		return nil
	case key == "providers.kubernetescrd.namespaces":
		s.Kube.Namespaces, s.Kube.set = splitList(val), true
		return nil
	case key == "providers.kubernetescrd.labelselector":
		s.Kube.LabelSelector, s.Kube.set = val, true
		return nil
	case key == "providers.kubernetescrd.ingressclass":
		s.IngressClass, s.Kube.set = val, true
		return nil
	case key == "providers.kubernetescrd.throttleduration":
		s.Kube.set = true
		return duration(&s.Kube.ThrottleDuration)
	case key == "providers.kubernetescrd.allowcrossnamespace":
		s.Kube.set = true
		return boolean(&s.AllowCrossNamespace)
	case key == "providers.kubernetescrd.allowexternalnameservices":
		s.Kube.set = true
		return boolean(&s.AllowExternalNameServices)
	case key == "providers.kubernetescrd.allowemptyservices":
		s.Kube.set = true
		return boolean(&s.AllowEmptyServices)
	case key == "providers.kubernetescrd.nativelbbydefault":
		s.Kube.set = true
		return boolean(&s.NativeLBByDefault)
	case key == "serverstransport.rootcas":
		s.ServersTransport.RootCAs = splitList(val)
		_, err := s.ServersTransport.UpstreamTLS()
		return err
	case key == "serverstransport.insecureskipverify":
		return boolean(&s.ServersTransport.InsecureSkipVerify)
	case key == "ping":
		return boolean(&s.Ping)
	case key == "ping.entrypoint":
		s.Ping, s.PingEntryPoint = true, val // an option enables it, as in Traefik
		return nil
	case key == "ping.manualrouting":
		s.Ping = true
		return boolean(&s.PingManualRouting)
	case key == "accesslog":
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if !on {
			s.AccessLog = nil
		} else if s.AccessLog == nil {
			s.AccessLog = &accesslog.Config{}
		}
		return nil
	case strings.HasPrefix(key, "accesslog."):
		if s.AccessLog == nil {
			s.AccessLog = &accesslog.Config{} // an option enables it, as in Traefik
		}
		a := s.AccessLog
		opt := strings.TrimPrefix(key, "accesslog.")
		switch {
		case opt == "filepath":
			a.FilePath = val
			return nil
		case opt == "format":
			a.Format = val
			return nil
		case opt == "bufferingsize":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("--%s: %q is not a number of lines", key, val)
			}
			a.BufferingSize = n
			return nil
		case opt == "filters.statuscodes":
			a.Filters.StatusCodes = splitList(val)
			return nil
		case opt == "filters.retryattempts":
			return boolean(&a.Filters.RetryAttempts)
		case opt == "filters.minduration":
			return duration(&a.Filters.MinDuration)
		case opt == "fields.defaultmode":
			a.Fields.DefaultMode = val
			return nil
		case strings.HasPrefix(opt, "fields.names."):
			if a.Fields.Names == nil {
				a.Fields.Names = map[string]string{}
			}
			a.Fields.Names[accessLogField(strings.TrimPrefix(opt, "fields.names."))] = val
			return nil
		case opt == "fields.headers.defaultmode":
			a.Fields.Headers.DefaultMode = val
			return nil
		case strings.HasPrefix(opt, "fields.headers.names."):
			if a.Fields.Headers.Names == nil {
				a.Fields.Headers.Names = map[string]string{}
			}
			a.Fields.Headers.Names[strings.TrimPrefix(opt, "fields.headers.names.")] = val
			return nil
		}
	case key == "api":
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if !on {
			s.API = nil
		} else if s.API == nil {
			s.API = newAPI()
		}
		return nil
	case strings.HasPrefix(key, "api."):
		if s.API == nil {
			s.API = newAPI() // an option enables it, as in Traefik
		}
		a := s.API
		switch strings.TrimPrefix(key, "api.") {
		case "insecure":
			return boolean(&a.Insecure)
		case "dashboard":
			return boolean(&a.Dashboard)
		case "basepath":
			a.BasePath = val
			return nil
		case "disabledashboardad":
			return boolean(&a.DisableDashboardAd)
		case "dashboardname":
			a.DashboardName = val
			return nil
		case "debug":
			return fmt.Errorf("--%s is not supported by edgeroute yet (the /debug handlers)", key)
		}
	case key == "tracing" || strings.HasPrefix(key, "tracing."):
		return s.setTracing(key, val, boolean)
	case key == "metrics.prometheus":
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if !on {
			s.Metrics = nil
		} else if s.Metrics == nil {
			s.Metrics = newMetrics()
		}
		return nil
	case strings.HasPrefix(key, "metrics.prometheus."):
		if s.Metrics == nil {
			s.Metrics = newMetrics() // an option enables it, as in Traefik
		}
		m := s.Metrics
		switch opt := strings.TrimPrefix(key, "metrics.prometheus."); opt {
		case "entrypoint":
			m.EntryPoint = val
			return nil
		case "addentrypointslabels":
			return boolean(&m.AddEntryPointsLabels)
		case "addrouterslabels":
			return boolean(&m.AddRoutersLabels)
		case "addserviceslabels":
			return boolean(&m.AddServicesLabels)
		case "buckets":
			m.Buckets = nil
			for _, f := range splitList(val) {
				b, err := strconv.ParseFloat(f, 64)
				if err != nil || b <= 0 {
					return fmt.Errorf("--%s: %q is not a positive number of seconds", key, f)
				}
				if n := len(m.Buckets); n > 0 && b <= m.Buckets[n-1] {
					return fmt.Errorf("--%s: buckets must increase (%v after %v)", key, b, m.Buckets[n-1])
				}
				m.Buckets = append(m.Buckets, b)
			}
			return nil
		case "manualrouting":
			return boolean(&m.ManualRouting)
		case "headerlabels":
			return fmt.Errorf("--%s is not supported by edgeroute yet (header labels)", key)
		}
	}
	return fmt.Errorf("unknown or unsupported static configuration key --%s", key)
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EncodedCharacters is Traefik's entry point http.encodedCharacters: the
// seven encoded characters its routers may refuse in the path (400). Set,
// every one is allowed unless its flag says false (Traefik's defaults).
type EncodedCharacters struct {
	AllowEncodedSlash         bool `json:"allowEncodedSlash"`
	AllowEncodedBackSlash     bool `json:"allowEncodedBackSlash"`
	AllowEncodedNullCharacter bool `json:"allowEncodedNullCharacter"`
	AllowEncodedSemicolon     bool `json:"allowEncodedSemicolon"`
	AllowEncodedPercent       bool `json:"allowEncodedPercent"`
	AllowEncodedQuestionMark  bool `json:"allowEncodedQuestionMark"`
	AllowEncodedHash          bool `json:"allowEncodedHash"`
}

func allowAllEncoded() *EncodedCharacters {
	return &EncodedCharacters{true, true, true, true, true, true, true}
}

// field returns the flag named by its lower-case key.
func (e *EncodedCharacters) field(key string) *bool {
	switch key {
	case "allowencodedslash":
		return &e.AllowEncodedSlash
	case "allowencodedbackslash":
		return &e.AllowEncodedBackSlash
	case "allowencodednullcharacter":
		return &e.AllowEncodedNullCharacter
	case "allowencodedsemicolon":
		return &e.AllowEncodedSemicolon
	case "allowencodedpercent":
		return &e.AllowEncodedPercent
	case "allowencodedquestionmark":
		return &e.AllowEncodedQuestionMark
	}
	return &e.AllowEncodedHash
}

// setTracing sets a tracing.* key. Any option enables tracing, as in
// Traefik; OTLP over HTTP to https://localhost:4318 is the default
// exporter, and tracing.otlp.grpc (or any of its options) switches to
// gRPC.
func (s *Static) setTracing(key, val string, boolean func(*bool) error) error {
	if key == "tracing" {
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if !on {
			s.Tracing = nil
		} else if s.Tracing == nil {
			c := tracing.Defaults()
			s.Tracing = &c
		}
		return nil
	}
	if s.Tracing == nil {
		c := tracing.Defaults()
		s.Tracing = &c
	}
	t := s.Tracing
	opt := strings.TrimPrefix(key, "tracing.")
	mapKey := func(prefix string, m *map[string]string) bool {
		if !strings.HasPrefix(opt, prefix) || len(opt) == len(prefix) {
			return false
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[strings.TrimPrefix(opt, prefix)] = val
		return true
	}
	clientTLS := func(dst **tracing.ClientTLS, o string) error {
		if *dst == nil {
			*dst = &tracing.ClientTLS{}
		}
		c := *dst
		switch o {
		case "":
			return nil
		case "ca":
			c.CA = val
		case "cert":
			c.Cert = val
		case "key":
			c.Key = val
		case "insecureskipverify":
			return boolean(&c.InsecureSkipVerify)
		default:
			return fmt.Errorf("unknown or unsupported static configuration key --%s", key)
		}
		return nil
	}
	if t.HTTP == nil {
		t.HTTP = tracing.Defaults().HTTP
	}
	switch {
	case opt == "servicename":
		t.ServiceName = val
	case opt == "samplerate":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("--%s: %q is not a number", key, val)
		}
		t.SampleRate = f
	case opt == "capturedrequestheaders":
		t.CapturedRequestHeaders = splitList(val)
	case opt == "capturedresponseheaders":
		t.CapturedResponseHeaders = splitList(val)
	case opt == "safequeryparams":
		t.SafeQueryParams = splitList(val)
	case mapKey("resourceattributes.", &t.ResourceAttributes), mapKey("globalattributes.", &s.globalAttributes):
	case opt == "addinternals":
		return fmt.Errorf("--%s is not supported by edgeroute yet (internal routers are never traced)", key)
	case opt == "otlp", opt == "otlp.http":
		var on bool
		return boolean(&on) // OTLP is the only backend, HTTP its default transport
	case opt == "otlp.http.endpoint":
		t.HTTP.Endpoint = val
	case mapKey("otlp.http.headers.", &t.HTTP.Headers):
	case opt == "otlp.http.tls" || strings.HasPrefix(opt, "otlp.http.tls."):
		return clientTLS(&t.HTTP.TLS, strings.TrimPrefix(strings.TrimPrefix(opt, "otlp.http.tls"), "."))
	case opt == "otlp.grpc" || strings.HasPrefix(opt, "otlp.grpc."):
		if t.GRPC == nil {
			t.GRPC = tracing.DefaultGRPC()
		}
		g := t.GRPC
		switch o := strings.TrimPrefix(strings.TrimPrefix(opt, "otlp.grpc"), "."); {
		case o == "":
			var on bool
			if err := boolean(&on); err != nil {
				return err
			}
			if !on {
				t.GRPC = nil
			}
		case o == "endpoint":
			g.Endpoint = val
		case o == "insecure":
			return boolean(&g.Insecure)
		case mapKey("otlp.grpc.headers.", &g.Headers):
		case o == "tls" || strings.HasPrefix(o, "tls."):
			return clientTLS(&g.TLS, strings.TrimPrefix(strings.TrimPrefix(o, "tls"), "."))
		default:
			return fmt.Errorf("unknown or unsupported static configuration key --%s", key)
		}
	default:
		return fmt.Errorf("unknown or unsupported static configuration key --%s", key)
	}
	return nil
}
