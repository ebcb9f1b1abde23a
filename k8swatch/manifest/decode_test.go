package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// kinds summarises decoded objects as "Kind ns/name@line#doc" strings, in
// a fixed kind order, which keeps table expectations short.
func kinds(o *Objects) []string {
	var out []string
	add := func(kind, ns, name string, s Source) {
		id := name
		if ns != "" {
			id = ns + "/" + name
		}
		out = append(out, fmt.Sprintf("%s %s@%d#%d", kind, id, s.Line, s.Doc))
	}
	for _, x := range o.IngressRoutes {
		add("IngressRoute", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.Middlewares {
		add("Middleware", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.TraefikServices {
		add("TraefikService", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.TLSOptions {
		add("TLSOption", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.TLSStores {
		add("TLSStore", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.ServersTransports {
		add("ServersTransport", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.Services {
		add("Service", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.EndpointSlices {
		add("EndpointSlice", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.Nodes {
		add("Node", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.Secrets {
		add("Secret", x.Namespace, x.Name, x.Source)
	}
	for _, x := range o.ConfigMaps {
		add("ConfigMap", x.Namespace, x.Name, x.Source)
	}
	return out
}

// wantProblem describes an expected Problem; its reason must contain
// every fragment.
type wantProblem struct {
	severity        Severity
	line, doc       int
	kind, ns, name  string
	reasonFragments []string
}

func checkProblems(t *testing.T, file string, got []Problem, want []wantProblem) {
	t.Helper()
	if len(got) != len(want) {
		for _, p := range got {
			t.Logf("got %s: %v", p.Severity, p)
		}
		t.Fatalf("got %d problems, want %d", len(got), len(want))
	}
	for i, w := range want {
		p := got[i]
		if p.Severity != w.severity || p.File != file || p.Line != w.line || p.Doc != w.doc ||
			p.Kind != w.kind || p.Namespace != w.ns || p.Name != w.name {
			t.Errorf("problem %d = {%s %s:%d doc %d %s %s/%s}, want {%s %s:%d doc %d %s %s/%s} (%v)", i,
				p.Severity, p.File, p.Line, p.Doc, p.Kind, p.Namespace, p.Name,
				w.severity, file, w.line, w.doc, w.kind, w.ns, w.name, p.Err)
		}
		if p.Err == nil {
			t.Errorf("problem %d has no reason", i)
			continue
		}
		for _, frag := range w.reasonFragments {
			if !strings.Contains(p.Err.Error(), frag) {
				t.Errorf("problem %d reason %q does not contain %q", i, p.Err, frag)
			}
		}
	}
}

const ingressRoute = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: foo
spec:
  routes:
    - match: Host(` + "`foo.com`" + `)
      services:
        - name: whoami
          port: 80
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: whoami
  namespace: apps
spec:
  ports:
    - name: web
      port: 80
`

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		objects  []string
		problems []wantProblem
	}{
		{
			name: "multi-document with empty documents and comments",
			data: "# leading comment\n---\n" + ingressRoute + "---\n\n# only a comment\n---\n---\n" + service + "---\n",
			objects: []string{
				"IngressRoute default/foo@3#1",
				"Service apps/whoami@18#2",
			},
		},
		{
			name:    "empty input",
			data:    "",
			objects: nil,
		},
		{
			name:    "separator followed by a comment",
			data:    ingressRoute + "--- # the service\n" + service,
			objects: []string{"IngressRoute default/foo@1#1", "Service apps/whoami@12#2"},
		},
		{
			name:    "byte order mark and CRLF line endings",
			data:    "\xef\xbb\xbf" + strings.ReplaceAll(ingressRoute+"---\n"+service, "\n", "\r\n"),
			objects: []string{"IngressRoute default/foo@1#1", "Service apps/whoami@12#2"},
		},
		{
			name: "broken YAML reports its line and keeps the other documents",
			data: ingressRoute + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n   namespace: x\n---\n" + service,
			objects: []string{
				"IngressRoute default/foo@1#1",
				"Service apps/whoami@18#3",
			},
			problems: []wantProblem{
				{severity: Error, line: 16, doc: 2, reasonFragments: []string{"invalid YAML", "mapping values are not allowed"}},
			},
		},
		{
			name: "bad document in the middle is skipped alone",
			data: ingressRoute + "---\n- just\n- a list\n---\n" + service,
			objects: []string{
				"IngressRoute default/foo@1#1",
				"Service apps/whoami@15#3",
			},
			problems: []wantProblem{
				{severity: Error, line: 12, doc: 2, reasonFragments: []string{"not a list"}},
			},
		},
		{
			name: "unknown field in an IngressRoute",
			data: strings.Replace(ingressRoute, "services:", "servics:", 1),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "IngressRoute", ns: "default", name: "foo",
					reasonFragments: []string{`unknown field "spec.routes[0].servics"`}},
			},
		},
		{
			name: "field name in the wrong case",
			data: strings.Replace(ingressRoute, "spec:\n", "spec:\n  entrypoints: [web]\n", 1),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "IngressRoute", ns: "default", name: "foo",
					reasonFragments: []string{`unknown field "spec.entrypoints"`}},
			},
		},
		{
			name: "field of the wrong type",
			data: "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: m, namespace: ns}\nspec:\n  redirectScheme:\n    port: 443\n",
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "Middleware", ns: "ns", name: "m",
					reasonFragments: []string{"cannot unmarshal number"}},
			},
		},
		{
			name: "duplicate key in a Traefik object is an error",
			data: strings.Replace(ingressRoute, "  name: foo\n", "  name: foo\n  name: foo\n", 1),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "IngressRoute", ns: "default", name: "foo",
					reasonFragments: []string{`"name" already set`}},
			},
		},
		{
			name:    "duplicate key in a core object is a warning",
			data:    strings.Replace(service, "  name: whoami\n", "  name: whoami\n  name: whoami\n", 1),
			objects: []string{"Service apps/whoami@1#1"},
			problems: []wantProblem{
				{severity: Warning, line: 1, doc: 1, kind: "Service", ns: "apps", name: "whoami",
					reasonFragments: []string{`"name" already set`, "(ignored)"}},
			},
		},
		{
			name:    "unknown field in a core object is a warning",
			data:    service + "  futureField: 3\n",
			objects: []string{"Service apps/whoami@1#1"},
			problems: []wantProblem{
				{severity: Warning, line: 1, doc: 1, kind: "Service", ns: "apps", name: "whoami",
					reasonFragments: []string{`unknown field "spec.futureField"`}},
			},
		},
		{
			name: "unknown kind is ignored",
			data: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec: {}\n---\n" + service,
			objects: []string{
				"Service apps/whoami@8#2",
			},
			problems: []wantProblem{
				{severity: Ignored, line: 1, doc: 1, kind: "Deployment", ns: "prod", name: "web",
					reasonFragments: []string{"not used", "apps/v1"}},
			},
		},
		{
			name: "TCP kinds are ignored",
			data: "apiVersion: traefik.io/v1alpha1\nkind: IngressRouteTCP\nmetadata: {name: t}\nspec: {}\n",
			problems: []wantProblem{
				{severity: Ignored, line: 1, doc: 1, kind: "IngressRouteTCP", ns: "default", name: "t", reasonFragments: []string{"TCP"}},
			},
		},
		{
			name: "misspelt Traefik kind is an error",
			data: strings.Replace(ingressRoute, "kind: IngressRoute", "kind: IngresRoute", 1),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "IngresRoute", ns: "default", name: "foo", reasonFragments: []string{"unknown kind"}},
			},
		},
		{
			name: "unknown Traefik version is an error",
			data: strings.Replace(ingressRoute, "v1alpha1", "v1", 1),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "IngressRoute", name: "foo", reasonFragments: []string{`unknown apiVersion "traefik.io/v1"`}},
			},
		},
		{
			name: "missing kind and apiVersion",
			data: "metadata:\n  name: x\n---\nkind: Service\nmetadata: {name: why}\n",
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, name: "x", reasonFragments: []string{"apiVersion and kind are missing"}},
				{severity: Error, line: 4, doc: 2, kind: "Service", name: "why", reasonFragments: []string{"apiVersion is missing"}},
			},
		},
		{
			name: "missing name",
			data: "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nspec: {}\n",
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "Middleware", ns: "default", reasonFragments: []string{"metadata.name is missing"}},
			},
		},
		{
			name: "scalar document",
			data: "just a string\n",
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, reasonFragments: []string{"not a string"}},
			},
		},
		{
			name: "List is expanded",
			data: `apiVersion: v1
kind: List
items:
  - apiVersion: traefik.io/v1alpha1
    kind: Middleware
    metadata: {name: strip, namespace: web}
    spec:
      stripPrefix: {prefixes: [/api]}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: app}
  - apiVersion: v1
    kind: List
    items:
      - apiVersion: v1
        kind: Node
        metadata: {name: node-1, namespace: ignored-for-nodes}
`,
			objects: []string{"Middleware web/strip@1#1", "Node node-1@1#1"},
			problems: []wantProblem{
				{severity: Ignored, line: 1, doc: 1, kind: "Deployment", name: "app"},
			},
		},
		{
			name: "typed list items inherit apiVersion and kind",
			data: `{"apiVersion": "v1", "kind": "ServiceList", "metadata": {},
 "items": [{"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}},
           {"metadata": {"name": "b", "namespace": "x"}}]}`,
			objects: []string{"Service default/a@1#1", "Service x/b@1#1"},
		},
		{
			name:    "typed list item with a kind but no apiVersion",
			data:    "apiVersion: v1\nkind: ServiceList\nitems:\n  - kind: Service\n    metadata: {name: a}\n",
			objects: []string{"Service default/a@1#1"},
		},
		{
			name: "lists nested too deeply",
			data: strings.Repeat(`{"apiVersion": "v1", "kind": "List", "items": [`, 10) + strings.Repeat("]}", 10),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "List", reasonFragments: []string{"nested too deeply"}},
			},
		},
		{
			name: "alias bomb is refused",
			data: aliasBomb(10),
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, reasonFragments: []string{"excessive aliasing"}},
			},
		},
		{
			name: "List whose items are not a list",
			data: "apiVersion: v1\nkind: List\nitems: {a: 1}\n",
			problems: []wantProblem{
				{severity: Error, line: 1, doc: 1, kind: "List", reasonFragments: []string{"items must be a list"}},
			},
		},
		{
			name: "JSON stream",
			data: `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"users": "a:b"}}

  {"apiVersion": "traefik.io/v1alpha1", "kind": "TLSOption",
   "metadata": {"name": "default", "namespace": "tls"}, "spec": {"minVersion": "VersionTLS12"}}
`,
			objects: []string{"TLSOption tls/default@3#2", "Secret default/s@1#1"},
		},
		{
			name:    "JSON syntax error reports its line",
			data:    "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}}\n{\"apiVersion\": \"v1\",\n \"kind\": \"Service\",,\n}\n",
			objects: []string{"Service default/a@1#1"},
			problems: []wantProblem{
				{severity: Error, line: 3, doc: 2, reasonFragments: []string{"invalid JSON"}},
			},
		},
		{
			name:    "legacy API group is accepted with a warning",
			data:    strings.Replace(ingressRoute, "traefik.io/", "traefik.containo.us/", 1),
			objects: []string{"IngressRoute default/foo@1#1"},
			problems: []wantProblem{
				{severity: Warning, line: 1, doc: 1, kind: "IngressRoute", ns: "default", name: "foo",
					reasonFragments: []string{"traefik.containo.us", "removed in Traefik v3"}},
			},
		},
		{
			name:    "later duplicate replaces the earlier one",
			data:    service + "---\n" + service,
			objects: []string{"Service apps/whoami@11#2"},
			problems: []wantProblem{
				{severity: Warning, line: 1, doc: 1, kind: "Service", ns: "apps", name: "whoami",
					reasonFragments: []string{"duplicate object", "m.yaml:11 (document 2)"}},
			},
		},
		{
			name: "same name in different groups or namespaces is not a duplicate",
			data: ingressRoute + "---\n" + strings.Replace(ingressRoute, "traefik.io/", "traefik.containo.us/", 1) +
				"---\n" + strings.Replace(ingressRoute, "name: foo", "name: foo\n  namespace: other", 1),
			objects: []string{"IngressRoute default/foo@1#1", "IngressRoute default/foo@12#2", "IngressRoute other/foo@23#3"},
			problems: []wantProblem{
				{severity: Warning, line: 12, doc: 2, kind: "IngressRoute", ns: "default", name: "foo", reasonFragments: []string{"traefik.containo.us"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, problems := Decode("m.yaml", []byte(tt.data))
			if got := kinds(objs); !slices.Equal(got, tt.objects) {
				t.Errorf("objects = %q\nwant      %q", got, tt.objects)
			}
			checkProblems(t, "m.yaml", problems, tt.problems)
		})
	}
}

// aliasBomb returns a YAML document whose aliases expand to 9^levels
// nodes (the "billion laughs" attack).
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= levels; i++ {
		prev := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.Repeat(prev+", ", 8)+prev)
	}
	return b.String()
}

func TestDecodeContents(t *testing.T) {
	const data = `apiVersion: v1
kind: Secret
metadata:
  name: creds
data:
  users: dGVzdDp0ZXN0
  kept: YQ==
stringData:
  users: override
---
apiVersion: v1
kind: Node
metadata:
  name: n1
  namespace: should-be-dropped
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: chain
  namespace: web
spec:
  plugin:
    demo:
      nested: {list: [1, "two", {three: 3}]}
`
	objs, problems := Decode("c.yaml", []byte(data))
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	s := objs.Secrets[0]
	if string(s.Data["users"]) != "override" || string(s.Data["kept"]) != "a" || s.StringData != nil {
		t.Errorf("secret data = %q, stringData = %v", s.Data, s.StringData)
	}
	if s.Namespace != DefaultNamespace || s.Kind != "Secret" || s.APIVersion != "v1" {
		t.Errorf("secret meta = %q %q %q", s.Namespace, s.Kind, s.APIVersion)
	}
	if n := objs.Nodes[0]; n.Namespace != "" || n.Name != "n1" {
		t.Errorf("node = %q/%q", n.Namespace, n.Name)
	}
	m := objs.Middlewares[0]
	if got := string(m.Spec.Plugin["demo"]); got != `{"nested":{"list":[1,"two",{"three":3}]}}` {
		t.Errorf("plugin config = %s", got)
	}
	if !slices.Equal(m.Kinds(), []string{"plugin"}) || m.APIVersion != crd.APIVersion {
		t.Errorf("kinds = %q, apiVersion = %q", m.Kinds(), m.APIVersion)
	}
}

func TestProblemError(t *testing.T) {
	reason := errors.New("boom")
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "path/file.yaml", Line: 12, Doc: 3, Kind: "IngressRoute", Namespace: "default", Name: "foo", Err: reason},
			"path/file.yaml:12 (document 3) IngressRoute default/foo: boom"},
		{Problem{File: "f.yaml", Err: reason}, "f.yaml: boom"},
		{Problem{File: "f.yaml", Doc: 2, Err: reason}, "f.yaml (document 2): boom"},
		{Problem{Kind: "Node", Name: "n", Err: reason}, "Node n: boom"},
		{Problem{Name: "n", Err: reason}, "n: boom"},
		{Problem{Err: reason}, "boom"},
		{Problem{File: "f.yaml", Line: 1}, "f.yaml:1: unknown problem"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if p := (Problem{Err: reason}); !errors.Is(p, reason) {
		t.Error("errors.Is does not see the reason through Unwrap")
	}
	if got := (Source{File: "a.yaml", Line: 4, Doc: 2}).String(); got != "a.yaml:4 (document 2)" {
		t.Errorf("Source.String() = %q", got)
	}
}

func TestSeverityString(t *testing.T) {
	tests := map[Severity]string{Error: "error", Warning: "warning", Ignored: "ignored", Severity(9): "Severity(9)"}
	for s, want := range tests {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestObjectsMergeAndLen(t *testing.T) {
	a, _ := Decode("a.yaml", []byte(ingressRoute))
	b, _ := Decode("b.yaml", []byte(service+"---\n"+strings.Replace(service, "whoami", "other", 1)))
	if a.Len() != 1 || b.Len() != 2 {
		t.Fatalf("Len() = %d, %d", a.Len(), b.Len())
	}
	a.Merge(b)
	a.Merge(nil)
	if a.Len() != 3 || len(a.Services) != 2 || a.Services[1].Source.File != "b.yaml" {
		t.Errorf("after Merge: %q", kinds(a))
	}
	var nilObjs *Objects
	if nilObjs.Len() != 0 {
		t.Error("nil Objects has a length")
	}
}
