package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// fixtureDir holds Traefik's own CRD provider test manifests (see its
// README.md).
const fixtureDir = "../../testdata/traefik-crd-fixtures"

func fixtureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 80 {
		t.Fatalf("found only %d fixtures in %s", len(files), fixtureDir)
	}
	return files
}

// TestFixturesDecode loads every fixture on its own, as Traefik's tests do,
// and requires at least one object and no Error. Ignored problems are
// only allowed for the kinds Traefik's CRD provider does not read either.
func TestFixturesDecode(t *testing.T) {
	ignorable := []string{"IngressClass", "Namespace"}
	for _, file := range fixtureFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			objs, problems := Load(file)
			for _, p := range problems {
				if p.Severity != Ignored || !slices.Contains(ignorable, p.Kind) {
					t.Errorf("%s: %v", p.Severity, p)
				}
			}
			if objs.Len() == 0 {
				t.Error("no object decoded")
			}
			// Every document with content must have become an object or a
			// problem: compare with a crude count of "kind:" lines at the
			// top level.
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var kinds int
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, "kind:") {
					kinds++
				}
			}
			if got := objs.Len() + len(problems); got != kinds {
				t.Errorf("%d objects and problems for %d top-level kinds", got, kinds)
			}
		})
	}
}

// TestFixturesTogether loads the whole corpus at once: the files were
// written to be loaded separately, so many objects repeat, but no Error
// may appear and only duplicates may be warned about.
func TestFixturesTogether(t *testing.T) {
	objs, problems := Load(fixtureDir)
	for _, p := range problems {
		switch {
		case p.Severity == Error:
			t.Errorf("%v", p)
		case p.Severity == Warning && !strings.Contains(p.Err.Error(), "duplicate object"):
			t.Errorf("unexpected warning: %v", p)
		}
	}
	if len(objs.IngressRoutes) == 0 || len(objs.Middlewares) == 0 || len(objs.TraefikServices) == 0 ||
		len(objs.TLSOptions) == 0 || len(objs.TLSStores) == 0 || len(objs.ServersTransports) == 0 ||
		len(objs.Services) == 0 || len(objs.EndpointSlices) == 0 || len(objs.Nodes) == 0 ||
		len(objs.Secrets) == 0 || len(objs.ConfigMaps) == 0 {
		t.Errorf("a kind is missing from the corpus: %d objects", objs.Len())
	}
}

func loadFixture(t *testing.T, name string) *Objects {
	t.Helper()
	objs, problems := Load(filepath.Join(fixtureDir, name))
	for _, p := range problems {
		if p.Severity != Ignored {
			t.Fatalf("%v", p)
		}
	}
	return objs
}

func TestFixtureServices(t *testing.T) {
	objs := loadFixture(t, "services.yml")
	if len(objs.Services) != 16 || len(objs.EndpointSlices) != 10 || objs.Len() != 26 {
		t.Fatalf("got %d Services, %d EndpointSlices, %d objects", len(objs.Services), len(objs.EndpointSlices), objs.Len())
	}
	svc := objs.Services[0]
	if svc.Name != "whoami" || svc.Namespace != "default" || svc.Spec.Ports[0].Name != "web" || svc.Spec.Ports[0].Port != 80 {
		t.Errorf("first service = %+v", svc.Spec)
	}
	if svc.Source.Line != 1 || svc.Source.Doc != 1 {
		t.Errorf("first service source = %+v", svc.Source)
	}
	es := objs.EndpointSlices[0]
	if es.Name != "whoami-abc" || es.Labels["kubernetes.io/service-name"] != "whoami" ||
		!slices.Equal(es.Endpoints[0].Addresses, []string{"10.10.0.1", "10.10.0.2"}) ||
		es.Endpoints[0].Conditions.Ready == nil || !*es.Endpoints[0].Conditions.Ready ||
		*es.Ports[0].Port != 80 || es.Source.Line != 16 || es.Source.Doc != 2 {
		t.Errorf("first endpoint slice = %+v at %v", es.EndpointSlice, es.Source)
	}
}

func TestFixtureSimple(t *testing.T) {
	objs := loadFixture(t, "simple.yml")
	if len(objs.IngressRoutes) != 1 {
		t.Fatalf("objects = %q", kinds(objs))
	}
	ir := objs.IngressRoutes[0]
	r := ir.Spec.Routes[0]
	if r.Match != "Host(`foo.com`) && PathPrefix(`/bar`)" || r.Kind != "Rule" || r.Priority != 12 {
		t.Errorf("route = %+v", r)
	}
	if ir.Name != "test.route" || !slices.Equal(ir.Spec.EntryPoints, []string{"foo"}) {
		t.Errorf("ingress route %s, entry points %q", ir.Name, ir.Spec.EntryPoints)
	}
	if o := r.Observability; o == nil || !*o.AccessLogs || !*o.Tracing || !*o.Metrics {
		t.Errorf("observability = %+v", o)
	}
	if s := r.Services[0]; s.Name != "whoami" || s.Port != intstr.FromInt32(80) {
		t.Errorf("service = %+v", s)
	}
}

