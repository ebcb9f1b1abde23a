package tlsmux

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Certificate is a certificate to serve, with a description of where it came
// from for error messages, for example "Secret default/foo".
type Certificate struct {
	Cert   tls.Certificate
	Source string
}

func (c *Certificate) describe() string {
	if c.Source != "" {
		return c.Source
	}
	return "certificate"
}

// ParseCertificate parses a PEM certificate chain and its PEM private key, as
// tls.X509KeyPair does, with errors that say which input is wrong. The
// returned certificate has its Leaf set.
func ParseCertificate(certPEM, keyPEM []byte) (tls.Certificate, error) {
	if len(bytes.TrimSpace(certPEM)) == 0 {
		return tls.Certificate{}, errors.New("tlsmux: the certificate is empty")
	}
	if len(bytes.TrimSpace(keyPEM)) == 0 {
		return tls.Certificate{}, errors.New("tlsmux: the private key is empty")
	}
	if !hasPEMBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return tls.Certificate{}, errors.New("tlsmux: the certificate holds no PEM block of type CERTIFICATE")
	}
	if !hasPEMBlock(keyPEM, func(t string) bool { return t == "PRIVATE KEY" || len(t) > 12 && t[len(t)-12:] == " PRIVATE KEY" }) {
		return tls.Certificate{}, errors.New("tlsmux: the private key holds no PEM block of type PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsmux: invalid certificate and key pair: %w", err)
	}
	if cert.Leaf == nil { // GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("tlsmux: invalid certificate: %w", err)
		}
	}
	return cert, nil
}

// hasPEMBlock reports whether data holds a PEM block whose type satisfies ok.
func hasPEMBlock(data []byte, ok func(string) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if ok(b.Type) {
			return true
		}
	}
}

// DefaultCommonName is the subject common name of the self-signed default
// certificate, as in Traefik.
const DefaultCommonName = "TRAEFIK DEFAULT CERT"

// generateDefault creates the self-signed certificate served when nothing
// else matches, as Traefik's generate.DefaultCertificate does: ECDSA P-256,
// valid one year, CommonName "TRAEFIK DEFAULT CERT" and a random DNS name
// "<32 hex>.<32 hex>.traefik.default".
func generateDefault() (tls.Certificate, error) {
	var random [100]byte
	if _, err := rand.Read(random[:]); err != nil {
		return tls.Certificate{}, err
	}
	sum := sha256.Sum256(random[:])
	z := hex.EncodeToString(sum[:])
	domain := z[:32] + "." + z[32:] + ".traefik.default"

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: DefaultCommonName},
		NotBefore:             now,
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		DNSNames:              []string{domain},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
