package middleware

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware/cbreaker"
)

// circuitBreakerConfig is Traefik's circuitBreaker middleware: oxy's
// circuit breaker (package cbreaker) in front of the rest of the chain.
// Its state belongs to the built middleware: one breaker for every router
// that uses the Middleware object, kept across reloads that leave its
// definition unchanged (Traefik builds one per router).
type circuitBreakerConfig struct {
	Expression       string       `json:"expression,omitempty"`
	CheckPeriod      *crdDuration `json:"checkPeriod,omitempty"`
	FallbackDuration *crdDuration `json:"fallbackDuration,omitempty"`
	RecoveryDuration *crdDuration `json:"recoveryDuration,omitempty"`
	ResponseCode     int          `json:"responseCode,omitempty"`
}

// crdDuration is a duration as the CRD's IntOrString carries it: a whole
// number of seconds (an int32), or a string read as Traefik does (a
// number of seconds or a Go duration). It keeps the JSON value, checked
// and read at build time with the CRD's constraints: the API server
// refuses another number (1.5), and for checkPeriod and recoveryDuration
// a string that does not match durationPattern ("1.5s", "-1s", "10S").
type crdDuration []byte

var durationPattern = regexp.MustCompile(`^([0-9]+(ns|us|µs|ms|s|m|h)?)+$`)

func (p *crdDuration) UnmarshalJSON(b []byte) error {
	*p = append((*p)[:0], b...)
	return nil
}

// duration returns the configured duration (0 when unset).
func (p *crdDuration) duration(name string, pattern bool) (time.Duration, error) {
	if p == nil {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(*p, &s); err != nil {
		var n int32
		if err := json.Unmarshal(*p, &n); err != nil {
			return 0, fmt.Errorf("%s %s: want a whole number of seconds or a duration string", name, *p)
		}
		return time.Duration(n) * time.Second, nil
	}
	if pattern && !durationPattern.MatchString(s) {
		return 0, fmt.Errorf("%s %q: must match %s (the CRD's pattern: the API server refuses such an object)",
			name, s, durationPattern)
	}
	d, err := spec.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %v", name, s, err)
	}
	return d, nil
}

func newCircuitBreaker(c *circuitBreakerConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	return buildCircuitBreaker(c, time.Now)
}

// buildCircuitBreaker builds the middleware on the given clock.
func buildCircuitBreaker(c *circuitBreakerConfig, now func() time.Time) (Middleware, error) {
	// Traefik's defaults (dynamic.CircuitBreaker SetDefaults, filled by
	// the CRD provider): responseCode 503 when 0; a duration of 0 or less
	// leaves oxy's default, the same (100ms, 10s, 10s).
	code := c.ResponseCode
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	if code < 100 || code > 599 {
		// The CRD's bounds: the API server refuses such an object.
		return nil, fmt.Errorf("responseCode %d: must be between 100 and 599", code)
	}
	if code < 200 {
		// Traefik's net/http sends 100 or 103 as an interim answer followed
		// by a 200 with the status text, and 101 as a protocol switch that
		// switches to nothing: a broken answer edgeroute does not imitate.
		return nil, fmt.Errorf("responseCode %d: an informational status is not supported by edgeroute", code)
	}
	check, err := c.CheckPeriod.duration("checkPeriod", true)
	if err != nil {
		return nil, err
	}
	fallback, err := c.FallbackDuration.duration("fallbackDuration", false)
	if err != nil {
		return nil, err
	}
	recovery, err := c.RecoveryDuration.duration("recoveryDuration", true)
	if err != nil {
		return nil, err
	}
	cb, err := cbreaker.New(c.Expression, cbreaker.Options{CheckPeriod: check, FallbackDuration: fallback,
		RecoveryDuration: recovery, Now: now})
	if err != nil {
		return nil, err
	}

	// Traefik's fallback writes the status and its text, and net/http
	// adds what it always does: the sniffed Content-Type (text/plain for
	// a text; none for an empty body: a status without text) and the
	// Content-Length; a status that has no body (204, 304) gets none.
	body := []byte(http.StatusText(code))
	noBody := code == http.StatusNoContent || code == http.StatusNotModified
	answer := func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(code)
		if noBody {
			ctx.Response.ResetBody()
			return
		}
		if len(body) > 0 {
			ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
		}
		ctx.Response.SetBody(body)
	}
	// What oxy records after next: the answer's status (a 502 or 504 is a
	// network error, whether the service wrote it because it could not
	// reach an upstream or an upstream answered it) and the latency until
	// next returned (the status and headers; a streamed body may still be
	// on its way, which Traefik's latency would include).
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			if !cb.Allow() {
				answer(ctx)
				return
			}
			start := cb.Now()
			next(ctx, r)
			cb.Done(start, ctx.Response.StatusCode())
		}
	}, nil
}
