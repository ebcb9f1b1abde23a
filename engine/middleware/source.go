package middleware

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Shared by the kinds that pick a client (ipAllowList) or a key to count
// under (rateLimit, inFlightReq): Traefik's ipStrategy and
// sourceCriterion (pkg/ip, pkg/middlewares/extractor.go).

// IPStrategy is Traefik's ipStrategy: which address stands for the
// client. With depth N, the Nth X-Forwarded-For entry from the right;
// else with excludedIPs, the first entry from the right not excluded;
// else the TCP peer. ipv6Subnet reduces an IPv6 address to the first
// address of its /ipv6Subnet (depth and peer only, as Traefik).
type IPStrategy struct {
	Depth       int      `json:"depth,omitempty"`
	ExcludedIPs []string `json:"excludedIPs,omitzero"`
	IPv6Subnet  *int     `json:"ipv6Subnet,omitempty"`
}

// SourceCriterion is Traefik's sourceCriterion: the key requests are
// counted under. At most one of its fields; none means the TCP peer.
type SourceCriterion struct {
	IPStrategy        *IPStrategy `json:"ipStrategy,omitempty"`
	RequestHeaderName string      `json:"requestHeaderName,omitempty"`
	RequestHost       bool        `json:"requestHost,omitempty"`
}

// ipStrategy is a built IPStrategy.
type ipStrategy struct {
	depth    int
	excluded *ipChecker // pool strategy when non-nil
	subnet   int        // 0: none
}

// build is Traefik's IPStrategy.Get; a nil strategy is the TCP peer.
func (s *IPStrategy) build() (*ipStrategy, error) {
	if s == nil {
		return &ipStrategy{}, nil
	}
	checkSubnet := func() (int, error) {
		if s.IPv6Subnet == nil {
			return 0, nil
		}
		if *s.IPv6Subnet <= 0 || *s.IPv6Subnet > 128 {
			return 0, fmt.Errorf("invalid IPv6 subnet %d value, should be greater to 0 and lower or equal to 128", *s.IPv6Subnet)
		}
		return *s.IPv6Subnet, nil
	}
	if s.Depth > 0 {
		n, err := checkSubnet()
		return &ipStrategy{depth: s.Depth, subnet: n}, err
	}
	if len(s.ExcludedIPs) > 0 {
		c, err := newIPChecker(s.ExcludedIPs)
		if err != nil {
			return nil, err
		}
		return &ipStrategy{excluded: c}, nil
	}
	n, err := checkSubnet()
	return &ipStrategy{subnet: n}, err
}

// appendIP appends the address the strategy picks, as Traefik's GetIP
// returns it (text; empty when X-Forwarded-For has too few entries or
// none that is not excluded). The X-Forwarded-For seen is the request's
// as the middleware finds it: the client's, if the entry point trusts
// it (else it was removed), without the proxy's own addition, which
// comes at forwarding.
func (s *ipStrategy) appendIP(dst []byte, ctx *fasthttp.RequestCtx, r *Request) []byte {
	switch {
	case s.depth > 0:
		xff := ctx.Request.Header.Peek("X-Forwarded-For")
		n := 1
		for _, c := range xff {
			if c == ',' {
				n++
			}
		}
		if n < s.depth {
			return dst
		}
		// The depth-th entry from the right.
		skip := n - s.depth
		start := 0
		for i := 0; i < len(xff) && skip > 0; i++ {
			if xff[i] == ',' {
				skip--
				start = i + 1
			}
		}
		end := start
		for end < len(xff) && xff[end] != ',' {
			end++
		}
		return appendSubnet(dst, trimOWS(xff[start:end]), s.subnet)
	case s.excluded != nil:
		xff := ctx.Request.Header.Peek("X-Forwarded-For")
		for end := len(xff); end >= 0; {
			start := end - 1
			for start >= 0 && xff[start] != ',' {
				start--
			}
			v := trimOWS(xff[start+1 : end])
			if len(v) > 0 {
				if in, _ := s.excluded.contains(v); !in {
					return append(dst, v...)
				}
			}
			end = start
		}
		return dst
	default:
		if !r.ClientIP.IsValid() {
			return dst
		}
		ip := r.ClientIP
		if s.subnet > 0 && ip.Is6() {
			if p, err := ip.Prefix(s.subnet); err == nil {
				ip = p.Addr()
			}
		}
		return ip.AppendTo(dst)
	}
}

