package middleware

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// The Redis limiter: Traefik's redisLimiter. One Redis hash per source,
// "rate:<middleware name>:<source>" with the fields last (µs) and tokens,
// updated by a Lua script with Traefik's arithmetic (its
// AllowTokenBucketRaw) and expiring ttl seconds after its last use. The
// key, fields and arithmetic are Traefik's, so edgeroute replicas (and
// Traefik instances) using the same Redis and middleware name share one
// budget. Times come from each proxy's clock, as in Traefik.
//
// One deliberate difference: a request whose time is before the
// bucket's last update leaves last as it is, where Traefik's script
// moves it back to that earlier time, so that the next request is
// credited the interval between the two again. Concurrent requests reach
// Redis out of order all the time (and proxies' clocks differ), so
// Traefik's budget leaks by rate × the reordering: edgeroute's holds.

// rlScript takes a token from the bucket KEYS[1]. ARGV: the rate in
// tokens per microsecond, the burst, the ttl in seconds, the time in
// Unix microseconds, the longest wait allowed in microseconds. It returns
// "true", the wait in microseconds and the tokens left (as strings).
var rlScript = redis.NewScript(`
local rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now, max_wait = tonumber(ARGV[4]), tonumber(ARGV[5])

-- A bucket never seen (or expired) is full: last 0 makes it refill.
local last, tokens = 0, 0
local state = redis.call('HGETALL', KEYS[1])
if #state == 4 then
  local fields = {}
  fields[state[1]] = state[2]
  fields[state[3]] = state[4]
  if fields.last and fields.tokens then
    last, tokens = tonumber(fields.last), tonumber(fields.tokens)
  end
end

-- A request timed before the last update (proxies' clocks differ, and
-- requests reach Redis out of order) refills nothing and leaves the
-- last update as it is.
if now < last then
  now = last
end
tokens = math.min(tokens + rate * (now - last), burst) - 1

local wait = 0
if tokens < 0 then
  wait = -tokens / rate
  if wait > max_wait then
    -- Refused: the token is not taken.
    tokens = math.min(tokens + 1, burst)
  end
end

redis.call('HSET', KEYS[1], 'last', now, 'tokens', tokens)
redis.call('EXPIRE', KEYS[1], ttl)
return {'true', tostring(wait), tostring(tokens)}
`)

const rlRedisPrefix = "rate:" // Traefik's redisPrefix

// Traefik's dynamic.Redis defaults (SetDefaults), and go-redis's dial
// timeout for a value of 0 or less.
const (
	rlRedisEndpoint     = "localhost:6379"
	rlRedisReadTimeout  = 3 * time.Second
	rlRedisWriteTimeout = 3 * time.Second
	rlRedisDialTimeout  = 5 * time.Second
)

type rlRedis struct {
	client    *rlClient
	prefix    string // "rate:<name>:"
	rate      float64
	burst     int64
	ttl       int
	maxWaitUS int64
	// budget bounds one evaluation (dial, write and read timeouts, so
	// that go-redis's retries cannot stretch it); 0 when a read or write
	// timeout is disabled.
	budget time.Duration
}

// rlRedisOptions is Traefik's newRedisLimiter option mapping. key
// identifies the configuration in the client registry.
func rlRedisOptions(c *rateLimitRedis) (opts *redis.UniversalOptions, key string, err error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"poolSize", c.PoolSize}, {"minIdleConns", c.MinIdleConns}, {"maxActiveConns", c.MaxActiveConns}} {
		if f.v < 0 {
			// go-redis would panic on it.
			return nil, "", fmt.Errorf("redis %s %d: must not be negative", f.name, f.v)
		}
	}
	opts = &redis.UniversalOptions{
		Addrs:          c.Endpoints,
		Username:       c.Username,
		Password:       c.Password,
		DB:             c.DB,
		PoolSize:       c.PoolSize,
		MinIdleConns:   c.MinIdleConns,
		MaxActiveConns: c.MaxActiveConns,
		DialTimeout:    rlRedisDialTimeout,
		ReadTimeout:    rlRedisReadTimeout,
		WriteTimeout:   rlRedisWriteTimeout,
	}
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{rlRedisEndpoint}
	}
	if c.DialTimeout != nil && *c.DialTimeout > 0 {
		opts.DialTimeout = time.Duration(*c.DialTimeout)
	}
	// go-redis: -1 is no timeout.
	for _, t := range []struct {
		d   *Duration
		dst *time.Duration
	}{{c.ReadTimeout, &opts.ReadTimeout}, {c.WriteTimeout, &opts.WriteTimeout}} {
		if t.d != nil {
			*t.dst = time.Duration(*t.d)
			if *t.dst <= 0 {
				*t.dst = -1
			}
		}
	}
	if c.TLS != nil {
		if opts.TLSConfig, err = rlTLSConfig(c.TLS); err != nil {
			return nil, "", fmt.Errorf("creating TLS config: %w", err)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, "", err
	}
	return opts, string(b), nil
}

