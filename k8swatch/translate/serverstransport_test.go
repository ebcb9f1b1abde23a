package translate

import (
	"crypto/tls"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// problemsOf returns the snapshot's problems, one a line.
func problemsOf(snap *spec.Snapshot) string {
	var out []string
	for _, p := range snap.Problems {
		s := p.Error()
		if p.Warning {
			s = "warning: " + s
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// with_servers_transport.yml, as Traefik's provider test expects it (its
// "ServersTransport" case): every field of foo/test, Secrets and
// ConfigMaps read in Traefik's order with its preferences, the deprecated
// forms warned about, and the default values of default/test.
func TestServersTransportFixture(t *testing.T) {
	objs := load(t, "services.yml", "with_servers_transport.yml")
	opts := Options{AllowExternalNameServices: true}
	snap := Snapshot(objs, opts)
	// foo/test sets spiffe, which edgeroute refuses.
	if snap.ServersTransports["foo-test@kubernetescrd"] != nil || !strings.Contains(problemsOf(snap), "ServersTransport foo/test: spiffe is not supported by edgeroute") {
		t.Errorf("spiffe: %v\n%s", snap.ServersTransports, problemsOf(snap))
	}
	// default/test has Traefik's defaults; the route's second service
	// names "default-test", which is default/default-test: missing, so
	// Traefik's service (and router) fail to build, and the route is
	// skipped.
	want := &spec.ServersTransport{Name: "default-test@kubernetescrd", ServerName: "test",
		DialTimeout: 30 * time.Second, IdleConnTimeout: 90 * time.Second, PingTimeout: 15 * time.Second}
	got := snap.ServersTransports["default-test@kubernetescrd"]
	if got != nil {
		c := *got
		c.Ref = spec.Ref{}
		got = &c
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default/test:\n got %+v\nwant %+v", got, want)
	}
	if len(snap.Routers) != 0 || !strings.Contains(problemsOf(snap), "IngressRoute default/test.route routes[0]: service default/whoamitls: servers transport not found default-default-test@kubernetescrd (no ServersTransport default/default-test)") {
		t.Errorf("routers %v\n%s", snap.Routers, problemsOf(snap))
	}

	// Without spiffe, foo/test is built as Traefik builds it.
	for _, st := range objs.ServersTransports {
		if st.Namespace == "foo" {
			st.Spec.Spiffe = nil
		}
	}
	snap = Snapshot(objs, opts)
	st := snap.ServersTransports["foo-test@kubernetescrd"]
	if st == nil {
		t.Fatalf("foo/test not built:\n%s", problemsOf(snap))
	}
	var cas []string
	for _, ca := range st.RootCAs {
		cas = append(cas, string(ca))
	}
	if want := []string{"TESTROOTCAS0", "TESTROOTCAS1", "TESTROOTCAS2", "TESTROOTCAS3", "TESTROOTCAS5", "TESTALLCERTS", "TESTROOTCASFROMCONFIGMAP", "TESTROOTCAS6"}; !slices.Equal(cas, want) {
		t.Errorf("rootCAs %q, want %q", cas, want)
	}
	var certs []string
	for _, c := range st.Certificates {
		certs = append(certs, string(c.CertPEM)+"/"+string(c.KeyPEM)+"@"+c.Ref.Namespace+"/"+c.Ref.Name)
	}
	if want := []string{"TESTCERT1/TESTKEY1@foo/mtls1", "TESTCERT2/TESTKEY2@foo/mtls2", "TESTCERT3/TESTKEY3@foo/allcerts"}; !slices.Equal(certs, want) {
		t.Errorf("certificates %q, want %q", certs, want)
	}
	c := *st
	c.Ref, c.RootCAs, c.Certificates = spec.Ref{}, nil, nil
	wantFoo := spec.ServersTransport{Name: "foo-test@kubernetescrd", ServerName: "test", InsecureSkipVerify: true,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		MinVersion:   tls.VersionTLS11, MaxVersion: tls.VersionTLS12, MaxIdleConnsPerHost: 42, DisableHTTP2: true,
		PeerCertSANs: []spec.SAN{{Type: "DNSName", Value: "foo.com"}, {Type: "URI", Value: "foo://bar"}, {Type: "URI", Value: "foo://bar"}},
		DialTimeout:  42 * time.Second, ResponseHeaderTimeout: 42 * time.Second, IdleConnTimeout: 42 * time.Millisecond,
		ReadIdleTimeout: 42 * time.Second, PingTimeout: 42 * time.Second}
	if !reflect.DeepEqual(c, wantFoo) {
		t.Errorf("foo/test:\n got %+v\nwant %+v", c, wantFoo)
	}
	all := problemsOf(snap)
	for _, w := range []string{
		"warning: ../../testdata/traefik-crd-fixtures/with_servers_transport.yml:132: ServersTransport foo/test: RootCAsSecrets option is deprecated, please use the RootCA option instead.",
		"ServersTransport foo/test: rootCAs[2]: Error while loading CA: both Secret and ConfigMap are defined (left out of rootCAs)",
		"warning: ../../testdata/traefik-crd-fixtures/with_servers_transport.yml:132: ServersTransport foo/test: PeerCertURI option is deprecated, please use PeerCertSANs instead",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("missing problem %q in\n%s", w, all)
		}
	}
	// The Secrets and ConfigMaps read are dependencies (a change to one
	// translates again).
	_, deps := Translate(objs, opts)
	if !deps.UsesSecret("foo", "root-ca0") || !deps.UsesSecret("foo", "mtls2") || deps.UsesSecret("foo", "root-ca6") ||
		!deps.UsesConfigMap("foo", "root-ca-as-config-map") || deps.UsesConfigMap("foo", "root-ca-as-config-map-2") || deps.UsesSecret("foo", "root-ca7") {
		t.Error("dependencies on the Secrets and ConfigMaps read")
	}
}

// References across namespaces and providers (makeServersTransportKey).
func TestServersTransportReferenceFixtures(t *testing.T) {
	snap := Snapshot(load(t, "services.yml", "with_servers_transport_cross_namespace.yml"), Options{AllowCrossNamespace: true})
	if len(snap.Routers) != 1 || len(snap.Problems) > 0 {
		t.Fatalf("cross-namespace allowed: %v\n%s", snap.Routers, problemsOf(snap))
	}
	lb := snap.Services[snap.Routers[0].Service].LoadBalancer
	if lb.ServersTransport != "cross-ns-st-cross-ns@kubernetescrd" || !snap.ServersTransports[lb.ServersTransport].DisableHTTP2 {
		t.Errorf("load balancer %+v, transports %v", lb, snap.ServersTransports)
	}
	snap = Snapshot(load(t, "services.yml", "with_servers_transport_cross_namespace.yml"), Options{})
	if len(snap.Routers) != 0 || !strings.Contains(problemsOf(snap), "invalid reference to serversTransport cross-ns-st-cross-ns@kubernetescrd: namespace-name@kubernetescrd format is not allowed when crossnamespace is disallowed") {
		t.Errorf("cross-namespace disallowed: %v\n%s", snap.Routers, problemsOf(snap))
	}
	// "foo@file": Traefik accepts the reference, and the service fails
	// to find the transport; edgeroute has no file provider.
	snap = Snapshot(load(t, "services.yml", "with_servers_transport_cross_provider.yml"), Options{AllowCrossNamespace: true})
	if len(snap.Routers) != 0 || !strings.Contains(problemsOf(snap), "service default/whoami: servers transport not found foo@file (edgeroute has no file provider)") {
		t.Errorf("cross-provider: %v\n%s", snap.Routers, problemsOf(snap))
	}
}

const stBase = tlsBase + `---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: other-1, namespace: default, labels: {kubernetes.io/service-name: other}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: ["10.0.0.2"]}]
---
apiVersion: v1
kind: Secret
metadata: {name: ca, namespace: default}
data: {ca.crt: Q0EtU0VDUkVU}
---
apiVersion: v1
kind: Secret
metadata: {name: only, namespace: default}
data: {bundle.pem: T05MWQ==}
---
apiVersion: v1
kind: Secret
metadata: {name: nokey, namespace: default}
data: {tls.crt: Q0VSVA==}
---
apiVersion: v1
kind: Secret
metadata: {name: pair, namespace: default}
data: {tls.crt: Q0VSVA==, tls.key: S0VZ}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: default}
data: {tls.ca: CA-CONFIGMAP, ca.crt: ignored}
`

// stRoute is an IngressRoute whose only service is whoami through
// transport ref; another route, to other, names none.
func stRoute(ref string) string {
	return "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r, namespace: default}\nspec:\n  routes:\n" +
		"  - {match: \"Host(`a.test`)\", services: [{name: whoami, port: 80, serversTransport: \"" + ref + "\"}]}\n" +
		"  - {match: \"Host(`b.test`)\", services: [{name: other, port: 80}]}\n"
}

func transportDoc(name, spec string) string {
	return "---\napiVersion: traefik.io/v1alpha1\nkind: ServersTransport\nmetadata: {name: " + name + ", namespace: default}\nspec: " + spec + "\n"
}

func TestServersTransportTranslation(t *testing.T) {
	defaults := func(st spec.ServersTransport) spec.ServersTransport {
		st.DialTimeout, st.IdleConnTimeout, st.PingTimeout = 30*time.Second, 90*time.Second, 15*time.Second
		return st
	}
	for _, tc := range []struct {
		name     string
		docs     string
		opts     Options
		want     *spec.ServersTransport // the transport of whoami's service; nil: the route is skipped
		ref      string                 // LoadBalancer.ServersTransport when want is nil and the route is served
		exact    bool                   // want's timeouts are all given (no defaults)
		problems []string
	}{
		{name: "rootCAs from a Secret and a ConfigMap", docs: transportDoc("st", "{rootCAs: [{secret: ca}, {configMap: ca}]}") + stRoute("st"),
			want: &spec.ServersTransport{RootCAs: [][]byte{[]byte("CA-SECRET"), []byte("CA-CONFIGMAP")}}},
		{name: "rootCAsSecrets: the only value of a Secret", docs: transportDoc("st", "{rootCAsSecrets: [only]}") + stRoute("st"),
			want:     &spec.ServersTransport{RootCAs: [][]byte{[]byte("ONLY")}},
			problems: []string{"warning: test.yaml:51: ServersTransport default/st: RootCAsSecrets option is deprecated"}},
		// A Secret or ConfigMap that cannot be read is left out; the
		// transport and its routes are still built (Traefik logs it).
		{name: "missing CA Secret and ConfigMap", docs: transportDoc("st", "{rootCAs: [{secret: nope}, {configMap: nope}, {}], serverName: s}") + stRoute("st"),
			want: &spec.ServersTransport{ServerName: "s"},
			problems: []string{
				"test.yaml:51: ServersTransport default/st: rootCAs[0]: Error while loading CA Secret nope (left out of rootCAs): secret 'default/nope' not found",
				"ServersTransport default/st: rootCAs[1]: Error while loading CA ConfigMap nope (left out of rootCAs): configMap 'default/nope' not found",
				"ServersTransport default/st: rootCAs[2]: neither secret nor configMap is set"}},
		{name: "CA Secret without a CA", docs: transportDoc("st", "{rootCAs: [{secret: pair}]}") + stRoute("st"),
			want:     &spec.ServersTransport{},
			problems: []string{"Error while loading CA Secret pair (left out of rootCAs): secret 'default/pair' has no CA block: secret default/pair contains neither tls.ca nor ca.crt"}},
		// A Secret with one value and no CA key: that value (Traefik's
		// backward compatibility).
		{name: "CA Secret with one other value", docs: transportDoc("st", "{rootCAs: [{secret: nokey}]}") + stRoute("st"),
			want: &spec.ServersTransport{RootCAs: [][]byte{[]byte("CERT")}}},
		{name: "client certificate", docs: transportDoc("st", "{certificatesSecrets: [pair]}") + stRoute("st"),
			want: &spec.ServersTransport{Certificates: []spec.Certificate{{Ref: spec.Ref{Kind: "Secret", Namespace: "default", Name: "pair", File: "test.yaml", Line: 41}, CertPEM: []byte("CERT"), KeyPEM: []byte("KEY")}}}},
		{name: "client certificates", docs: transportDoc("st", "{certificatesSecrets: [nope, nokey]}") + stRoute("st"),
			want: &spec.ServersTransport{},
			problems: []string{"Error while loading certificates nope (left out of the client certificates): secret 'default/nope' does not exist",
				"Error while loading certificates nokey (left out of the client certificates): secret default/nokey is missing the following TLS data entries: tls.key"}},
		// Traefik's fallbacks.
		{name: "unknown cipher suite", docs: transportDoc("st", "{cipherSuites: [TLS_AES_128_GCM_SHA256, TLS_NOPE]}") + stRoute("st"),
			want: &spec.ServersTransport{}, problems: []string{"cipher suite not supported: TLS_NOPE, falling back to default CipherSuite."}},
		{name: "cipher suites", docs: transportDoc("st", "{cipherSuites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]}") + stRoute("st"),
			want: &spec.ServersTransport{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}},
		{name: "unknown versions", docs: transportDoc("st", "{minVersion: VersionTLS09, maxVersion: VersionTLS12}") + stRoute("st"),
			want: &spec.ServersTransport{MaxVersion: tls.VersionTLS12}, problems: []string{"invalid TLS minimum version: VersionTLS09 (ignored)"}},
		{name: "minVersion alone", docs: transportDoc("st", "{minVersion: VersionTLS13}") + stRoute("st"),
			want: &spec.ServersTransport{MinVersion: tls.VersionTLS13}},
		{name: "minVersion above maxVersion", docs: transportDoc("st", "{minVersion: VersionTLS13, maxVersion: VersionTLS12}") + stRoute("st"),
			want:     &spec.ServersTransport{MinVersion: tls.VersionTLS12},
			problems: []string{"CipherSuite MinVersion, VersionTLS13, above or equal to the MaxVersion, VersionTLS12. Falling back to default MaxVersion and MinVersion"}},
		{name: "two unknown versions", docs: transportDoc("st", "{minVersion: VersionTLS99, maxVersion: VersionTLS98}") + stRoute("st"),
			want: &spec.ServersTransport{MinVersion: tls.VersionTLS12},
			problems: []string{"invalid TLS minimum version: VersionTLS99", "invalid TLS maximum version: VersionTLS98",
				"CipherSuite MinVersion, VersionTLS99, above or equal to the MaxVersion, VersionTLS98."}},
		// Durations: seconds or Go durations; one that does not parse is
		// 0 (paerser's Duration.Set), with a problem.
		{name: "forwarding timeouts", docs: transportDoc("st", `{forwardingTimeouts: {dialTimeout: 5, responseHeaderTimeout: "1m", idleConnTimeout: "soon", readIdleTimeout: 2s, pingTimeout: "7"}}`) + stRoute("st"),
			want:     &spec.ServersTransport{DialTimeout: 5 * time.Second, ResponseHeaderTimeout: time.Minute, IdleConnTimeout: 0, ReadIdleTimeout: 2 * time.Second, PingTimeout: 7 * time.Second},
			exact:    true,
			problems: []string{`Error while reading IdleConnTimeout: time: invalid duration "soon" (0 is used: no timeout)`}},
		{name: "peerCertSANs", docs: transportDoc("st", "{peerCertSANs: [{type: URI, value: spiffe://a}, {type: IPAddress, value: 10.0.0.1}], peerCertURI: spiffe://b}") + stRoute("st"),
			want: &spec.ServersTransport{PeerCertSANs: []spec.SAN{{Type: "URI", Value: "spiffe://a"}, {Type: "IPAddress", Value: "10.0.0.1"}, {Type: "URI", Value: "spiffe://b"}}},
			problems: []string{`warning: test.yaml:51: ServersTransport default/st: peerCertSANs: type "IPAddress" is neither DNSName nor URI: as in Traefik, it never matches`,
				"PeerCertURI option is deprecated"}},
		{name: "maxIdleConnsPerHost and disableHTTP2", docs: transportDoc("st", "{maxIdleConnsPerHost: -1, disableHTTP2: true, insecureSkipVerify: true}") + stRoute("st"),
			want: &spec.ServersTransport{MaxIdleConnsPerHost: -1, DisableHTTP2: true, InsecureSkipVerify: true}},
		// References.
		{name: "default@internal", docs: stRoute("default@internal"), ref: spec.DefaultServersTransport},
		{name: "full name with allowCrossNamespace", docs: transportDoc("st", "{serverName: s}") + stRoute("default-st@kubernetescrd"), opts: Options{AllowCrossNamespace: true},
			want: &spec.ServersTransport{ServerName: "s"}},
		{name: "full name without allowCrossNamespace", docs: transportDoc("st", "{}") + stRoute("default-st@kubernetescrd"),
			problems: []string{"IngressRoute default/r routes[0]: service default/whoami: invalid reference to serversTransport default-st@kubernetescrd: namespace-name@kubernetescrd format is not allowed when crossnamespace is disallowed"}},
		{name: "missing", docs: stRoute("nope"),
			problems: []string{"IngressRoute default/r routes[0]: service default/whoami: servers transport not found default-nope@kubernetescrd (no ServersTransport default/nope)"}},
		{name: "missing full name", docs: stRoute("x-nope@kubernetescrd"), opts: Options{AllowCrossNamespace: true},
			problems: []string{"service default/whoami: servers transport not found x-nope@kubernetescrd"}},
		{name: "spiffe", docs: transportDoc("st", "{spiffe: {trustDomain: spiffe://x}}") + stRoute("st"),
			problems: []string{"test.yaml:51: ServersTransport default/st: spiffe is not supported by edgeroute",
				"IngressRoute default/r routes[0]: service default/whoami: serversTransport default-st@kubernetescrd is not served: spiffe is not supported by edgeroute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := Snapshot(decode(t, stBase+tc.docs), tc.opts)
			all := problemsOf(snap)
			for _, w := range tc.problems {
				if !strings.Contains(all, w) {
					t.Errorf("missing problem %q in\n%s", w, all)
				}
			}
			if n := strings.Count(all, "\n") + 1; all == "" && len(tc.problems) > 0 || all != "" && n > len(tc.problems) {
				t.Errorf("%d problems, want %d:\n%s", n, len(tc.problems), all)
			}
			routers := map[string]*spec.Router{}
			for i := range snap.Routers {
				routers[snap.Routers[i].Rule] = &snap.Routers[i]
			}
			if r := routers["Host(`b.test`)"]; r == nil || snap.Services[r.Service].LoadBalancer.ServersTransport != "" {
				t.Errorf("the other route: %+v", r)
			}
			r := routers["Host(`a.test`)"]
			if tc.want == nil && tc.ref == "" {
				if r != nil {
					t.Errorf("route served: %+v", r)
				}
				return
			}
			if r == nil {
				t.Fatalf("route skipped:\n%s", all)
			}
			name := snap.Services[r.Service].LoadBalancer.ServersTransport
			if tc.want == nil {
				if name != tc.ref {
					t.Errorf("transport %q, want %q", name, tc.ref)
				}
				return
			}
			got := snap.ServersTransports[name]
			if got == nil {
				t.Fatalf("transport %q not in %v", name, snap.ServersTransports)
			}
			want := *tc.want
			if !tc.exact {
				want = defaults(want)
			}
			want.Name = "default-st@kubernetescrd"
			c := *got
			c.Ref = spec.Ref{}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("transport:\n got %+v\nwant %+v", c, want)
			}
			if got.Ref.Kind != "ServersTransport" || got.Ref.Name != "st" || got.Ref.File != "test.yaml" {
				t.Errorf("ref %+v", got.Ref)
			}
		})
	}
}

// Two references to one Service port with different transports share
// edgeroute's single service for it: reported.
func TestServersTransportSharedService(t *testing.T) {
	docs := stBase + transportDoc("st", "{}") +
		"---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r, namespace: default}\nspec:\n  routes:\n" +
		"  - {match: \"Host(`a.test`)\", services: [{name: whoami, port: 80, serversTransport: st}]}\n" +
		"  - {match: \"Host(`b.test`)\", services: [{name: whoami, port: 80}]}\n"
	snap := Snapshot(decode(t, docs), Options{})
	if all := problemsOf(snap); len(snap.Problems) != 1 || !strings.Contains(all, `warning: test.yaml:2: Service default/whoami: service default-whoami-80@kubernetescrd is referenced with different serversTransports ("default-st@kubernetescrd" and ""); edgeroute builds one service per Service port, and the last reference's ("") applies to all`) {
		t.Errorf("problems:\n%s", all)
	}
}

// Plain references (nothing but name and port) are built once per
// translation; one with options of its own in between rebuilds the
// service, and the next plain one rebuilds it again, so the last
// reference still decides.
func TestPlainReferencesAfterATransport(t *testing.T) {
	docs := stBase + transportDoc("st", "{}") +
		"---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r, namespace: default}\nspec:\n  routes:\n" +
		"  - {match: \"Host(`a.test`)\", services: [{name: whoami, port: 80}]}\n" +
		"  - {match: \"Host(`b.test`)\", services: [{name: whoami, port: 80, serversTransport: st}]}\n" +
		"  - {match: \"Host(`c.test`)\", services: [{name: whoami, port: 80}]}\n" +
		"  - {match: \"Host(`d.test`)\", services: [{name: whoami, port: 80, serversTransport: st}]}\n"
	snap := Snapshot(decode(t, docs), Options{})
	sv := snap.Services["default-whoami-80@kubernetescrd"]
	if sv == nil || sv.LoadBalancer == nil || sv.LoadBalancer.ServersTransport != "default-st@kubernetescrd" {
		t.Fatalf("service %+v: want the last reference's transport", sv)
	}
	if n := strings.Count(problemsOf(snap), "referenced with different serversTransports"); n != 3 {
		t.Errorf("%d warnings, want one per change of transport (3):\n%s", n, problemsOf(snap))
	}
	if len(snap.Routers) != 4 {
		t.Errorf("%d routers", len(snap.Routers))
	}
}
