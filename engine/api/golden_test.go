package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/engine/api"
)

// TestTraefikGolden rebuilds the configurations of Traefik's own API
// handler tests (pkg/api/handler_*_test.go) as snapshots, serves them
// through a real runtime and compares the answers with Traefik's golden
// files (testdata/traefik). Traefik's handler tests hand-write runtime
// objects that a running Traefik never has, so the golden files get what
// a running Traefik adds, and only that:
//   - a router's priority is the length of its rule (Traefik's router
//     manager sets it on the runtime object the API reads);
//   - a load balancer has strategy wrr and responseForwarding
//     flushInterval 100ms (the kubernetesCRD provider's SetDefaults);
//   - an entry point has its transport timeouts, forwardedHeaders and
//     http.sanitizePath (static SetDefaults; edgeroute does not show the
//     http2, udp and maxHeaderBytes defaults, which it has no keys for);
//   - the overview lists the provider, and counts the internal services
//     that --api brings (api@internal, dashboard@internal, noop@internal).
//
// Internal objects (api@internal, noop@internal), which Traefik's handler
// tests do not have, are left out of the lists compared.
func TestTraefikGolden(t *testing.T) {
	lb := func(name string) *spec.Service {
		return &spec.Service{Name: name, LoadBalancer: &spec.LoadBalancer{EndpointsKey: name, Strategy: "wrr", PassHostHeader: true, FlushInterval: 100e6}}
	}
	addPrefix := func(name, prefix string) *spec.Middleware {
		return &spec.Middleware{Name: name, Kind: "addPrefix", Config: json.RawMessage(`{"prefix":"` + prefix + `"}`)}
	}
	// world makes a snapshot of routers, with every service and
	// middleware they name (load balancers on http://127.0.0.1, which
	// nothing contacts; addPrefix middlewares), so that all build.
	world := func(routers ...spec.Router) *spec.Snapshot {
		s := &spec.Snapshot{Routers: routers, Services: map[string]*spec.Service{}, Middlewares: map[string]*spec.Middleware{},
			Endpoints: map[string][]spec.Server{}}
		for _, r := range routers {
			s.Services[r.Service] = lb(r.Service)
			s.Endpoints[r.Service] = []spec.Server{{URL: "http://127.0.0.1"}}
			for _, m := range r.Middlewares {
				s.Middlewares[m] = addPrefix(m, "/x")
			}
		}
		return s
	}
	web := []string{"web"}
	bar := spec.Router{Name: "bar@myprovider", EntryPoints: web, Service: "foo-service@myprovider", Rule: "Host(`foo.bar`)", Middlewares: []string{"auth", "addPrefixTest@anotherprovider"}}
	test := spec.Router{Name: "test@myprovider", EntryPoints: web, Service: "foo-service@myprovider", Rule: "Host(`foo.bar.other`)", Middlewares: []string{"addPrefixTest", "auth"}}
	baz := spec.Router{Name: "baz@myprovider", EntryPoints: web, Service: "foo-service@myprovider", Rule: "Host(`toto.bar`)"}
	fii := spec.Router{Name: "test@myprovider", EntryPoints: web, Service: "fii-service@myprovider", Rule: "Host(`fii.bar.other`)", Middlewares: []string{"addPrefixTest", "auth"}}
	fooOther := spec.Router{Name: "foo@otherprovider", EntryPoints: web, Service: "fii-service", Rule: "Host(`fii.foo.other`)"}
	slash := bar
	slash.Name = "foo / bar@myprovider"
	var many []spec.Router
	for i := range 19 {
		many = append(many, spec.Router{Name: "bar" + pad2(i) + "@myprovider", EntryPoints: web, Service: "foo-service@myprovider", Rule: "Host(`foo.bar" + strconv.Itoa(i) + "`)"})
	}
	// Services used by the routers foo@myprovider and test@myprovider.
	usedBy := func(service string) *spec.Snapshot {
		return world(spec.Router{Name: "foo@myprovider", EntryPoints: web, Service: service, Rule: "Host(`a`)"},
			spec.Router{Name: "test@myprovider", EntryPoints: web, Service: service, Rule: "Host(`b`)"})
	}
	mwSlash := world(spec.Router{Name: "test@myprovider", EntryPoints: web, Service: "s@myprovider", Rule: "Host(`a`)", Middlewares: []string{"foo / bar@myprovider"}})
	mwSlash.Middlewares["foo / bar@myprovider"] = addPrefix("foo / bar@myprovider", "/titi")

	// bar@myprovider disabled, by a middleware only it uses.
	brokenBar := world(fii, fooOther, bar)
	brokenBar.Middlewares["addPrefixTest@anotherprovider"].Config = json.RawMessage(`{"nope":1}`)

	webArgs := []string{"--entryPoints.web.address=127.0.0.1:0"}
	for _, c := range []struct {
		golden, path string
		args         []string
		snap         *spec.Snapshot
		nextPage     string
		// noErrors drops the errors of what the API answers: Traefik's
		// test disables a router by setting its status, with no error.
		noErrors bool
	}{
		{"routers-empty", "/api/http/routers", webArgs, world(), "1", false},
		{"routers", "/api/http/routers", webArgs, world(test, bar), "1", false},
		{"routers-page2", "/api/http/routers?page=2&per_page=1", webArgs, world(bar, baz, test), "3", false},
		{"routers-many-lastpage", "/api/http/routers?page=3&per_page=7", webArgs, world(many...), "1", false},
		{"routers-filtered-search", "/api/http/routers?search=fii", webArgs, world(fii, bar), "1", false},
		{"routers-filtered-serviceName", "/api/http/routers?serviceName=fii-service@myprovider", webArgs, world(fii, fooOther, bar), "1", false},
		{"routers-filtered-middlewareName", "/api/http/routers?middlewareName=auth", webArgs, brokenBar, "1", true},
		{"router-bar", "/api/http/routers/bar@myprovider", webArgs, world(bar), "", false},
		{"router-foo-slash-bar", "/api/http/routers/" + url.PathEscape("foo / bar@myprovider"), webArgs, world(slash), "", false},
		{"service-bar", "/api/http/services/bar@myprovider", webArgs, usedBy("bar@myprovider"), "", false},
		{"service-foo-slash-bar", "/api/http/services/" + url.PathEscape("foo / bar@myprovider"), webArgs, usedBy("foo / bar@myprovider"), "", false},
		{"middleware-foo-slash-bar", "/api/http/middlewares/" + url.PathEscape("foo / bar@myprovider"), webArgs, mwSlash, "", false},
		{"entrypoint-bar", "/api/entrypoints/bar", []string{"--entryPoints.bar.address=:81"}, world(), "", false},
		{"entrypoints-page2", "/api/entrypoints?page=2&per_page=1", []string{"--entryPoints.web1.address=:81", "--entryPoints.web2.address=:82", "--entryPoints.web3.address=:83"}, world(), "3", false},
		{"overview-empty", "/api/overview", webArgs, world(), "", false},
	} {
		t.Run(c.golden, func(t *testing.T) {
			base := apiOnly(t, append([]string{"--api"}, c.args...), c.snap)
			resp, err := http.Get(base + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if got := resp.Header.Get("X-Next-Page"); got != c.nextPage {
				t.Errorf("X-Next-Page %q, want %q", got, c.nextPage)
			}
			var got any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			got = dropInternal(got)
			if c.noErrors {
				for _, x := range got.([]any) {
					delete(x.(map[string]any), "error")
				}
			}
			raw, err := os.ReadFile(filepath.Join("testdata", "traefik", c.golden+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			want = runningTraefik(want)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(want, "", "  ")
				t.Errorf("GET %s:\n%s\nwant (Traefik's %s.json, as a running Traefik shows it):\n%s", c.path, g, c.golden, w)
			}
		})
	}
}

// pad2 is Go's %2d.
func pad2(i int) string {
	s := strconv.Itoa(i)
	if len(s) < 2 {
		s = " " + s
	}
	return s
}

// apiOnly applies snap to a server of the static configuration args and
// serves its API alone (no entry point) on a loopback socket.
func apiOnly(t *testing.T, args []string, snap *spec.Snapshot) string {
	t.Helper()
	static, err := engine.ParseStatic(args)
	if err != nil {
		t.Fatal(err)
	}
	srv := engine.NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.Apply(snap)
	ts := httptest.NewServer(api.New(srv))
	t.Cleanup(ts.Close)
	return ts.URL
}

// dropInternal leaves the internal provider's objects out of a list.
func dropInternal(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := []any{}
	for _, x := range l {
		if m, ok := x.(map[string]any); ok && m["provider"] == "internal" {
			continue
		}
		out = append(out, x)
	}
	return out
}

// runningTraefik adds to a golden document what a running Traefik shows
// beyond the hand-made objects of its handler tests (see TestTraefikGolden).
func runningTraefik(v any) any {
	switch v := v.(type) {
	case []any:
		for i := range v {
			v[i] = runningTraefik(v[i])
		}
	case map[string]any:
		if rule, ok := v["rule"].(string); ok {
			v["priority"] = float64(len(rule))
			v["priorityStr"] = strconv.Itoa(len(rule))
		}
		if lb, ok := v["loadBalancer"].(map[string]any); ok {
			lb["strategy"] = "wrr"
			lb["responseForwarding"] = map[string]any{"flushInterval": "100ms"}
		}
		if _, ok := v["address"]; ok {
			v["transport"] = map[string]any{
				"lifeCycle":          map[string]any{"graceTimeOut": "10s"},
				"respondingTimeouts": map[string]any{"readTimeout": "1m0s", "idleTimeout": "3m0s"},
			}
			v["forwardedHeaders"] = map[string]any{}
			v["http"].(map[string]any)["sanitizePath"] = true
		}
		if _, ok := v["features"]; ok {
			v["providers"] = []any{"KubernetesCRD"}
			// With --api: api@internal, dashboard@internal, noop@internal.
			v["http"].(map[string]any)["services"].(map[string]any)["total"] = float64(3)
		}
	}
	return v
}
