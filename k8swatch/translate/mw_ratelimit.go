package translate

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// rateLimitResolved is the rateLimit configuration the engine decodes:
// the CRD's, with redis.secret read into a username and a password and
// the redis.tls Secrets into PEM blocks, as Traefik's CRD provider does
// (createRateLimitMiddleware). The defaults (period 1s, burst 1, the
// Redis endpoint and timeouts) are the engine's.
type rateLimitResolved struct {
	Average         *int64                  `json:"average,omitempty"`
	Period          *intstr.IntOrString     `json:"period,omitempty"`
	Burst           *int64                  `json:"burst,omitempty"`
	SourceCriterion *crd.SourceCriterion    `json:"sourceCriterion,omitempty"`
	Redis           *rateLimitRedisResolved `json:"redis,omitempty"`
}

type rateLimitRedisResolved struct {
	Endpoints      []string              `json:"endpoints,omitzero"`
	TLS            *rateLimitTLSResolved `json:"tls,omitempty"`
	Username       string                `json:"username,omitempty"`
	Password       string                `json:"password,omitempty"`
	DB             int                   `json:"db,omitempty"`
	PoolSize       int                   `json:"poolSize,omitempty"`
	MinIdleConns   int                   `json:"minIdleConns,omitempty"`
	MaxActiveConns int                   `json:"maxActiveConns,omitempty"`
	ReadTimeout    *intstr.IntOrString   `json:"readTimeout,omitempty"`
	WriteTimeout   *intstr.IntOrString   `json:"writeTimeout,omitempty"`
	DialTimeout    *intstr.IntOrString   `json:"dialTimeout,omitempty"`
}

// rateLimitTLSResolved is Traefik's types.ClientTLS with the Secrets'
// contents.
type rateLimitTLSResolved struct {
	CA                 string `json:"ca,omitempty"`
	Cert               string `json:"cert,omitempty"`
	Key                string `json:"key,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

func resolveRateLimit(t *translator, ns string, s *crd.MiddlewareSpec) (*rateLimitResolved, error) {
	c := s.RateLimit
	out := &rateLimitResolved{Average: c.Average, Period: c.Period, Burst: c.Burst, SourceCriterion: c.SourceCriterion}
	r := c.Redis
	if r == nil {
		return out, nil
	}
	out.Redis = &rateLimitRedisResolved{
		Endpoints: r.Endpoints, DB: r.DB, PoolSize: r.PoolSize, MinIdleConns: r.MinIdleConns, MaxActiveConns: r.MaxActiveConns,
		ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout, DialTimeout: r.DialTimeout,
	}
	// Traefik's order: the CA, the certificate, then the credentials.
	if r.TLS != nil {
		tls := &rateLimitTLSResolved{InsecureSkipVerify: r.TLS.InsecureSkipVerify}
		if r.TLS.CASecret != "" {
			ca, err := t.caSecret(ns, r.TLS.CASecret)
			if err != nil {
				return nil, fmt.Errorf("failed to load auth ca secret: %w", err)
			}
			tls.CA = string(ca)
		}
		if r.TLS.CertSecret != "" {
			cert, key, err := t.authTLSSecret(ns, r.TLS.CertSecret)
			if err != nil {
				return nil, fmt.Errorf("failed to load auth secret: %w", err)
			}
			tls.Cert, tls.Key = cert, key
		}
		out.Redis.TLS = tls
	}
	if r.Secret != "" {
		sec, err := t.secret(ns, r.Secret)
		if err != nil {
			return nil, err
		}
		// Traefik's loadRedisCredentials.
		user, okUser := sec.Data["username"]
		pass, okPass := sec.Data["password"]
		if !okUser || !okPass {
			return nil, fmt.Errorf("secret '%s/%s' must contain both username and password keys", sec.Namespace, sec.Name)
		}
		out.Redis.Username, out.Redis.Password = string(user), string(pass)
	}
	return out, nil
}
