package translate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The Secret readers shared by the kinds that name Secrets, in Traefik's
// CRD provider's words.

// caSecret is Traefik's loadCASecret: tls.ca, else ca.crt, else the only
// value of a Secret holding one.
func (t *translator) caSecret(ns, name string) ([]byte, error) {
	s, err := t.secret(ns, name)
	if err != nil {
		return nil, err
	}
	if ca, ok := s.Data["tls.ca"]; ok {
		return ca, nil
	}
	if ca, ok := s.Data["ca.crt"]; ok {
		return ca, nil
	}
	if len(s.Data) == 1 {
		for _, v := range s.Data {
			return v, nil
		}
	}
	return nil, fmt.Errorf("secret '%s/%s' has no CA block: secret %s/%s contains neither tls.ca nor ca.crt", ns, name, ns, name)
}

// authTLSSecret is Traefik's loadAuthTLSSecret and getCertificateBlocks:
// the Secret's tls.crt and tls.key, both present and not empty (the
// client certificates of forwardAuth and rateLimit's Redis).
func (t *translator) authTLSSecret(ns, name string) (string, string, error) {
	secret, err := t.secret(ns, name)
	if err != nil {
		// loadAuthTLSSecret's own wording for a missing Secret.
		return "", "", fmt.Errorf("secret '%s/%s' does not exist", ns, name)
	}
	var missing []string
	crt, okCrt := secret.Data[corev1.TLSCertKey]
	if !okCrt {
		missing = append(missing, corev1.TLSCertKey)
	}
	key, okKey := secret.Data[corev1.TLSPrivateKeyKey]
	if !okKey {
		missing = append(missing, corev1.TLSPrivateKeyKey)
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("secret %s/%s is missing the following TLS data entries: %s", ns, name, strings.Join(missing, ", "))
	}
	if len(crt) == 0 {
		missing = append(missing, corev1.TLSCertKey)
	}
	if len(key) == 0 {
		missing = append(missing, corev1.TLSPrivateKeyKey)
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("secret %s/%s contains the following empty TLS data entries: %s", ns, name, strings.Join(missing, ", "))
	}
	return string(crt), string(key), nil
}
