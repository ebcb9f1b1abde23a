//go:build !race

package middleware

import (
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestIPAllowListAllocs is ipAllowList's allocation guard: picking and
// checking the address, and refusing, allocate nothing.
func TestIPAllowListAllocs(t *testing.T) {
	tests := []struct {
		desc, kind, config, xff string
		status                  int
	}{
		{"peer", "ipAllowList", `{"sourceRange":["10.0.0.0/8"]}`, "", 200},
		{"peer refused", "ipAllowList", `{"sourceRange":["10.0.0.1"],"rejectStatusCode":404}`, "", 404},
		{"peer, IPv6 subnet", "ipWhiteList", `{"sourceRange":["10.0.0.0/8"],"ipStrategy":{"ipv6Subnet":64}}`, "", 200},
		{"depth", "ipAllowList", `{"sourceRange":["2001:db8::/64"],"ipStrategy":{"depth":2,"ipv6Subnet":64}}`, "1.1.1.1, [2001:db8::1]:443, 10.0.0.1", 200},
		{"depth, zone", "ipAllowList", `{"sourceRange":["fe80::/10"],"ipStrategy":{"depth":1}}`, "fe80::1%eth0", 200},
		{"depth refused", "ipAllowList", `{"sourceRange":["2001:db8::/64"],"ipStrategy":{"depth":1}}`, "1.1.1.1, foo", 403},
		{"excluded", "ipAllowList", `{"sourceRange":["1.1.1.1"],"ipStrategy":{"excludedIPs":["10.0.0.0/8"]}}`, "1.1.1.1, 10.0.0.2, 10.0.0.1", 200},
		{"excluded refused", "ipWhiteList", `{"sourceRange":["1.1.1.1"],"ipStrategy":{"excludedIPs":["10.0.0.0/8"]}}`, "1.1.1.2, 10.0.0.1", 403},
	}
	next := func(ctx *fasthttp.RequestCtx, _ *Request) { ctx.SetBodyString("ok") }
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			h := buildOne(t, tc.kind, tc.config)(next)
			var ctx fasthttp.RequestCtx
			if tc.xff != "" {
				ctx.Request.Header.Set("X-Forwarded-For", tc.xff)
			}
			r := Request{ClientIP: netip.MustParseAddr("10.1.2.3")}
			allocs := testing.AllocsPerRun(200, func() {
				h(&ctx, &r)
				if ctx.Response.StatusCode() != tc.status {
					t.Fatalf("status %d, want %d", ctx.Response.StatusCode(), tc.status)
				}
				ctx.Response.Reset()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per request", allocs)
			}
		})
	}
}
