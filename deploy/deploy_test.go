package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/hack/crdgen/crdschema"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

const (
	goldenFields = "../k8swatch/crd/testdata/traefik-v3.7.13-crd-fields.tsv"
	fixtures     = "../testdata/traefik-crd-fixtures/*.yml"
	namespace    = "edgeroute"
	name         = "edgeroute"
)

// TestCRDsAreFresh regenerates the CRDs in memory and compares them with
// the committed files.
func TestCRDsAreFresh(t *testing.T) {
	want, err := crdschema.Files()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("crds")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, e := range entries {
		if got[e.Name()], err = os.ReadFile(filepath.Join("crds", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[f]; {
		case !ok:
			t.Errorf("crds/%s is missing: run make crds", f)
		case !bytes.Equal(g, want[f]):
			t.Errorf("crds/%s is stale: run make crds", f)
		}
	}
	for f := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("crds/%s is not generated: run make crds, or remove it", f)
		}
	}
}

// newerThanTraefik lists the paths our schema has beyond Traefik v3.7.13's:
// fields of the later v3.7 branch (see newerThanSchema in k8swatch/crd).
var newerThanTraefik = map[string]bool{
	"ServersTransport spec.peerCertSANs":         true,
	"ServersTransport spec.peerCertSANs[]":       true,
	"ServersTransport spec.peerCertSANs[].type":  true,
	"ServersTransport spec.peerCertSANs[].value": true,
}

// isExtension tells a path below one of edgeroute's own middleware kinds
// (crd.ExtensionKinds), which Traefik's schema cannot have.
func isExtension(kind, path string) bool {
	if kind != crd.KindMiddleware {
		return false
	}
	for _, ext := range crd.ExtensionKinds() {
		if rest, ok := strings.CutPrefix(path, "spec."+ext); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			return true
		}
	}
	return false
}

// TestCRDsCoverTraefikSchema requires every property path of Traefik's
// schema, with its type, in ours, so that whatever Traefik's CRDs accept
// ours accept too; it reports the paths only ours has, and checks that the
// schemas are structural (every node typed).
func TestCRDsCoverTraefikSchema(t *testing.T) {
	golden := readGolden(t)
	for _, k := range crdschema.Kinds {
		t.Run(k.Kind, func(t *testing.T) {
			root := committedSchema(t, k)
			all := map[string]string{}
			schemaPaths(root, "", all)
			for p, ty := range all {
				if ty == "" {
					t.Errorf("%q has no type: the schema is not structural", p)
				}
			}
			got := map[string]string{}
			schemaPaths(root.Properties["spec"], "spec", got)
			want := golden[k.Kind]
			if len(want) == 0 {
				t.Fatalf("no golden fields for %s", k.Kind)
			}
			for _, p := range slices.Sorted(maps.Keys(want)) {
				switch g, ok := got[p]; {
				case !ok:
					t.Errorf("missing %s (%s)", p, want[p])
				case g != want[p]:
					t.Errorf("type of %s is %s, Traefik's is %s", p, g, want[p])
				}
			}
			for _, p := range slices.Sorted(maps.Keys(got)) {
				if _, ok := want[p]; ok {
					continue
				}
				switch {
				case newerThanTraefik[k.Kind+" "+p]:
					t.Logf("not in Traefik v3.7.13's schema (later v3.7): %s", p)
				case isExtension(k.Kind, p):
					// an edgeroute extension kind (crd.ExtensionKinds)
				default:
					t.Errorf("not in Traefik's schema: %s (%s)", p, got[p])
				}
			}
		})
	}
}

// readGolden reads the golden field list: kind -> path -> type.
func readGolden(t *testing.T) map[string]map[string]string {
	data, err := os.ReadFile(goldenFields)
	if err != nil {
		t.Fatal(err)
	}
	golden := map[string]map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("malformed golden line %q", line)
		}
		if golden[f[0]] == nil {
			golden[f[0]] = map[string]string{}
		}
		golden[f[0]][f[1]] = f[2]
	}
	return golden
}

// committedSchema decodes k's committed CRD strictly, checks its names and
// version, and returns its schema.
func committedSchema(t *testing.T, k crdschema.Kind) *crdschema.Schema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("crds", k.FileName()))
	if err != nil {
		t.Fatal(err)
	}
	var c crdschema.CRD
	if err := strictUnmarshal(data, &c); err != nil {
		t.Fatalf("crds/%s: %v", k.FileName(), err)
	}
	s := c.Spec
	if c.Metadata.Name != k.Plural+"."+crd.GroupName || s.Group != crd.GroupName ||
		s.Names.Kind != k.Kind || s.Names.Plural != k.Plural || s.Scope != "Namespaced" {
		t.Errorf("crds/%s: names = %q %+v %s", k.FileName(), c.Metadata.Name, s.Names, s.Scope)
	}
	if len(s.Versions) != 1 || s.Versions[0].Name != crd.Version || !s.Versions[0].Served || !s.Versions[0].Storage {
		t.Fatalf("crds/%s: want the one served and stored version %s, got %+v", k.FileName(), crd.Version, s.Versions)
	}
	return s.Versions[0].Schema.OpenAPIV3Schema
}