// rlTLSConfig is Traefik's ClientTLS.CreateTLSConfig on PEM contents.
func rlTLSConfig(c *rateLimitRedisTLS) (*tls.Config, error) {
	var pool *x509.CertPool // nil: the system's roots
	if c.CA != "" {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("failed to parse CA")
		}
	}
	if (c.Cert != "") != (c.Key != "") {
		return nil, errors.New("both TLS cert and key must be defined")
	}
	cfg := &tls.Config{RootCAs: pool, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.Cert != "" {
		pair, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
		if err != nil {
			return nil, fmt.Errorf("TLS cert and key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func newRLRedis(opts *redis.UniversalOptions, key string, p rateLimitParams, name string) *rlRedis {
	l := &rlRedis{
		prefix:    rlRedisPrefix + name + ":",
		rate:      float64(p.rate / 1e6),
		burst:     p.burst,
		ttl:       p.ttl,
		maxWaitUS: p.maxDelay.Microseconds(),
	}
	if opts.ReadTimeout > 0 && opts.WriteTimeout > 0 {
		l.budget = opts.DialTimeout + opts.WriteTimeout + opts.ReadTimeout
	}
	l.client = rlAcquire(key, opts)
	// The client is released when this limiter can no longer be used
	// (see rlClients).
	runtime.AddCleanup(l, rlRelease, l.client)
	return l
}

// allow is Traefik's redisLimiter.Allow: the script's wait.
func (l *rlRedis) allow(source []byte, now time.Time) (delay time.Duration, ok bool, err error) {
	ctx := context.Background()
	if l.budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.budget)
		defer cancel()
	}
	v, err := rlScript.Run(ctx, l.client.c, []string{l.prefix + string(source)},
		l.rate, l.burst, l.ttl, now.UnixMicro(), l.maxWaitUS).Result()
	runtime.KeepAlive(l) // the client stays open until the call is done
	if err != nil {
		return 0, false, fmt.Errorf("evaluating script: running script: %w", err)
	}
	vals, _ := v.([]any)
	if len(vals) < 2 {
		return 0, false, fmt.Errorf("evaluating script: unexpected reply %v", v)
	}
	s, _ := vals[0].(string)
	if ok, err = strconv.ParseBool(s); err != nil {
		return 0, false, fmt.Errorf("evaluating script: parsing ok value from redis rate lua script: %w", err)
	}
	s, _ = vals[1].(string)
	us, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("evaluating script: parsing delay value from redis rate lua script: %w", err)
	}
	return time.Duration(us * float64(time.Microsecond)), ok, nil
}

// rlClients is the registry of Redis clients, one per distinct redis
// configuration, counted by the limiters using it. A middleware has no
// close hook: an unchanged one is reused across reloads (BuildContext.
// Previous) and a dropped one is simply no longer referenced. So each
// limiter holds a reference that a runtime cleanup releases once the
// limiter is unreachable — no router, no in-flight request can use it
// any more — and the last reference closes the client (its pool, its
// connections, go-redis's redial goroutine). Sharing clients keeps one
// pool for middlewares with the same Redis, and a changed middleware
// whose redis block did not change keeps its connections.
var rlClients = struct {
	sync.Mutex
	m map[string]*rlClient
}{m: map[string]*rlClient{}}

type rlClient struct {
	c    redis.UniversalClient
	key  string
	refs int
}

func rlAcquire(key string, opts *redis.UniversalOptions) *rlClient {
	rlClients.Lock()
	defer rlClients.Unlock()
	e := rlClients.m[key]
	if e == nil {
		e = &rlClient{c: redis.NewUniversalClient(opts), key: key}
		rlClients.m[key] = e
	}
	e.refs++
	return e
}

func rlRelease(e *rlClient) {
	rlClients.Lock()
	e.refs--
	last := e.refs == 0
	if last {
		delete(rlClients.m, e.key)
	}
	rlClients.Unlock()
	if last {
		e.c.Close()
	}
}

// go-redis's own messages (a failed dial, a connection pool problem),
// which it prints to stderr, go to the default slog logger instead,
// rate-limited like rlErrLog: rateLimit is go-redis's only user.
func init() { redis.SetLogger(&rlRedisLog{lim: rate.NewLimiter(1, 5)}) }

type rlRedisLog struct {
	lim     *rate.Limiter
	dropped atomic.Int64
}

func (l *rlRedisLog) Printf(_ context.Context, format string, v ...any) {
	if !l.lim.Allow() {
		l.dropped.Add(1)
		return
	}
	slog.Default().LogAttrs(context.Background(), slog.LevelWarn, "rateLimit: redis client: "+fmt.Sprintf(format, v...),
		slog.Int64("unlogged", l.dropped.Swap(0)))
}
