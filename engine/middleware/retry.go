package middleware

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// retryConfig is Traefik's retry middleware: the request is sent again
// when the service could not reach an upstream, or (with Status) when
// the answer has one of the listed statuses.
type retryConfig struct {
	Attempts                   int       `json:"attempts,omitempty"`
	Timeout                    *Duration `json:"timeout,omitempty"`
	InitialInterval            *Duration `json:"initialInterval,omitempty"`
	MaxRequestBodyBytes        *int64    `json:"maxRequestBodyBytes,omitempty"`
	Status                     []string  `json:"status,omitempty"`
	DisableRetryOnNetworkError bool      `json:"disableRetryOnNetworkError,omitempty"`
	RetryNonIdempotentMethod   bool      `json:"retryNonIdempotentMethod,omitempty"`
}

// retryDefaultMaxRequestBodyBytes is Traefik's default for
// maxRequestBodyBytes (dynamic.RetryDefaultMaxRequestBodyBytes, applied
// by the CRD provider's SetDefaults).
const retryDefaultMaxRequestBodyBytes = 2 << 20

// retryStatusPattern is the CRD's pattern for a status item.
var retryStatusPattern = regexp.MustCompile(`^([1-5][0-9]{2}[,-]?)+$`)

type retry struct {
	attempts          int
	statuses          StatusRanges // nil: no status is retried
	maxBody           int64        // < 0: no limit
	noNetwork         bool
	nonIdempotent     bool
	timeout, interval time.Duration
	multiplier        float64
}

func newRetry(c *retryConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	// Traefik's checks, in its order and with its messages.
	if len(c.Status) == 0 && c.DisableRetryOnNetworkError {
		return nil, errors.New("retry middleware requires at least HTTP status codes or retry on TCP")
	}
	if c.Attempts <= 0 {
		return nil, fmt.Errorf("incorrect (or empty) value for attempt (%d)", c.Attempts)
	}
	rt := &retry{attempts: c.Attempts, maxBody: retryDefaultMaxRequestBodyBytes,
		noNetwork: c.DisableRetryOnNetworkError, nonIdempotent: c.RetryNonIdempotentMethod}
	if c.MaxRequestBodyBytes != nil {
		if *c.MaxRequestBodyBytes < -1 {
			// The CRD's minimum: the API server refuses such an object.
			return nil, fmt.Errorf("maxRequestBodyBytes %d: must be -1 (no limit) or more", *c.MaxRequestBodyBytes)
		}
		rt.maxBody = *c.MaxRequestBodyBytes
	}
	for _, s := range c.Status {
		if !retryStatusPattern.MatchString(s) {
			return nil, fmt.Errorf("creating HTTP code ranges: status %q: want a status (100-599) or a range (\"500-599\")", s)
		}
	}
	if len(c.Status) > 0 {
		ranges, err := ParseStatusRanges(c.Status)
		if err != nil {
			return nil, fmt.Errorf("creating HTTP code ranges: %w", err)
		}
		rt.statuses = ranges
	}
	if c.Timeout != nil {
		rt.timeout = time.Duration(*c.Timeout)
	}
	if c.InitialInterval != nil {
		rt.interval = time.Duration(*c.InitialInterval)
	}
	if rt.attempts >= 2 && rt.interval > 0 {
		// Traefik's progression: after attempts-1 waits the interval has
		// doubled.
		rt.multiplier = math.Pow(2, 1/float64(rt.attempts-1))
	}
	return func(next Handler) Handler {
		if rt.attempts == 1 {
			return next // Traefik passes the request through untouched
		}
		return func(ctx *fasthttp.RequestCtx, r *Request) { rt.serve(ctx, r, next) }
	}, nil
}

// idempotent is Traefik's list: every method but POST, PATCH and LOCK.
func idempotent(method []byte) bool {
	m := string(method)
	return m != fasthttp.MethodPost && m != fasthttp.MethodPatch && m != "LOCK"
}