// schemaType renders a schema node as the golden list writes types.
func schemaType(s *crdschema.Schema) string {
	switch {
	case s.IntOrString:
		return "int-or-string"
	case s.Type == "" && s.PreserveUnknownFields:
		return "any"
	case s.Type == "object" && s.AdditionalProperties != nil:
		return "map[" + schemaType(s.AdditionalProperties) + "]"
	case s.Format != "":
		return s.Type + "(" + s.Format + ")"
	}
	return s.Type
}

// schemaPaths records the rendered type of every node below path.
func schemaPaths(s *crdschema.Schema, path string, out map[string]string) {
	out[path] = schemaType(s)
	for n, p := range s.Properties {
		schemaPaths(p, path+"."+n, out)
	}
	if s.Items != nil {
		schemaPaths(s.Items, path+"[]", out)
	}
}

// validate checks v against s the way the API server treats a custom
// resource, and lists the problems: wrong types, missing required fields,
// and fields that pruning would drop.
func validate(s *crdschema.Schema, v any, path string) []string {
	if v == nil {
		return nil // null in a non-nullable field is pruned, not refused
	}
	if s.IntOrString {
		if _, ok := v.(string); ok || isInteger(v) {
			return nil
		}
		return []string{path + ": want an integer or a string"}
	}
	ok := true
	switch s.Type {
	case "":
		ok = s.PreserveUnknownFields
	case "object":
		if m, isMap := v.(map[string]any); isMap {
			return validateObject(s, m, path)
		}
		ok = false
	case "array":
		if a, isList := v.([]any); isList {
			var problems []string
			for i, x := range a {
				problems = append(problems, validate(s.Items, x, fmt.Sprintf("%s[%d]", path, i))...)
			}
			return problems
		}
		ok = false
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "integer":
		ok = isInteger(v)
	default:
		ok = false
	}
	if !ok {
		return []string{fmt.Sprintf("%s: %v is not of type %s", path, v, schemaType(s))}
	}
	return nil
}

func validateObject(s *crdschema.Schema, m map[string]any, path string) []string {
	var problems []string
	for _, r := range s.Required {
		if _, ok := m[r]; !ok {
			problems = append(problems, path+"."+r+": required")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		sub := s.Properties[k]
		if sub == nil {
			sub = s.AdditionalProperties
		}
		switch {
		case sub != nil:
			problems = append(problems, validate(sub, m[k], path+"."+k)...)
		case !s.PreserveUnknownFields:
			problems = append(problems, path+"."+k+": unknown field, pruned")
		}
	}
	return problems
}

func isInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseInt(n.String(), 10, 64)
	return err == nil
}

// TestValidate checks the validator itself on the generated schemas.
func TestValidate(t *testing.T) {
	schemas := generatedSchemas(t)
	tests := []struct {
		kind, doc string
		want      string // a substring of the only problem, or "" for none
	}{
		{crd.KindIngressRoute, `{"spec":{"routes":[{"match":"Host(a)","services":[{"name":"s","port":80},{"name":"t","port":"http"}]}],"tls":null}}`, ""},
		{crd.KindIngressRoute, `{"spec":{"routes":[{"match":"x","priority":"high"}]}}`, "spec.routes[0].priority: high is not of type integer"},
		{crd.KindIngressRoute, `{"spec":{"routes":[{"match":"x","servics":[]}]}}`, "spec.routes[0].servics: unknown field"},
		{crd.KindIngressRoute, `{"spec":{"routes":[{"kind":"Rule"}]}}`, "spec.routes[0].match: required"},
		{crd.KindIngressRoute, `{"spec":{"routes":[{"match":"x","services":[{"name":"s","port":true}]}]}}`, "port: want an integer or a string"},
		{crd.KindIngressRoute, `{"spec":{"routes":[{"match":"x","services":[{"name":"s","port":1.5}]}]}}`, "port: want an integer or a string"},
		{crd.KindMiddleware, `{"spec":{"plugin":{"demo":{"a":[1,{"b":true}],"c":null}}}}`, ""},
		{crd.KindMiddleware, `{"spec":{"errors":{"statusRewrites":{"500":"x"}}}}`, `statusRewrites.500: x is not of type integer`},
		{crd.KindMiddleware, `{"spec":{"headers":{"customRequestHeaders":{"X-A":"1"}}}}`, ""},
		{crd.KindTLSStore, `{"spec":{"certificates":"s"}}`, "spec.certificates: s is not of type array"},
	}
	for _, tt := range tests {
		obj := genericObject(t, []byte(tt.doc))
		obj["metadata"] = map[string]any{}
		got := validate(schemas[tt.kind], obj, tt.kind)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected problems %q", tt.doc, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%s: problems %q, want one with %q", tt.doc, got, tt.want)
		}
	}
}

