package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// rateLimitConfig is Traefik's rateLimit (dynamic.RateLimit as its CRD
// provider fills it), with the Redis credentials and TLS PEM blocks that
// translation read from the Secrets the CRD names
// (k8swatch/translate/mw_ratelimit.go).
type rateLimitConfig struct {
	// Average requests per Period; nil, 0 or less: no limit.
	Average *int64 `json:"average,omitempty"`
	// Period is the unit of Average; nil or 0: one second.
	Period *Duration `json:"period,omitempty"`
	// Burst is the bucket's size; nil or less than 1: 1.
	Burst           *int64           `json:"burst,omitempty"`
	SourceCriterion *SourceCriterion `json:"sourceCriterion,omitempty"`
	// Redis keeps the buckets in Redis, shared by every proxy using it.
	Redis *rateLimitRedis `json:"redis,omitempty"`
}

// rateLimitRedis is Traefik's dynamic.Redis.
type rateLimitRedis struct {
	// Endpoints: one address, or a cluster's seed list; none means
	// localhost:6379.
	Endpoints      []string           `json:"endpoints,omitzero"`
	TLS            *rateLimitRedisTLS `json:"tls,omitempty"`
	Username       string             `json:"username,omitempty"`
	Password       string             `json:"password,omitempty"`
	DB             int                `json:"db,omitempty"`
	PoolSize       int                `json:"poolSize,omitempty"`
	MinIdleConns   int                `json:"minIdleConns,omitempty"`
	MaxActiveConns int                `json:"maxActiveConns,omitempty"`
	// ReadTimeout and WriteTimeout: nil means 3s, 0 or less no timeout;
	// DialTimeout: nil, 0 or less means 5s.
	ReadTimeout  *Duration `json:"readTimeout,omitempty"`
	WriteTimeout *Duration `json:"writeTimeout,omitempty"`
	DialTimeout  *Duration `json:"dialTimeout,omitempty"`
}