func (rt *retry) serve(ctx *fasthttp.RequestCtx, r *Request, next Handler) {
	statuses := rt.statuses
	if !rt.nonIdempotent && !idempotent(ctx.Request.Header.Method()) {
		statuses = nil // only the network-error retry is left
	}

	// The status retry replays the body: it is read up to
	// maxRequestBodyBytes first. Larger, it is sent once as it came and
	// only network errors (which never consumed it) are retried.
	var body replayBody
	if len(statuses) > 0 {
		switch err := body.read(&ctx.Request, rt.maxBody); {
		case errors.Is(err, errTooLarge):
			statuses = nil
		case err != nil:
			// Traefik answers with http.Error.
			ctx.Response.Reset()
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
			ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
			ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
			ctx.SetBodyString("Internal Server Error\n")
			body.close()
			return
		}
		defer body.close()
	}

	st := requestStates.Get().(*requestState)
	defer st.release()
	st.save(ctx, r)
	changes := r.ChangesResponse
	start := time.Now()
	wait := backoff{initial: rt.interval, current: rt.interval, multiplier: rt.multiplier, start: start}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			st.restore(ctx, r)
			r.Attempt++
		}
		if body.replay {
			ctx.Request.SetBodyStream(body.reader(), body.length)
		}
		r.UpstreamErr = nil
		if attempt == rt.attempts {
			r.ChangesResponse = changes
			next(ctx, r)
			return
		}
		// A status that may be retried must not be relayed to an HTTP/2
		// client before this middleware has seen it.
		r.ChangesResponse = changes || statuses != nil
		next(ctx, r)
		if ctx.Hijacked() {
			return // an upgraded connection (WebSocket) is never replayed
		}
		if errors.Is(r.UpstreamErr, context.Canceled) {
			return // the client went away: Traefik's backoff stops on its context
		}
		if !rt.failed(ctx, r, statuses, start) {
			return
		}
		d, ok := wait.next(rand.Float64())
		if !ok {
			return
		}
		ctx.Response.Reset() // also closes a streamed body
		if d > 0 {
			time.Sleep(d)
		}
	}
}

// failed reports whether an attempt that is not the last is retried:
// Traefik's responseWriter.WriteHeader. A network error counts only when
// the request never left (the upstream could not be connected to); a
// status only when it is listed; neither once the timeout has passed.
func (rt *retry) failed(ctx *fasthttp.RequestCtx, r *Request, statuses StatusRanges, start time.Time) bool {
	if rt.timeout > 0 && time.Since(start) >= rt.timeout {
		return false
	}
	if !rt.noNetwork && r.UpstreamErr != nil && notSent(r.UpstreamErr) {
		return true
	}
	return statuses != nil && statuses.Contains(ctx.Response.StatusCode())
}

// notSent reports whether an upstream error happened before any byte of
// the request was written: dialing, name resolution, the TLS handshake,
// no free connection. Traefik retries network errors only then (its
// httptrace hooks WroteHeaders/WroteRequest disarm the retry); an
// upstream that closes the connection after reading the request gets the
// 502 through, unless 502 is a listed status.
func notSent(err error) bool {
	if errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, fasthttp.ErrNoFreeConns) ||
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "remote error") {
		return true // "remote error": a TLS alert from the upstream during the handshake
	}
	var (
		dns    *net.DNSError
		record tls.RecordHeaderError
		alert  tls.AlertError
		verify *tls.CertificateVerificationError
		auth   x509.UnknownAuthorityError
		host   x509.HostnameError
		cert   x509.CertificateInvalidError
	)
	if errors.As(err, &dns) || errors.As(err, &record) || errors.As(err, &alert) || errors.As(err, &verify) ||
		errors.As(err, &auth) || errors.As(err, &host) || errors.As(err, &cert) {
		return true
	}
	return strings.Contains(err.Error(), "TLS handshake timeout") // net/http's unexported error
}

// backoff is the wait between attempts as Traefik computes it: cenkalti/
// backoff v4's ExponentialBackOff (randomization 0.5, maximum interval
// 60s, maximum elapsed time 15 minutes) from initialInterval with the
// multiplier that doubles it over the attempts; no wait at all without
// an initial interval.
type backoff struct {
	initial, current time.Duration
	multiplier       float64
	start            time.Time
}

const (
	backoffMaxInterval = 60 * time.Second
	backoffMaxElapsed  = 15 * time.Minute
)

