package translate

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// basicAuth and digestAuth name a Secret holding their users; translation
// reads it as Traefik's CRD provider does (createBasicAuthMiddleware,
// createDigestAuthMiddleware, loadBasicAuthCredentials,
// loadAuthCredentials) and hands the engine the user lines.

// basicAuthResolved is what the engine's basicAuth decodes.
type basicAuthResolved struct {
	Users        []string `json:"users,omitempty"`
	Realm        string   `json:"realm,omitempty"`
	RemoveHeader bool     `json:"removeHeader,omitempty"`
	HeaderField  string   `json:"headerField,omitempty"`
}

// digestAuthResolved is what the engine's digestAuth decodes.
type digestAuthResolved struct {
	Users        []string `json:"users,omitempty"`
	Realm        string   `json:"realm,omitempty"`
	RemoveHeader bool     `json:"removeHeader,omitempty"`
	HeaderField  string   `json:"headerField,omitempty"`
}

func resolveBasicAuth(t *translator, ns string, s *crd.MiddlewareSpec) (*basicAuthResolved, error) {
	c := s.BasicAuth
	if c.Secret == "" {
		return nil, errors.New("auth secret must be set")
	}
	secret, err := t.secret(ns, c.Secret)
	if err != nil {
		return nil, err
	}
	var users []string
	if secret.Type == corev1.SecretTypeBasicAuth {
		users, err = basicAuthSecretUsers(secret)
	} else {
		users, err = authSecretLines(secret)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load basic auth credentials: %w", err)
	}
	return &basicAuthResolved{Users: users, Realm: c.Realm, RemoveHeader: c.RemoveHeader, HeaderField: c.HeaderField}, nil
}

func resolveDigestAuth(t *translator, ns string, s *crd.MiddlewareSpec) (*digestAuthResolved, error) {
	c := s.DigestAuth
	if c.Secret == "" {
		return nil, errors.New("auth secret must be set")
	}
	secret, err := t.secret(ns, c.Secret)
	if err != nil {
		return nil, err
	}
	users, err := authSecretLines(secret)
	if err != nil {
		return nil, fmt.Errorf("failed to load digest auth credentials: %w", err)
	}
	return &digestAuthResolved{Users: users, Realm: c.Realm, RemoveHeader: c.RemoveHeader, HeaderField: c.HeaderField}, nil
}

// basicAuthSecretUsers is loadBasicAuthCredentials: a kubernetes.io/basic-auth
// Secret's username and password make one user, its password hashed as
// htpasswd -s does ("{SHA}" + base64(SHA-1)).
func basicAuthSecretUsers(s *corev1.Secret) ([]string, error) {
	user, okUser := s.Data["username"]
	password, okPassword := s.Data["password"]
	if !okUser || !okPassword {
		return nil, fmt.Errorf("secret '%s/%s' must contain both username and password keys", s.Namespace, s.Name)
	}
	sum := sha1.Sum(password)
	return []string{string(user) + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// authSecretLines is loadAuthCredentials: the Secret's only key holds the
// users, one a line (empty lines skipped, "\r\n" endings accepted; lines
// are not trimmed and '#' is no comment there).
func authSecretLines(s *corev1.Secret) ([]string, error) {
	if len(s.Data) != 1 {
		return nil, fmt.Errorf("found %d elements for secret '%s/%s', must be single element exactly", len(s.Data), s.Namespace, s.Name)
	}
	var data []byte
	for _, v := range s.Data {
		data = v
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("error reading secret for %s/%s: %w", s.Namespace, s.Name, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("secret '%s/%s' does not contain any credentials", s.Namespace, s.Name)
	}
	return lines, nil
}