// generatedSchemas returns the schema of each kind, by kind.
func generatedSchemas(t *testing.T) map[string]*crdschema.Schema {
	t.Helper()
	out := map[string]*crdschema.Schema{}
	for _, k := range crdschema.Kinds {
		c, err := k.CRD()
		if err != nil {
			t.Fatal(err)
		}
		out[k.Kind] = c.Spec.Versions[0].Schema.OpenAPIV3Schema
	}
	return out
}

// TestTraefikFixturesValidate validates every object of the six kinds in
// Traefik's own test manifests against the committed schemas.
func TestTraefikFixturesValidate(t *testing.T) {
	schemas := map[string]*crdschema.Schema{}
	for _, k := range crdschema.Kinds {
		schemas[k.Kind] = committedSchema(t, k)
	}
	files, err := filepath.Glob(fixtures)
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixtures, err)
	}
	counts := map[string]int{}
	for _, f := range files {
		for _, doc := range readDocs(t, f) {
			obj := genericObject(t, doc)
			kind, _ := obj["kind"].(string)
			apiVersion, _ := obj["apiVersion"].(string)
			s := schemas[kind]
			if s == nil || !crd.IsTraefikAPIVersion(apiVersion) {
				continue
			}
			counts[kind]++
			meta, _ := obj["metadata"].(map[string]any)
			where := fmt.Sprintf("%s: %s %v/%v", filepath.Base(f), kind, meta["namespace"], meta["name"])
			obj["metadata"] = map[string]any{} // the API server checks metadata itself
			for _, p := range validate(s, obj, kind) {
				t.Errorf("%s: %s", where, p)
			}
		}
	}
	for _, k := range crdschema.Kinds {
		if counts[k.Kind] == 0 {
			t.Errorf("no %s in the fixtures", k.Kind)
		}
	}
	t.Logf("validated %v", counts)
}

// readDocs splits a YAML file into its non-empty documents.
func readDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if j, err := yaml.YAMLToJSON(doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		} else if string(j) != "null" {
			docs = append(docs, doc)
		}
	}
}

// genericObject decodes a YAML document as the API server sees it, with
// numbers kept exact.
func genericObject(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// strictUnmarshal decodes a YAML document as the API server does under
// strict field validation: field names are case-sensitive, and unknown or
// duplicate fields are errors.
func strictUnmarshal(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeFile decodes every document of a manifest strictly into the
// k8s.io/api type of its kind.
func decodeFile(t *testing.T, path string) []any {
	t.Helper()
	var objs []any
	for i, doc := range readDocs(t, path) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s document %d: %v", path, i+1, err)
		}
		obj := newObject(tm)
		if obj == nil {
			t.Fatalf("%s document %d: unexpected %s %s", path, i+1, tm.APIVersion, tm.Kind)
		}
		if err := strictUnmarshal(doc, obj); err != nil {
			t.Fatalf("%s document %d (%s): %v", path, i+1, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func newObject(tm metav1.TypeMeta) any {
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}
	}
	return nil
}

// one returns the only object of type T.
func one[T any](t *testing.T, objs []any) *T {
	t.Helper()
	var found []*T
	for _, o := range objs {
		if x, ok := o.(*T); ok {
			found = append(found, x)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %T, found %d", *new(T), len(found))
	}
	return found[0]
}

// TestRBAC checks the identity and that the ClusterRole grants exactly
// reads of what the provider watches, and writes of Events only.
func TestRBAC(t *testing.T) {
	objs := decodeFile(t, "rbac.yaml")
	if ns := one[corev1.Namespace](t, objs); ns.Name != namespace {
		t.Errorf("namespace %q", ns.Name)
	}
	sa := one[corev1.ServiceAccount](t, objs)
	if sa.Name != name || sa.Namespace != namespace {
		t.Errorf("service account %s/%s", sa.Namespace, sa.Name)
	}
	role := one[rbacv1.ClusterRole](t, objs)
	binding := one[rbacv1.ClusterRoleBinding](t, objs)
	wantRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}}
	if binding.RoleRef != wantRef || !slices.Equal(binding.Subjects, wantSubjects) {
		t.Errorf("binding %+v %+v, want %+v %+v", binding.RoleRef, binding.Subjects, wantRef, wantSubjects)
	}
	got := grants(t, role.Rules)
	want := wantGrants()
	for _, r := range slices.Sorted(maps.Keys(want)) {
		if got[r] != want[r] {
			t.Errorf("%s: verbs %q, want %q", r, got[r], want[r])
		}
	}
	for _, r := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[r]; !ok {
			t.Errorf("%s: unexpected grant %q", r, got[r])
		}
	}
}