// next returns the wait before the next attempt, given a random number
// in [0, 1), or false when the retries must stop.
func (b *backoff) next(random float64) (time.Duration, bool) {
	if b.initial <= 0 || b.multiplier == 0 {
		return 0, true
	}
	elapsed := time.Since(b.start)
	cur := float64(b.current)
	delta := 0.5 * cur
	lo, hi := cur-delta, cur+delta
	d := time.Duration(lo + random*(hi-lo+1))
	if cur >= float64(backoffMaxInterval)/b.multiplier {
		b.current = backoffMaxInterval
	} else {
		b.current = time.Duration(cur * b.multiplier)
	}
	if elapsed+d > backoffMaxElapsed {
		return 0, false
	}
	return d, true
}

// replayBody is a request body read in full so that each attempt sends it
// again. read keeps at most max+1 bytes in memory; a larger body is given
// back to the request untouched (its first bytes, then the rest of the
// stream).
type replayBody struct {
	spool
	replay bool
	length int // the Content-Length to declare: -1 for a body of unknown length
}

func (b *replayBody) read(req *fasthttp.Request, max int64) error {
	if !req.IsBodyStream() {
		data := req.Body()
		if len(data) == 0 {
			return nil
		}
		if max >= 0 && int64(len(data)) > max {
			return errTooLarge
		}
		b.mem = append([]byte(nil), data...) // the request's buffer is not ours to keep
		b.size, b.length, b.replay = int64(len(data)), len(data), true
		return nil
	}
	b.length = req.Header.ContentLength()
	if b.length < 0 {
		b.length = -1
	}
	if max >= 0 && int64(b.length) > max {
		return errTooLarge // known to be too large: left unread
	}
	src := req.BodyStream()
	memCap := int64(-1)
	if max >= 0 {
		memCap = max + 1
	}
	err := b.fill(src, memCap, max, b.length)
	switch {
	case errors.Is(err, errTooLarge):
		// Give the request what was read and what is left. Replacing the
		// stream closes an io.Closer one (an HTTP/2 request body), so the
		// rest of such a stream goes to a temporary file first.
		if _, closer := src.(io.Closer); closer {
			if err := b.spill(src, -1); err != nil {
				return err
			}
			req.SetBodyStream(b.reader(), b.length)
			return errTooLarge
		}
		req.SetBodyStream(io.MultiReader(bytes.NewReader(b.mem), src), b.length)
		return errTooLarge
	case err != nil:
		return err
	}
	b.replay = true
	return nil
}

// requestState is the request as found by a middleware that calls next
// more than once (retry, buffering's retryExpression): each new attempt
// starts from it, as Traefik gives every attempt a clone of the original
// request. The request headers are copied (what inner middlewares and
// forwarding changed is undone); the path is copied; the query and host
// slices are kept (their bytes are the request's own and are put back
// with the headers).
type requestState struct {
	header           fasthttp.RequestHeader
	raw              []byte
	path, rawPath    []byte
	decoded, rewrote bool
	query, host      []byte
	hasQuery, secure bool
	clientIP         netip.Addr
}

var requestStates = sync.Pool{New: func() any { return new(requestState) }}

// release drops the request's memory and pools s.
func (s *requestState) release() {
	s.raw, s.query, s.host = nil, nil, nil
	requestStates.Put(s)
}

func (s *requestState) save(ctx *fasthttp.RequestCtx, r *Request) {
	ctx.Request.Header.CopyTo(&s.header)
	s.raw = r.raw
	s.path = append(s.path[:0], r.path...)
	s.rawPath = append(s.rawPath[:0], r.rawPath...)
	s.decoded, s.rewrote = r.decoded, r.rewritten
	s.query, s.hasQuery, s.host = r.Query, r.HasQuery, r.Host
	s.secure, s.clientIP = r.Secure, r.ClientIP
}

func (s *requestState) restore(ctx *fasthttp.RequestCtx, r *Request) {
	s.header.CopyTo(&ctx.Request.Header)
	r.raw = s.raw
	r.path = append(r.path[:0], s.path...)
	r.rawPath = append(r.rawPath[:0], s.rawPath...)
	r.decoded, r.rewritten = s.decoded, s.rewrote
	r.Query, r.HasQuery, r.Host = s.query, s.hasQuery, s.host
	r.Secure, r.ClientIP = s.secure, s.clientIP
}
