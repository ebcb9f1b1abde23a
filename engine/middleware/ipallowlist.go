package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// ipAllowListConfig is Traefik's ipAllowList: requests whose client
// address (as ipStrategy picks it) is not in sourceRange are refused with
// rejectStatusCode (403 by default).
type ipAllowListConfig struct {
	SourceRange      []string    `json:"sourceRange,omitzero"`
	IPStrategy       *IPStrategy `json:"ipStrategy,omitempty"`
	RejectStatusCode int         `json:"rejectStatusCode,omitempty"`
}

// ipWhiteListConfig is Traefik's deprecated ipWhiteList: ipAllowList
// without rejectStatusCode (always 403).
type ipWhiteListConfig struct {
	SourceRange []string    `json:"sourceRange,omitzero"`
	IPStrategy  *IPStrategy `json:"ipStrategy,omitempty"`
}

func newIPAllowList(c *ipAllowListConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	if len(c.SourceRange) == 0 {
		return nil, errors.New("sourceRange is empty, IPAllowLister not created") // Traefik's message
	}
	status := c.RejectStatusCode
	if status == 0 {
		status = http.StatusForbidden
	} else if http.StatusText(status) == "" {
		return nil, fmt.Errorf("invalid HTTP status code %d", status)
	}
	checker, err := newIPChecker(c.SourceRange)
	if err != nil {
		return nil, fmt.Errorf("cannot parse CIDRs %s: %w", fmtList(c.SourceRange), err)
	}
	strategy, err := c.IPStrategy.build()
	if err != nil {
		return nil, err
	}
	return ipAllowList(checker, strategy, status), nil
}

func newIPWhiteList(c *ipWhiteListConfig, def *spec.Middleware, bc *BuildContext) (Middleware, error) {
	// Traefik's words (pkg/server/middleware/middlewares.go), which it
	// logs whether or not the middleware then builds.
	bc.Warn("Middleware %q of type IPWhiteList is deprecated, please use IPAllowList instead.", def.Name)
	if len(c.SourceRange) == 0 {
		return nil, errors.New("sourceRange is empty, IPWhiteLister not created")
	}
	checker, err := newIPChecker(c.SourceRange)
	if err != nil {
		return nil, fmt.Errorf("cannot parse CIDR whitelist %s: %w", fmtList(c.SourceRange), err)
	}
	strategy, err := c.IPStrategy.build()
	if err != nil {
		return nil, err
	}
	return ipAllowList(checker, strategy, http.StatusForbidden), nil
}

// fmtList is fmt's %s of a []string: "[a b]".
func fmtList(l []string) string { return "[" + strings.Join(l, " ") + "]" }

// ipAllowList lets through the requests whose client address the checker
// authorizes, and answers the others with status.
func ipAllowList(checker *ipChecker, strategy *ipStrategy, status int) Middleware {
	rej := newRejection(status)
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			if strategy.depth == 0 && strategy.excluded == nil {
				// The TCP peer: no text to parse back (Traefik's
				// RemoteAddrStrategy then IsAuthorized, whose only
				// failure for a peer address is "not listed").
				ip := r.ClientIP
				if strategy.subnet > 0 && ip.Is6() {
					if p, err := ip.Prefix(strategy.subnet); err == nil {
						ip = p.Addr()
					}
				}
				if !ip.IsValid() || !checker.containsAddr(ip) {
					rej.write(ctx)
					return
				}
				next(ctx, r)
				return
			}
			r.Buf = strategy.appendIP(r.Buf[:0], ctx, r)
			if !checker.allows(r.Buf) {
				rej.write(ctx)
				return
			}
			next(ctx, r)
		}
	}
}

// rejection is Traefik's reject: WriteHeader(status) and the status text
// as the body, which net/http sends as Go's ResponseWriter makes it.
type rejection struct {
	status int
	body   []byte // nil: no body (net/http sends none for 101, 204, 304)
	ctype  bool   // net/http's sniffed Content-Type: text/plain; charset=utf-8
}

func newRejection(status int) rejection {
	text := []byte(http.StatusText(status))
	switch {
	case status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols:
		// An informational status goes out as an interim response;
		// the body that follows makes net/http send a 200 with it. The
		// interim response, which clients skip, is left out.
		return rejection{status: http.StatusOK, body: text, ctype: true}
	case !bodyAllowed(status):
		return rejection{status: status}
	}
	return rejection{status: status, body: text, ctype: true}
}

func (j *rejection) write(ctx *fasthttp.RequestCtx) {
	ctx.Response.SetStatusCode(j.status)
	if j.ctype {
		ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	}
	if j.body != nil {
		ctx.Response.SetBody(j.body)
	}
}

// allows is IsAuthorized without its error (which would allocate per
// refused request): addr, without its port if it has one, is a listed
// address. An empty or unparsable address is not.
func (c *ipChecker) allows(addr []byte) bool {
	host := addr
	if h, _, ok := splitHostPortBytes(addr); ok {
		host = h
	}
	a, err := parseAddrBytes(host)
	return err == nil && c.containsAddr(a)
}