// TestRBACACME checks the namespaced grants of the ACME resolvers: Secret
// writes and the Lease, in edgeroute's namespace only, bound to its
// service account; the DaemonSet tells the process its namespace.
func TestRBACACME(t *testing.T) {
	objs := decodeFile(t, "rbac.yaml")
	role := one[rbacv1.Role](t, objs)
	binding := one[rbacv1.RoleBinding](t, objs)
	if role.Namespace != namespace || binding.Namespace != namespace {
		t.Errorf("role in %q, binding in %q, want %q", role.Namespace, binding.Namespace, namespace)
	}
	wantRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}}
	if binding.RoleRef != wantRef || !slices.Equal(binding.Subjects, wantSubjects) {
		t.Errorf("binding %+v %+v", binding.RoleRef, binding.Subjects)
	}
	got := grants(t, role.Rules)
	want := map[string]string{"/secrets": "create,delete,update", "coordination.k8s.io/leases": "create,get,update"}
	if !maps.Equal(got, want) {
		t.Errorf("grants %v, want %v", got, want)
	}
	_, c := daemonSet(t)
	found := false
	for _, e := range c.Env {
		found = found || e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}
	if !found {
		t.Errorf("no POD_NAMESPACE from metadata.namespace in %+v", c.Env)
	}
}

// grants flattens rules to "group/resource" -> sorted, comma-joined verbs.
func grants(t *testing.T, rules []rbacv1.PolicyRule) map[string]string {
	t.Helper()
	verbs := map[string][]string{}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: resourceNames and nonResourceURLs are not expected", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				verbs[g+"/"+res] = append(verbs[g+"/"+res], r.Verbs...)
			}
		}
	}
	out := map[string]string{}
	for k, v := range verbs {
		slices.Sort(v)
		out[k] = strings.Join(slices.Compact(v), ",")
	}
	return out
}

func wantGrants() map[string]string {
	const read, write = "get,list,watch", "create,patch"
	want := map[string]string{
		"/services":                       read,
		"/secrets":                        read,
		"/configmaps":                     read,
		"/nodes":                          read,
		"discovery.k8s.io/endpointslices": read,
		"/events":                         write,
		"events.k8s.io/events":            write,
	}
	for _, g := range []string{crd.GroupName, crd.LegacyGroupName} {
		for _, k := range crdschema.Kinds {
			want[g+"/"+k.Plural] = read
		}
	}
	return want
}

// daemonSet loads the DaemonSet and its only container.
func daemonSet(t *testing.T) (*appsv1.DaemonSet, *corev1.Container) {
	t.Helper()
	ds := one[appsv1.DaemonSet](t, decodeFile(t, "daemonset.yaml"))
	if n := len(ds.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return ds, &ds.Spec.Template.Spec.Containers[0]
}

// TestDaemonSet checks identity, rollout, ports, security and probes.
func TestDaemonSet(t *testing.T) {
	ds, c := daemonSet(t)
	pod := ds.Spec.Template.Spec
	if ds.Name != name || ds.Namespace != namespace || pod.ServiceAccountName != name {
		t.Errorf("daemonset %s/%s with service account %q", ds.Namespace, ds.Name, pod.ServiceAccountName)
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v (%v)", ds.Spec.Selector, ds.Spec.Template.Labels, err)
	}
	checkRollout(t, ds)
	checkPorts(t, c)
	checkSecurity(t, c.SecurityContext)
	checkProbe(t, "readiness", c.ReadinessProbe)
	checkProbe(t, "liveness", c.LivenessProbe)
	if c.Image != "ghcr.io/edgeroute/edgeroute:latest" {
		t.Errorf("image %q", c.Image)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().Sign() <= 0 || req.Memory().Sign() <= 0 || lim.Memory().Sign() <= 0 {
		t.Errorf("want cpu and memory requests and a memory limit, got %+v", c.Resources)
	}
}

func checkRollout(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	u := ds.Spec.UpdateStrategy
	if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil {
		t.Fatalf("update strategy %+v", u)
	}
	if mu := u.RollingUpdate.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) {
		t.Errorf("maxUnavailable %v, want 1", mu)
	}
	// A surge pod could not bind the same host ports.
	if ms := u.RollingUpdate.MaxSurge; ms != nil && ms.IntValue() != 0 {
		t.Errorf("maxSurge %v, want 0", ms)
	}
	if g := ds.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 60 {
		t.Errorf("terminationGracePeriodSeconds %v, want 60", g)
	}
}

// wantPorts are the container ports by name, with their host ports.
var wantPorts = map[string][2]int32{"web": {8000, 80}, "websecure": {8443, 443}, "traefik": {8080, 0}}

func checkPorts(t *testing.T, c *corev1.Container) {
	t.Helper()
	got := map[string][2]int32{}
	for _, p := range c.Ports {
		got[p.Name] = [2]int32{p.ContainerPort, p.HostPort}
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			t.Errorf("port %s: protocol %s", p.Name, p.Protocol)
		}
	}
	if !maps.Equal(got, wantPorts) {
		t.Errorf("ports (container, host) %v, want %v", got, wantPorts)
	}
}