func TestFixtureSticky(t *testing.T) {
	objs := loadFixture(t, "with_sticky.yml")
	if len(objs.TraefikServices) != 2 || len(objs.IngressRoutes) != 1 {
		t.Fatalf("objects = %q", kinds(objs))
	}
	def := objs.TraefikServices[0]
	c := def.Spec.Weighted.Sticky.Cookie
	if def.Name != "sticky-default" || c.Name != "cookie" || !c.Secure || !c.HTTPOnly || c.SameSite != "none" ||
		c.MaxAge != 42 || c.Path != nil {
		t.Errorf("sticky-default cookie = %+v", c)
	}
	if p := objs.TraefikServices[1].Spec.Weighted.Sticky.Cookie.Path; p == nil || *p != "/foo" {
		t.Errorf("sticky cookie path = %v", p)
	}
	routes := objs.IngressRoutes[0].Spec.Routes
	if routes[0].Services[0].Kind != "TraefikService" || routes[0].Services[1].Name != "sticky-default" {
		t.Errorf("first route services = %+v", routes[0].Services)
	}
	if c := routes[1].Services[0].Sticky.Cookie; c.Path == nil || *c.Path != "/foo" || c.MaxAge != 42 {
		t.Errorf("service cookie = %+v", c)
	}
	if c := routes[1].Services[1].Sticky.Cookie; c.Path != nil || routes[1].Services[1].Port != intstr.FromInt32(8080) {
		t.Errorf("second service cookie = %+v", c)
	}
}

func TestFixtureWeights(t *testing.T) {
	objs := loadFixture(t, "with_two_services_weight.yml")
	services := objs.IngressRoutes[0].Spec.Routes[0].Services
	if len(services) != 2 {
		t.Fatalf("services = %+v", services)
	}
	if w := services[0].Weight; w == nil || *w != 10 {
		t.Errorf("first weight = %v", w)
	}
	// An explicit zero weight (no traffic) must not read as unset.
	if w := services[1].Weight; w == nil || *w != 0 {
		t.Errorf("second weight = %v", w)
	}
}

func TestFixtureSecrets(t *testing.T) {
	objs := loadFixture(t, "basic_auth_secrets.yml")
	if len(objs.Secrets) != 2 {
		t.Fatalf("objects = %q", kinds(objs))
	}
	if s := objs.Secrets[0]; string(s.Data["username"]) != "user" || string(s.Data["password"]) != "password" ||
		s.Type != "kubernetes.io/basic-auth" {
		t.Errorf("basic-auth secret = %q (%s)", s.Data, s.Type)
	}
	// The users key is base64 folded over two lines.
	if users := string(objs.Secrets[1].Data["users"]); !strings.HasPrefix(users, "test:$apr1$H6uskkkW$") || !strings.Contains(users, "\ntest2:") {
		t.Errorf("users = %q", users)
	}
}

func TestFixtureServersTransport(t *testing.T) {
	objs := loadFixture(t, "with_servers_transport.yml")
	if len(objs.ConfigMaps) != 2 || len(objs.ServersTransports) == 0 {
		t.Fatalf("objects = %q", kinds(objs))
	}
	var found bool
	for _, st := range objs.ServersTransports {
		if st.Namespace != "foo" || st.Name != "test" {
			continue
		}
		found = true
		s := st.Spec
		if s.ServerName != "test" || !s.InsecureSkipVerify || s.MaxIdleConnsPerHost != 42 || !s.DisableHTTP2 ||
			len(s.RootCAsSecrets) != 6 || len(s.RootCAs) != 3 || *s.RootCAs[0].ConfigMap != "root-ca-as-config-map" ||
			s.ForwardingTimeouts.DialTimeout.IntValue() != 42 || s.ForwardingTimeouts.IdleConnTimeout.String() != "42ms" ||
			len(s.Spiffe.IDs) != 2 || len(s.PeerCertSANs) != 2 || s.PeerCertSANs[1].Type != "URI" {
			t.Errorf("servers transport foo/test = %+v", s)
		}
	}
	if !found {
		t.Errorf("no foo/test ServersTransport in %q", kinds(objs))
	}
}
