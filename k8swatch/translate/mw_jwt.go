package translate

import "github.com/edgeroute/edgeroute/k8swatch/crd"

// jwtResolved is the jwt kind (an edgeroute extension) as the engine
// decodes it: the CRD's JWT, with jwksSecret read. JWKSSecret becomes
// "namespace/name" (for the engine's messages) and JWKSSecretData holds
// the Secret's entries as text (JWKS JSON or PEM, parsed by the engine).
type jwtResolved struct {
	crd.JWT
	JWKSSecretData map[string]string `json:"jwksSecretData,omitzero"`
}

// resolveJWT reads the Secret named by jwksSecret, in the Middleware's
// namespace.
func resolveJWT(t *translator, ns string, s *crd.MiddlewareSpec) (*jwtResolved, error) {
	out := &jwtResolved{JWT: *s.JWT}
	if s.JWT.JWKSSecret == "" {
		return out, nil
	}
	sec, err := t.secret(ns, s.JWT.JWKSSecret)
	if err != nil {
		return nil, err
	}
	out.JWKSSecret = key(ns, s.JWT.JWKSSecret)
	out.JWKSSecretData = make(map[string]string, len(sec.Data))
	for name, data := range sec.Data {
		out.JWKSSecretData[name] = string(data)
	}
	return out, nil
}