// rateLimitRedisTLS is Traefik's types.ClientTLS with the PEM contents
// (the CA from redis.tls.caSecret, the pair from redis.tls.certSecret).
type rateLimitRedisTLS struct {
	CA                 string `json:"ca,omitempty"`
	Cert               string `json:"cert,omitempty"`
	Key                string `json:"key,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// rateLimitParams are the numbers Traefik's ratelimiter.New derives from
// the configuration.
type rateLimitParams struct {
	rate  rate.Limit // requests per second; rate.Inf: no limit
	burst int64
	// maxDelay is the longest a request is held back waiting for its
	// token; a longer wait is refused with 429.
	maxDelay time.Duration
	// ttl, in seconds, is how long an idle bucket is kept (in memory,
	// and in Redis through EXPIRE).
	ttl int
}

// rateLimitParamsOf is Traefik's arithmetic, in its order.
func rateLimitParamsOf(c *rateLimitConfig) (rateLimitParams, error) {
	var p rateLimitParams
	p.burst = 1 // SetDefaults
	if c.Burst != nil {
		p.burst = *c.Burst
	}
	p.burst = max(p.burst, 1)
	period := time.Second
	if c.Period != nil {
		period = time.Duration(*c.Period)
	}
	if period < 0 {
		return p, fmt.Errorf("negative value not valid for period: %v", period)
	}
	if period == 0 {
		period = time.Second
	}
	var average int64
	if c.Average != nil {
		average = *c.Average
	}
	rtl := float64(rate.Inf)
	if average > 0 {
		rtl = float64(average*int64(time.Second)) / float64(period)
		// Traefik caps the wait at half a token's interval, and at 0.5s
		// below one request a second.
		if rtl < 1 {
			p.maxDelay = 500 * time.Millisecond
		} else if d := time.Duration(rtl) * 2; d > 0 {
			p.maxDelay = time.Second / d
		}
	}
	// Idle buckets live one second more than a maxed-out bucket's
	// interval between requests, and 2s above one request a second.
	p.ttl = 1
	if rtl >= 1 {
		p.ttl++
	} else if rtl > 0 {
		p.ttl += int(1 / rtl)
	}
	p.rate = rate.Limit(rtl)
	return p, nil
}

// rateLimit is a built rateLimit middleware: one token bucket per source,
// all with the same rate and size, kept in memory (local) or in Redis
// (redis).
type rateLimit struct {
	src      sourceFunc
	maxDelay time.Duration
	now      func() time.Time
	local    *rlLocal // one of local and redis; neither: no limit
	redis    *rlRedis
	errLog   *rlErrLog
}

func newRateLimit(c *rateLimitConfig, def *spec.Middleware, bc *BuildContext) (Middleware, error) {
	l, err := buildRateLimit(c, def, bc, time.Now)
	if err != nil {
		return nil, err
	}
	return l.wrap, nil
}

// buildRateLimit builds the middleware on a clock (tests inject theirs).
func buildRateLimit(c *rateLimitConfig, def *spec.Middleware, bc *BuildContext, now func() time.Time) (*rateLimit, error) {
	// Traefik's ratelimiter.New, in its order: the source extractor, the
	// period, then the limiter.
	src, err := c.SourceCriterion.build()
	if err != nil {
		return nil, fmt.Errorf("getting source extractor: %w", err)
	}
	p, err := rateLimitParamsOf(c)
	if err != nil {
		return nil, err
	}
	l := &rateLimit{src: src, maxDelay: p.maxDelay, now: now}
	var log *slog.Logger
	if bc != nil {
		log = bc.Log
	}
	l.errLog = newRLErrLog(log, def.Name)
	if c.Redis != nil {
		opts, key, err := rlRedisOptions(c.Redis)
		if err != nil {
			return nil, fmt.Errorf("creating redis limiter: %w", err)
		}
		// With no limit Redis is not consulted, and no client is made.
		// (Traefik answers every request 429 "No bursty traffic
		// allowed" there, a bug not fixed yet, traefik#13512; its
		// in-memory limiter and its documentation let all through.)
		if p.rate != rate.Inf {
			l.redis = newRLRedis(opts, key, p, def.Name)
		}
		return l, nil
	}
	if p.rate != rate.Inf {
		l.local = newRLLocal(p)
	}
	return l, nil
}

func (l *rateLimit) wrap(next Handler) Handler {
	if l.local == nil && l.redis == nil {
		return next // average 0: every request passes, as in Traefik
	}
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		// Each middleware has its own buckets, so the key is the
		// source alone (Traefik's "name:source" in its in-memory map;
		// the Redis key carries the name).
		r.Buf = l.src(r.Buf[:0], ctx, r)
		now := l.now()
		var delay time.Duration
		var ok bool
		if l.local != nil {
			delay, ok = l.local.allow(r.Buf, now)
		} else {
			var err error
			delay, ok, err = l.redis.allow(r.Buf, now)
			if err != nil {
				l.errLog.report(now, err)
				pathError(ctx, fasthttp.StatusInternalServerError, "Could not insert/update bucket")
				return
			}
		}
		if !ok {
			// Traefik's answer when the bucket cannot take one request
			// at all. Its limiters never say so with a burst of at
			// least 1, which the configuration always gets.
			pathError(ctx, fasthttp.StatusTooManyRequests, "No bursty traffic allowed")
			return
		}
		if delay > l.maxDelay {
			r.Buf = tooManyRequests(ctx, r.Buf[:0], delay)
			return
		}
		if delay > 0 && !rlWait(ctx.Done(), delay) {
			// The server is shutting down (fasthttp's RequestCtx is
			// done only then; Traefik also stops on a client gone).
			pathError(ctx, fasthttp.StatusInternalServerError, "context canceled")
			return
		}
		next(ctx, r)
	}
}

// tooManyRequests is Traefik's serveDelayError: 429 with the wait in
// whole seconds rounded up (Retry-After) and exactly (X-Retry-In, Go's
// Duration format); the body is the status text, which net/http sniffs
// as text/plain. buf is scratch space, returned.
func tooManyRequests(ctx *fasthttp.RequestCtx, buf []byte, delay time.Duration) []byte {
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
	buf = strconv.AppendFloat(buf, math.Ceil(delay.Seconds()), 'f', 0, 64)
	ctx.Response.Header.SetBytesV("Retry-After", buf)
	buf = appendDuration(buf[:0], delay)
	ctx.Response.Header.SetBytesV("X-Retry-In", buf)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString("Too Many Requests")
	return buf
}

// rlTimers recycles the timers of held-back requests.
var rlTimers sync.Pool

// rlWait waits d, or until done is closed (then it returns false).
func rlWait(done <-chan struct{}, d time.Duration) bool {
	t, _ := rlTimers.Get().(*time.Timer)
	if t == nil {
		t = time.NewTimer(d)
	} else {
		t.Reset(d)
	}
	select {
	case <-t.C:
		rlTimers.Put(t)
		return true
	case <-done:
		t.Stop() // Go ≥ 1.23: no stale tick after Stop, the timer can be reused
		rlTimers.Put(t)
		return false
	}
}

// appendDuration appends d as time.Duration.String writes it, without
// allocating: "1h2m3.5s", "1.5s", "2.25ms", "3µs", "7ns", "0s".
func appendDuration(dst []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		u = -u
	}
	switch {
	case u == 0:
		return append(dst, "0s"...)
	case u < uint64(time.Microsecond):
		return append(strconv.AppendUint(dst, u, 10), "ns"...)
	case u < uint64(time.Millisecond):
		return append(appendFraction(dst, u, 1e3), "µs"...)
	case u < uint64(time.Second):
		return append(appendFraction(dst, u, 1e6), "ms"...)
	}
	const minute, hour = uint64(time.Minute), uint64(time.Hour)
	if u >= hour {
		dst = append(strconv.AppendUint(dst, u/hour, 10), 'h')
		u %= hour
		dst = append(strconv.AppendUint(dst, u/minute, 10), 'm')
		u %= minute
	} else if u >= minute {
		dst = append(strconv.AppendUint(dst, u/minute, 10), 'm')
		u %= minute
	}
	return append(appendFraction(dst, u, 1e9), 's')
}

// appendFraction appends v/unit in decimal, the fraction without its
// trailing zeros (unit is a power of ten).
func appendFraction(dst []byte, v, unit uint64) []byte {
	dst = strconv.AppendUint(dst, v/unit, 10)
	frac := v % unit
	if frac == 0 {
		return dst
	}
	dst = append(dst, '.')
	for unit /= 10; frac > 0; unit /= 10 {
		dst = append(dst, byte('0'+frac/unit))
		frac %= unit
	}
	return dst
}

// rlErrLog logs the Redis failures of one middleware: five lines, then
// at most one a second, each with the count of the failures left
// unlogged since the one before, so that a dead Redis under load cannot
// flood the log.
type rlErrLog struct {
	log     *slog.Logger // nil: slog.Default() at the time of logging
	name    string
	lim     *rate.Limiter
	dropped atomic.Int64
}

func newRLErrLog(log *slog.Logger, name string) *rlErrLog {
	return &rlErrLog{log: log, name: name, lim: rate.NewLimiter(1, 5)}
}

func (e *rlErrLog) report(now time.Time, err error) {
	if !e.lim.AllowN(now, 1) {
		e.dropped.Add(1)
		return
	}
	log := e.log
	if log == nil {
		log = slog.Default()
	}
	log.LogAttrs(context.Background(), slog.LevelError, "rateLimit: could not insert/update bucket",
		slog.String("middleware", e.name), slog.String("error", err.Error()), slog.Int64("unlogged", e.dropped.Swap(0)))
}