func checkSecurity(t *testing.T, sc *corev1.SecurityContext) {
	t.Helper()
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	is := func(b *bool, want bool) bool { return b != nil && *b == want }
	if !is(sc.RunAsNonRoot, true) || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 {
		t.Errorf("want non-root user and group 65532: %v %v %v", sc.RunAsNonRoot, sc.RunAsUser, sc.RunAsGroup)
	}
	if !is(sc.ReadOnlyRootFilesystem, true) || !is(sc.AllowPrivilegeEscalation, false) || sc.Privileged != nil && *sc.Privileged {
		t.Errorf("want a read-only root and no privilege escalation: %+v", sc)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("want all capabilities dropped, none added: %+v", sc.Capabilities)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile %+v, want RuntimeDefault", sc.SeccompProfile)
	}
}

func checkProbe(t *testing.T, kind string, p *corev1.Probe) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s probe: want an httpGet probe, got %+v", kind, p)
	}
	if p.HTTPGet.Path != "/ping" || p.HTTPGet.Port != intstr.FromString("traefik") {
		t.Errorf("%s probe: GET %s on port %s, want /ping on traefik", kind, p.HTTPGet.Path, p.HTTPGet.Port.String())
	}
	if p.PeriodSeconds <= 0 || p.FailureThreshold <= 0 || p.TimeoutSeconds <= 0 {
		t.Errorf("%s probe: period, timeout and failure threshold must be set: %+v", kind, p)
	}
}

// TestDaemonSetArgs parses the container's arguments with edgeroute's own
// static configuration parser and checks they agree with the ports.
func TestDaemonSetArgs(t *testing.T) {
	ds, c := daemonSet(t)
	s, err := engine.ParseStatic(c.Args)
	if err != nil {
		t.Fatalf("engine.ParseStatic(%q): %v", c.Args, err)
	}
	if !s.Ping || !s.KubernetesCRD {
		t.Errorf("ping = %v, kubernetesCRD = %v; want both", s.Ping, s.KubernetesCRD)
	}
	if len(s.EntryPoints) != len(wantPorts) {
		t.Errorf("%d entry points, want %d", len(s.EntryPoints), len(wantPorts))
	}
	for n, ports := range wantPorts {
		ep := s.EntryPoints[n]
		if ep == nil {
			t.Errorf("no entry point %s", n)
			continue
		}
		if _, port, err := net.SplitHostPort(ep.Address); err != nil || port != strconv.Itoa(int(ports[0])) {
			t.Errorf("entry point %s listens on %q, its container port is %d", n, ep.Address, ports[0])
		}
	}
	if g := ds.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil && s.GraceTimeout.Seconds() >= float64(*g) {
		t.Errorf("graceTimeOut %v does not fit in terminationGracePeriodSeconds %d", s.GraceTimeout, *g)
	}
}

// TestKustomization checks that the kustomization lists every manifest.
func TestKustomization(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := strictUnmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, kind := range crdschema.Kinds {
		want = append(want, "crds/"+kind.FileName())
	}
	want = append(want, "rbac.yaml", "daemonset.yaml")
	if k.Kind != "Kustomization" || !slices.Equal(k.Resources, want) {
		t.Errorf("kustomization %s lists %q, want %q", k.Kind, k.Resources, want)
	}
}
