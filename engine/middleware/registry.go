package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Kind is one row of the registry: a middleware kind by its Middleware
// spec key, the type its configuration decodes into, and how it is built.
type Kind struct {
	// Name is the kind's key in the Middleware spec ("stripPrefix").
	Name string
	// config returns a pointer to a new zero configuration.
	config func() any
	// build makes the middleware from a decoded configuration.
	build func(cfg any, def *spec.Middleware, bc *BuildContext) (Middleware, error)
}

// ConfigType is the type a kind's configuration decodes into (a struct),
// for tests that compare it with the CRD's.
func (k Kind) ConfigType() reflect.Type { return reflect.TypeOf(k.config()).Elem() }

// kind makes a registry row with a typed build function.
func kind[C any](name string, build func(c *C, def *spec.Middleware, bc *BuildContext) (Middleware, error)) Kind {
	return Kind{
		Name:   name,
		config: func() any { return new(C) },
		build: func(cfg any, def *spec.Middleware, bc *BuildContext) (Middleware, error) {
			return build(cfg.(*C), def, bc)
		},
	}
}

// Kinds is the registry: every middleware kind edgeroute implements, one
// row each. A kind of the Middleware CRD missing here is refused with a
// clear error on the object.
var Kinds = []Kind{
	kind("addPrefix", newAddPrefix),
	kind("stripPrefix", newStripPrefix),
	kind("chain", newChain),
	kind("retry", newRetry),
	kind("buffering", newBuffering),
	kind("errors", newErrors),
	kind("redirectRegex", newRedirectRegex),
	kind("redirectScheme", newRedirectScheme),
	kind("encodedCharacters", newEncodedCharacters),
	kind("passTLSClientCert", newPassTLSClientCert),
	kind("replacePath", newReplacePath),
	kind("replacePathRegex", newReplacePathRegex),
	kind("stripPrefixRegex", newStripPrefixRegex),
	kind("compress", newCompress),
	kind("contentType", newContentType),
	kind("headers", newHeaders),
	kind("grpcWeb", newGrpcWeb),
	kind("circuitBreaker", newCircuitBreaker),
	kind("jwt", newJWT),
	kind("basicAuth", newBasicAuth),
	kind("digestAuth", newDigestAuth),
	kind("rateLimit", newRateLimit),
	kind("ipAllowList", newIPAllowList),
	kind("ipWhiteList", newIPWhiteList),
	kind("inFlightReq", newInFlightReq),
	kind("forwardAuth", newForwardAuth),
	// New kinds go above this line, one row each.
}

// Lookup returns the registry row of a kind.
func Lookup(name string) (Kind, bool) {
	i := slices.IndexFunc(Kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return Kinds[i], true
}

// decode reads a kind's JSON configuration strictly: a field the kind's
// type lacks is an error naming it.
func decode(raw json.RawMessage, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("option %s is not supported by edgeroute", f)
		}
		return err
	}
	return nil
}
