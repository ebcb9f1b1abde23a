package translate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// serversTransports translates every ServersTransport into
// snap.ServersTransports, as Traefik's provider does
// (loadConfigurationFromCRD): what cannot be read (a missing CA Secret, an
// unknown TLS version, a duration that does not parse) is reported on the
// object and left out or defaulted, and the transport still exists. A
// transport edgeroute cannot honour (spiffe) is left out and reported, and
// routes naming it are skipped. Run before the IngressRoutes.
func (t *translator) serversTransports() {
	t.snap.ServersTransports = map[string]*spec.ServersTransport{}
	t.badTransports = map[string]error{}
	sts := append([]*crd.ServersTransport(nil), t.objs.ServersTransports...)
	sort.Slice(sts, func(i, j int) bool {
		a, b := sts[i], sts[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	for _, st := range sts {
		name := Normalize(st.Namespace+"-"+st.Name) + ProviderSuffix
		ref := t.ref("ServersTransport", st.Namespace, st.Name, 0)
		def, err := t.serversTransport(st, ref)
		if err != nil {
			t.problem(ref, "%v", err)
			t.badTransports[name] = err
			delete(t.snap.ServersTransports, name)
			continue
		}
		def.Name = name
		delete(t.badTransports, name) // two objects with one normalized name: the last wins, as in Traefik
		t.snap.ServersTransports[name] = def
	}
}

// serversTransport translates one ServersTransport. Problems that Traefik
// only logs are reported on ref and the rest is built.
func (t *translator) serversTransport(st *crd.ServersTransport, ref spec.Ref) (*spec.ServersTransport, error) {
	s := st.Spec
	ns := st.Namespace
	if s.Spiffe != nil {
		return nil, errors.New("spiffe is not supported by edgeroute (it has no SPIFFE workload API source); routes using this ServersTransport are not served")
	}
	out := &spec.ServersTransport{Ref: ref, ServerName: s.ServerName, InsecureSkipVerify: s.InsecureSkipVerify,
		MaxIdleConnsPerHost: s.MaxIdleConnsPerHost, DisableHTTP2: s.DisableHTTP2}

	if len(s.RootCAsSecrets) > 0 {
		t.warn(ref, "RootCAsSecrets option is deprecated, please use the RootCA option instead.")
	}
	for _, name := range s.RootCAsSecrets {
		ca, err := t.caSecret(ns, name)
		if err != nil {
			t.problem(ref, "Error while loading CA Secret %s (left out of rootCAs): %v", name, err)
			continue
		}
		out.RootCAs = append(out.RootCAs, ca)
	}
	for i, r := range s.RootCAs {
		switch {
		case r.Secret != nil && r.ConfigMap != nil:
			t.problem(ref, "rootCAs[%d]: Error while loading CA: both Secret and ConfigMap are defined (left out of rootCAs)", i)
			continue
		case r.Secret != nil:
			ca, err := t.caSecret(ns, *r.Secret)
			if err != nil {
				t.problem(ref, "rootCAs[%d]: Error while loading CA Secret %s (left out of rootCAs): %v", i, *r.Secret, err)
				continue
			}
			out.RootCAs = append(out.RootCAs, ca)
		case r.ConfigMap != nil:
			ca, err := t.caConfigMap(ns, *r.ConfigMap)
			if err != nil {
				t.problem(ref, "rootCAs[%d]: Error while loading CA ConfigMap %s (left out of rootCAs): %v", i, *r.ConfigMap, err)
				continue
			}
			out.RootCAs = append(out.RootCAs, ca)
		default:
			t.problem(ref, "rootCAs[%d]: neither secret nor configMap is set (left out of rootCAs)", i)
		}
	}
	for _, name := range s.CertificatesSecrets {
		c, err := t.clientCertificate(ns, name)
		if err != nil {
			t.problem(ref, "Error while loading certificates %s (left out of the client certificates): %v", name, err)
			continue
		}
		out.Certificates = append(out.Certificates, *c)
	}

	for _, name := range s.CipherSuites {
		id, ok := cipherSuites[name]
		if !ok {
			t.problem(ref, "cipher suite not supported: %s, falling back to default CipherSuite.", name)
			out.CipherSuites = nil
			break
		}
		out.CipherSuites = append(out.CipherSuites, id)
	}
	// Traefik's provider: an unknown version is ignored; a minimum at or
	// above the maximum falls back to TLS 1.2 and no maximum.
	var minID, maxID uint16
	if s.MinVersion != "" {
		if id, ok := tlsVersions[s.MinVersion]; ok {
			minID = id
		} else {
			t.problem(ref, "invalid TLS minimum version: %s (ignored)", s.MinVersion)
		}
	}
	if s.MaxVersion != "" {
		if id, ok := tlsVersions[s.MaxVersion]; ok {
			maxID = id
		} else {
			t.problem(ref, "invalid TLS maximum version: %s (ignored)", s.MaxVersion)
		}
	}
	if s.MinVersion != "" && s.MaxVersion != "" && minID >= maxID {
		t.problem(ref, "CipherSuite MinVersion, %s, above or equal to the MaxVersion, %s. Falling back to default MaxVersion and MinVersion", s.MinVersion, s.MaxVersion)
		minID, maxID = tlsVersions["VersionTLS12"], 0
	}
	out.MinVersion, out.MaxVersion = minID, maxID

	for _, san := range s.PeerCertSANs {
		if san.Type != spec.SANDNSName && san.Type != spec.SANURI {
			t.warn(ref, "peerCertSANs: type %q is neither DNSName nor URI: as in Traefik, it never matches", san.Type)
		}
		out.PeerCertSANs = append(out.PeerCertSANs, spec.SAN{Type: san.Type, Value: san.Value})
	}
	if s.PeerCertURI != "" {
		t.warn(ref, "PeerCertURI option is deprecated, please use PeerCertSANs instead")
		out.PeerCertSANs = append(out.PeerCertSANs, spec.SAN{Type: spec.SANURI, Value: s.PeerCertURI})
	}

	// ForwardingTimeouts.SetDefaults, then each value set; one that does
	// not parse becomes 0 (no timeout), as paerser's Duration.Set leaves it.
	out.DialTimeout, out.IdleConnTimeout, out.PingTimeout = 30*time.Second, 90*time.Second, 15*time.Second
	if ft := s.ForwardingTimeouts; ft != nil {
		for _, d := range []struct {
			v    *intstr.IntOrString
			dst  *time.Duration
			name string
		}{
			{ft.DialTimeout, &out.DialTimeout, "DialTimeout"},
			{ft.ResponseHeaderTimeout, &out.ResponseHeaderTimeout, "ResponseHeaderTimeout"},
			{ft.IdleConnTimeout, &out.IdleConnTimeout, "IdleConnTimeout"},
			{ft.ReadIdleTimeout, &out.ReadIdleTimeout, "ReadIdleTimeout"},
			{ft.PingTimeout, &out.PingTimeout, "PingTimeout"},
		} {
			if d.v == nil {
				continue
			}
			v, err := spec.ParseDuration(d.v.String())
			if err != nil {
				t.problem(ref, "Error while reading %s: %v (0 is used: no timeout)", d.name, err)
				v = 0
			}
			*d.dst = v
		}
	}
	return out, nil
}

// caConfigMap is Traefik's loadCAConfigMap: tls.ca, else ca.crt.
func (t *translator) caConfigMap(ns, name string) ([]byte, error) {
	t.deps.configMaps[key(ns, name)] = true
	cm := t.configMaps[key(ns, name)]
	if cm == nil {
		return nil, fmt.Errorf("configMap '%s/%s' not found", ns, name)
	}
	if ca, ok := cm.Data["tls.ca"]; ok {
		return []byte(ca), nil
	}
	if ca, ok := cm.Data["ca.crt"]; ok {
		return []byte(ca), nil
	}
	return nil, fmt.Errorf("configMap '%s/%s' has no CA block: config map %s/%s contains neither tls.ca nor ca.crt", ns, name, ns, name)
}

// clientCertificate is Traefik's loadAuthTLSSecret. The engine parses the
// pair, and leaves out (and reports) one that does not parse.
func (t *translator) clientCertificate(ns, name string) (*spec.Certificate, error) {
	t.deps.secrets[key(ns, name)] = true
	s := t.secrets[key(ns, name)]
	if s == nil {
		return nil, fmt.Errorf("secret '%s/%s' does not exist", ns, name)
	}
	var missing []string
	crt, okc := s.Data[corev1.TLSCertKey]
	k, okk := s.Data[corev1.TLSPrivateKeyKey]
	if !okc {
		missing = append(missing, corev1.TLSCertKey)
	}
	if !okk {
		missing = append(missing, corev1.TLSPrivateKeyKey)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secret %s/%s is missing the following TLS data entries: %s", ns, name, strings.Join(missing, ", "))
	}
	if len(crt) == 0 {
		missing = append(missing, corev1.TLSCertKey)
	}
	if len(k) == 0 {
		missing = append(missing, corev1.TLSPrivateKeyKey)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secret %s/%s contains the following empty TLS data entries: %s", ns, name, strings.Join(missing, ", "))
	}
	return &spec.Certificate{Ref: t.ref("Secret", ns, name, 0), CertPEM: crt, KeyPEM: k}, nil
}

// serversTransportRef resolves a service's serversTransport reference
// with Traefik's rules (makeServersTransportKey): a plain name is a
// ServersTransport of the service's namespace; "name@provider" is taken
// verbatim, and "...@kubernetescrd" only with allowCrossNamespace. The
// transport must exist: in Traefik the service, and so its router, fails
// to build otherwise ("servers transport not found"), so its requests get
// 404; here the route is skipped. "default@internal" is the static
// serversTransport.
func (t *translator) serversTransportRef(ns, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	name := ref
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		if !t.opts.AllowCrossNamespace && strings.HasSuffix(ref, ProviderSuffix) {
			return "", fmt.Errorf("invalid reference to serversTransport %s: namespace-name@kubernetescrd format is not allowed when crossnamespace is disallowed", ref)
		}
		if ref == spec.DefaultServersTransport {
			return ref, nil
		}
		if provider := ref[i+1:]; provider != "kubernetescrd" {
			return "", fmt.Errorf("servers transport not found %s (edgeroute has no %s provider)", ref, provider)
		}
	} else {
		name = Normalize(ns+"-"+ref) + ProviderSuffix
	}
	if err := t.badTransports[name]; err != nil {
		return "", fmt.Errorf("serversTransport %s is not served: %v", name, err)
	}
	if t.snap.ServersTransports[name] == nil {
		if name != ref {
			return "", fmt.Errorf("servers transport not found %s (no ServersTransport %s/%s)", name, ns, ref)
		}
		return "", fmt.Errorf("servers transport not found %s", name)
	}
	return name, nil
}
