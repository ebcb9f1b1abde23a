package middleware

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// passTLSClientCertConfig is Traefik's passTLSClientCert: the client's
// certificates (mutual TLS) passed to the backend in
// X-Forwarded-Tls-Client-Cert (pem) and selected fields of them in
// X-Forwarded-Tls-Client-Cert-Info (info), formatted as Traefik does.
type passTLSClientCertConfig struct {
	PEM  bool            `json:"pem,omitempty"`
	Info *clientCertInfo `json:"info,omitempty"`
}

type clientCertInfo struct {
	NotAfter     bool       `json:"notAfter,omitempty"`
	NotBefore    bool       `json:"notBefore,omitempty"`
	Sans         bool       `json:"sans,omitempty"`
	SerialNumber bool       `json:"serialNumber,omitempty"`
	Subject      *dnOptions `json:"subject,omitempty"`
	Issuer       *issuerDN  `json:"issuer,omitempty"`
}

// dnOptions select the fields of a subject's distinguished name.
type dnOptions struct {
	Country            bool `json:"country,omitempty"`
	Province           bool `json:"province,omitempty"`
	Locality           bool `json:"locality,omitempty"`
	Organization       bool `json:"organization,omitempty"`
	OrganizationalUnit bool `json:"organizationalUnit,omitempty"`
	CommonName         bool `json:"commonName,omitempty"`
	SerialNumber       bool `json:"serialNumber,omitempty"`
	DomainComponent    bool `json:"domainComponent,omitempty"`
}

// issuerDN is dnOptions without organizationalUnit, as in the CRD.
type issuerDN struct {
	Country         bool `json:"country,omitempty"`
	Province        bool `json:"province,omitempty"`
	Locality        bool `json:"locality,omitempty"`
	Organization    bool `json:"organization,omitempty"`
	CommonName      bool `json:"commonName,omitempty"`
	SerialNumber    bool `json:"serialNumber,omitempty"`
	DomainComponent bool `json:"domainComponent,omitempty"`
}

// The headers passTLSClientCert sets.
const (
	ForwardedTLSClientCert     = "X-Forwarded-Tls-Client-Cert"
	ForwardedTLSClientCertInfo = "X-Forwarded-Tls-Client-Cert-Info"
)

func newPassTLSClientCert(c *passTLSClientCertConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			if c.PEM || c.Info != nil {
				if cs := ctx.TLSConnectionState(); cs != nil && len(cs.PeerCertificates) > 0 {
					if c.PEM {
						ctx.Request.Header.Set(ForwardedTLSClientCert, certsPEM(cs.PeerCertificates))
					}
					if c.Info != nil {
						ctx.Request.Header.Set(ForwardedTLSClientCertInfo, url.QueryEscape(c.Info.format(cs.PeerCertificates)))
					}
				}
			}
			next(ctx, r)
		}
	}, nil
}

// certsPEM is each certificate's PEM body without its armour and line
// breaks, joined with ','.
func certsPEM(certs []*x509.Certificate) string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		p = strings.NewReplacer("-----BEGIN CERTIFICATE-----", "", "-----END CERTIFICATE-----", "", "\n", "").Replace(p)
		out = append(out, p)
	}
	return strings.Join(out, ",")
}

// format is Traefik's info header before escaping: per certificate the
// selected fields joined with ';' (Subject="...";Issuer="...";
// SerialNumber="...";NB="...";NA="...";SAN="..."), certificates joined
// with ','.
func (info *clientCertInfo) format(certs []*x509.Certificate) string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		var v []string
		if info.Subject != nil {
			if s := info.Subject.format(&c.Subject); s != "" {
				v = append(v, fmt.Sprintf(`Subject="%s"`, s))
			}
		}
		if info.Issuer != nil {
			o := dnOptions{Country: info.Issuer.Country, Province: info.Issuer.Province, Locality: info.Issuer.Locality,
				Organization: info.Issuer.Organization, CommonName: info.Issuer.CommonName, SerialNumber: info.Issuer.SerialNumber,
				DomainComponent: info.Issuer.DomainComponent}
			if s := o.format(&c.Issuer); s != "" {
				v = append(v, fmt.Sprintf(`Issuer="%s"`, s))
			}
		}
		if info.SerialNumber && c.SerialNumber != nil {
			if sn := c.SerialNumber.String(); sn != "" {
				v = append(v, fmt.Sprintf(`SerialNumber="%s"`, sn))
			}
		}
		if info.NotBefore {
			v = append(v, fmt.Sprintf(`NB="%d"`, uint64(c.NotBefore.Unix())))
		}
		if info.NotAfter {
			v = append(v, fmt.Sprintf(`NA="%d"`, uint64(c.NotAfter.Unix())))
		}
		if info.Sans {
			var sans []string
			sans = append(sans, c.DNSNames...)
			sans = append(sans, c.EmailAddresses...)
			for _, ip := range c.IPAddresses {
				sans = append(sans, ip.String())
			}
			for _, u := range c.URIs {
				sans = append(sans, u.String())
			}
			if len(sans) > 0 {
				v = append(v, fmt.Sprintf(`SAN="%s"`, strings.Join(sans, ",")))
			}
		}
		out = append(out, strings.Join(v, ";"))
	}
	return strings.Join(out, ",")
}

// oidDC is the domainComponent attribute (RFC 2247).
const oidDC = "0.9.2342.19200300.100.1.25"

// format lists the selected fields in Traefik's order: DC, C, ST, L, O,
// OU, SN, CN, each "K=v", joined with ','.
func (o *dnOptions) format(n *pkix.Name) string {
	var parts []string
	if o.DomainComponent {
		for _, a := range n.Names {
			if a.Type.String() == oidDC {
				parts = append(parts, fmt.Sprintf("DC=%s", a.Value))
			}
		}
	}
	add := func(on bool, key string, vals ...string) {
		if !on {
			return
		}
		for _, v := range vals {
			if v != "" {
				parts = append(parts, key+"="+v)
			}
		}
	}
	add(o.Country, "C", n.Country...)
	add(o.Province, "ST", n.Province...)
	add(o.Locality, "L", n.Locality...)
	add(o.Organization, "O", n.Organization...)
	add(o.OrganizationalUnit, "OU", n.OrganizationalUnit...)
	add(o.SerialNumber, "SN", n.SerialNumber)
	add(o.CommonName, "CN", n.CommonName)
	return strings.Join(parts, ",")
}