// appendSubnet is getIPv6SubnetIP: an IPv6 address reduced to its
// subnet's first address; anything else as it is.
func appendSubnet(dst, ip []byte, subnet int) []byte {
	if subnet > 0 {
		if a, err := parseAddrBytes(ip); err == nil && a.Is6() {
			if p, err := a.Prefix(subnet); err == nil {
				return p.Addr().AppendTo(dst)
			}
		}
	}
	return append(dst, ip...)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// sourceFunc appends the key a request counts under to dst. Traefik's
// extractors never fail: an absent header is the empty key, which all
// such requests share.
type sourceFunc func(dst []byte, ctx *fasthttp.RequestCtx, r *Request) []byte

// build is Traefik's GetSourceExtractor.
func (c *SourceCriterion) build() (sourceFunc, error) {
	if c != nil {
		switch {
		case c.IPStrategy != nil && c.RequestHeaderName != "":
			return nil, errors.New("iPStrategy and RequestHeaderName are mutually exclusive")
		case c.IPStrategy != nil && c.RequestHost:
			return nil, errors.New("iPStrategy and RequestHost are mutually exclusive")
		case c.RequestHeaderName != "" && c.RequestHost:
			return nil, errors.New("requestHost and RequestHeaderName are mutually exclusive")
		}
	}
	switch {
	case c != nil && c.RequestHeaderName != "":
		name := c.RequestHeaderName
		switch http.CanonicalHeaderKey(name) {
		case "Host", "Transfer-Encoding":
			// net/http moves them out of req.Header (to req.Host and
			// req.TransferEncoding): Header.Get finds nothing.
			return func(dst []byte, _ *fasthttp.RequestCtx, _ *Request) []byte { return dst }, nil
		}
		return func(dst []byte, ctx *fasthttp.RequestCtx, _ *Request) []byte {
			return append(dst, ctx.Request.Header.Peek(name)...)
		}, nil
	case c != nil && c.RequestHost:
		return appendRequestHost, nil
	}
	var s *IPStrategy
	if c != nil {
		s = c.IPStrategy
	}
	st, err := s.build()
	if err != nil {
		return nil, err
	}
	return func(dst []byte, ctx *fasthttp.RequestCtx, r *Request) []byte {
		return st.appendIP(dst, ctx, r)
	}, nil
}

// appendRequestHost appends Go's req.Host: the authority of an
// absolute-form target ("GET http://a.example:8080/ HTTP/1.1", without
// its userinfo) when it has one, else the Host header as sent (with its
// port, in its case). The engine moves the authority into the Host header
// only when it forwards, after the middlewares (absoluteAuthority is
// errors.go's).
func appendRequestHost(dst []byte, ctx *fasthttp.RequestCtx, _ *Request) []byte {
	if a, ok := absoluteAuthority(ctx.Request.Header.RequestURI()); ok && len(a) > 0 {
		return append(dst, a...)
	}
	return append(dst, ctx.Request.Header.Host()...)
}

// parseAddrBytes is netip.ParseAddr of b without copying it: the address
// it returns holds no part of b (a zone is interned), and its error,
// which does, must not be kept. Text with a byte no address has before
// its zone ("foo", "[::1]:80") is refused without netip, whose error
// would allocate.
func parseAddrBytes(b []byte) (netip.Addr, error) {
	for _, c := range b {
		if c == '%' {
			break
		}
		if !addrByte[c] {
			return netip.Addr{}, errNotAddr
		}
	}
	return netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
}

var errNotAddr = errors.New("not an IP address")

var addrByte = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF.:" {
		t[c] = true
	}
	return t
}()

// ipChecker is Traefik's ip.Checker: single addresses and CIDR ranges.
type ipChecker struct {
	addrs    []netip.Addr
	prefixes []netip.Prefix
}

// newIPChecker is ip.NewChecker.
func newIPChecker(list []string) (*ipChecker, error) {
	if len(list) == 0 {
		return nil, errors.New("no trusted IPs provided")
	}
	c := &ipChecker{}
	for _, s := range list {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			c.addrs = append(c.addrs, a.Unmap())
			continue
		}
		// net.ParseCIDR, as Traefik: it accepts what netip.ParsePrefix
		// refuses (a prefix length with leading zeros, "1.2.3.4/024"), and
		// its error is Traefik's, which prints the nil network it failed
		// to parse: "parsing CIDR trusted IPs <nil>: invalid CIDR address: foo".
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("parsing CIDR trusted IPs <nil>: %w", err)
		}
		ones, bits := n.Mask.Size()
		a, _ := netip.AddrFromSlice(n.IP) // 16 bytes, masked
		if bits == 32 {
			a = a.Unmap()
		}
		p := netip.PrefixFrom(a, ones)
		if a.Is4In6() && ones >= 96 {
			// net.IPNet.Contains matches IPv4 addresses against such a
			// network (and only them, or their IPv4-mapped forms).
			p = netip.PrefixFrom(a.Unmap(), ones-96)
		}
		c.prefixes = append(c.prefixes, p)
	}
	return c, nil
}

// contains is Checker.Contains: whether the address (text) is listed;
// an empty or unparsable address is an error.
func (c *ipChecker) contains(addr []byte) (bool, error) {
	if len(addr) == 0 {
		return false, errors.New("empty IP address")
	}
	a, err := parseAddrBytes(addr)
	if err != nil {
		return false, fmt.Errorf("unable to parse address: %s: can't parse IP from address %s", addr, addr)
	}
	return c.containsAddr(a), nil
}

func (c *ipChecker) containsAddr(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, x := range c.addrs {
		if x == a {
			return true
		}
	}
	for _, p := range c.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authorized is Checker.IsAuthorized: addr may carry a port.
func (c *ipChecker) authorized(addr []byte) error {
	host := addr
	if h, _, ok := splitHostPortBytes(addr); ok {
		host = h
	}
	in, err := c.contains(host)
	if err != nil {
		return err
	}
	if !in {
		return fmt.Errorf("%q matched none of the trusted IPs", addr)
	}
	return nil
}

// splitHostPortBytes is net.SplitHostPort's success case for "h:p" and
// "[h]:p".
func splitHostPortBytes(b []byte) (host, port []byte, ok bool) {
	i := strings.LastIndexByte(string(b), ':')
	if i < 0 {
		return nil, nil, false
	}
	host, port = b[:i], b[i+1:]
	if len(host) > 0 && host[0] == '[' {
		if host[len(host)-1] != ']' {
			return nil, nil, false
		}
		return host[1 : len(host)-1], port, true
	}
	if strings.IndexByte(string(host), ':') >= 0 {
		return nil, nil, false // too many colons: an IPv6 address without brackets
	}
	return host, port, true
}
