package crd

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// schemaType renders a Go type the way the golden field list renders the
// OpenAPI type of a CRD property.
func schemaType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[intstr.IntOrString]():
		return "int-or-string"
	case t == reflect.TypeFor[json.RawMessage]():
		return "any"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		return "array"
	case reflect.Map:
		return "map[" + schemaType(t.Elem()) + "]"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32:
		return "integer"
	case reflect.Int64:
		return "integer(int64)"
	default:
		return "unsupported " + t.String()
	}
}

// collectFields walks t like a JSON encoder would and records every
// reachable property path with its rendered type.
func collectFields(t reflect.Type, path string, out map[string]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	typ := schemaType(t)
	out[path] = typ
	switch typ {
	case "object":
		collectStructFields(t, path, out)
	case "array":
		collectFields(t.Elem(), path+"[]", out)
	}
}

// collectStructFields records the fields of struct t below path, flattening
// inlined embedded structs into the same level as encoding/json does.
func collectStructFields(t reflect.Type, path string, out map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			collectStructFields(ft, path, out)
			continue
		}
		collectFields(f.Type, path+"."+name, out)
	}
}

// isExtension tells a path below one of edgeroute's own middleware kinds
// (ExtensionKinds), which Traefik's schema cannot have.
func isExtension(kind, path string) bool {
	if kind != KindMiddleware {
		return false
	}
	for _, k := range ExtensionKinds() {
		if rest, ok := strings.CutPrefix(path, "spec."+k); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			return true
		}
	}
	return false
}

// newerThanSchema lists the fields, by kind and path, that the v3.7
// branch added after v3.7.13 and that Traefik's own test manifests (the
// fixture corpus) already use. They are the only allowed extras.
var newerThanSchema = map[string]bool{
	"ServersTransport spec.peerCertSANs":         true,
	"ServersTransport spec.peerCertSANs[]":       true,
	"ServersTransport spec.peerCertSANs[].type":  true,
	"ServersTransport spec.peerCertSANs[].value": true,
}

// TestSpecFieldsMatchTraefikSchema compares, for every kind, the JSON
// fields reachable from the Go spec type with the property list of
// Traefik v3.7.13's CRD schema: no field may be missing (a valid manifest
// would be refused by strict decoding), none may be extra (an invalid one
// would be accepted), and each must have the same JSON type.
func TestSpecFieldsMatchTraefikSchema(t *testing.T) {
	want := map[string]map[string]string{}
	f, err := os.Open("testdata/traefik-v3.7.13-crd-fields.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			t.Fatalf("malformed golden line %q", line)
		}
		if want[parts[0]] == nil {
			want[parts[0]] = map[string]string{}
		}
		want[parts[0]][parts[1]] = parts[2]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	specs := map[string]reflect.Type{
		KindIngressRoute:     reflect.TypeFor[IngressRoute](),
		KindMiddleware:       reflect.TypeFor[Middleware](),
		KindTraefikService:   reflect.TypeFor[TraefikService](),
		KindTLSOption:        reflect.TypeFor[TLSOption](),
		KindTLSStore:         reflect.TypeFor[TLSStore](),
		KindServersTransport: reflect.TypeFor[ServersTransport](),
	}
	if len(want) != len(specs) {
		t.Errorf("golden file has %d kinds, test knows %d", len(want), len(specs))
	}
	for kind, typ := range specs {
		t.Run(kind, func(t *testing.T) {
			specField, ok := typ.FieldByName("Spec")
			if !ok {
				t.Fatalf("%s has no Spec field", typ)
			}
			if tag := specField.Tag.Get("json"); tag != "spec" {
				t.Errorf("Spec JSON tag = %q, want %q", tag, "spec")
			}
			got := map[string]string{}
			collectFields(specField.Type, "spec", got)
			exp := want[kind]
			if len(exp) == 0 {
				t.Fatalf("no golden fields for %s", kind)
			}
			var problems []string
			for p, ty := range exp {
				switch g, ok := got[p]; {
				case !ok:
					problems = append(problems, "missing "+p+" ("+ty+")")
				case g != ty:
					problems = append(problems, "type of "+p+" is "+g+", want "+ty)
				}
			}
			for p := range got {
				if _, ok := exp[p]; !ok && !newerThanSchema[kind+" "+p] && !isExtension(kind, p) {
					problems = append(problems, "extra "+p)
				}
			}
			slices.Sort(problems)
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

func TestMiddlewareKinds(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string
	}{
		{name: "none", json: `{}`, want: nil},
		{name: "one", json: `{"stripPrefix":{"prefixes":["/a"]}}`, want: []string{"stripPrefix"}},
		{name: "empty object counts", json: `{"compress":{}}`, want: []string{"compress"}},
		{name: "null does not count", json: `{"compress":null}`, want: nil},
		{
			name: "several in declaration order",
			json: `{"retry":{"attempts":2},"addPrefix":{"prefix":"/x"},"headers":{}}`,
			want: []string{"addPrefix", "headers", "retry"},
		},
		{name: "plugin", json: `{"plugin":{"demo":{"a":[1,{"b":true}]}}}`, want: []string{"plugin"}},
		{name: "empty plugin map", json: `{"plugin":{}}`, want: nil},
		{name: "deprecated ipWhiteList", json: `{"ipWhiteList":{"sourceRange":["10.0.0.0/8"]}}`, want: []string{"ipWhiteList"}},
		{name: "last field", json: `{"grpcWeb":{"allowOrigins":["*"]}}`, want: []string{"grpcWeb"}},
		{name: "extension", json: `{"jwt":{"jwksURL":"https://idp/keys","tokenSource":{"cookie":"t"}}}`, want: []string{"jwt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Middleware
			if err := strictUnmarshal(`{"spec":`+tt.json+`}`, &m); err != nil {
				t.Fatal(err)
			}
			if got := m.Kinds(); !slices.Equal(got, tt.want) {
				t.Errorf("Kinds() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The extension kinds are exactly the fields tagged as such.
func TestExtensionKinds(t *testing.T) {
	if got := ExtensionKinds(); !slices.Equal(got, []string{"jwt"}) {
		t.Errorf("ExtensionKinds() = %q, want [jwt]", got)
	}
}

// TestEveryMiddlewareKindIsReported sets each kind alone and checks that
// Kinds names exactly it, so a field added to MiddlewareSpec cannot be
// forgotten.
func TestEveryMiddlewareKindIsReported(t *testing.T) {
	st := reflect.TypeFor[MiddlewareSpec]()
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		var spec MiddlewareSpec
		v := reflect.ValueOf(&spec).Elem().Field(i)
		switch v.Kind() {
		case reflect.Pointer:
			v.Set(reflect.New(f.Type.Elem()))
		case reflect.Map:
			m := reflect.MakeMap(f.Type)
			m.SetMapIndex(reflect.ValueOf("p"), reflect.ValueOf(json.RawMessage(`{}`)))
			v.Set(m)
		default:
			t.Fatalf("field %s has unexpected kind %s", f.Name, v.Kind())
		}
		if got := spec.Kinds(); !slices.Equal(got, []string{name}) {
			t.Errorf("with only %s set, Kinds() = %q", f.Name, got)
		}
	}
}

func strictUnmarshal(data string, v any) error {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestDecodeValues(t *testing.T) {
	t.Run("IngressRoute", func(t *testing.T) {
		const doc = `{
			"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
			"metadata": {"name": "r", "namespace": "ns"},
			"spec": {
				"entryPoints": ["web"],
				"routes": [{
					"match": "Host(` + "`a`" + `)", "kind": "Rule", "priority": 7,
					"services": [
						{"name": "s1", "port": 80, "weight": 0, "passHostHeader": false,
						 "sticky": {"cookie": {"path": ""}}, "nodePortLB": true},
						{"name": "s2", "port": "http", "kind": "TraefikService",
						 "healthCheck": {"interval": "10s", "timeout": 3}}
					],
					"middlewares": [{"name": "m", "namespace": "other"}]
				}],
				"tls": {"secretName": "s", "options": {"name": "o"}, "domains": [{"main": "a", "sans": ["b"]}]},
				"parentRefs": [{"name": "parent"}]
			}
		}`
		var ir IngressRoute
		if err := strictUnmarshal(doc, &ir); err != nil {
			t.Fatal(err)
		}
		if ir.Name != "r" || ir.Namespace != "ns" || ir.Kind != KindIngressRoute || ir.APIVersion != APIVersion {
			t.Errorf("metadata/type = %+v %+v", ir.ObjectMeta, ir.TypeMeta)
		}
		r := ir.Spec.Routes[0]
		if r.Priority != 7 || r.Kind != RouteKindRule || r.Middlewares[0].Namespace != "other" {
			t.Errorf("route = %+v", r)
		}
		s1, s2 := r.Services[0], r.Services[1]
		if s1.Port != intstr.FromInt32(80) || s2.Port != intstr.FromString("http") {
			t.Errorf("ports = %v, %v", s1.Port, s2.Port)
		}
		if s1.Weight == nil || *s1.Weight != 0 || s2.Weight != nil {
			t.Errorf("explicit zero weight must survive, unset must stay nil: %v %v", s1.Weight, s2.Weight)
		}
		if s1.PassHostHeader == nil || *s1.PassHostHeader {
			t.Errorf("passHostHeader = %v", s1.PassHostHeader)
		}
		if p := s1.Sticky.Cookie.Path; p == nil || *p != "" {
			t.Errorf("explicit empty cookie path must survive, got %v", p)
		}
		if !s1.NodePortLB || s1.NativeLB != nil {
			t.Errorf("nodePortLB/nativeLB = %v/%v", s1.NodePortLB, s1.NativeLB)
		}
		if hc := s2.HealthCheck; hc.Interval.String() != "10s" || hc.Timeout.IntValue() != 3 {
			t.Errorf("health check = %+v", hc)
		}
		if ir.Spec.TLS.Domains[0].SANs[0] != "b" || ir.Spec.ParentRefs[0].Name != "parent" {
			t.Errorf("tls/parentRefs = %+v %+v", ir.Spec.TLS, ir.Spec.ParentRefs)
		}
	})

	t.Run("TraefikService", func(t *testing.T) {
		const doc = `{"spec": {
			"mirroring": {"name": "main", "port": 80, "mirrorBody": false, "maxBodySize": 1024,
				"mirrors": [{"name": "m1", "port": 81, "percent": 10}]},
			"failover": {"service": {"name": "a"}, "fallback": {"name": "b"}, "errors": {"status": ["500-599"]}}
		}}`
		var ts TraefikService
		if err := strictUnmarshal(doc, &ts); err != nil {
			t.Fatal(err)
		}
		m := ts.Spec.Mirroring
		if m.Name != "main" || *m.MirrorBody || *m.MaxBodySize != 1024 || m.Mirrors[0].Percent != 10 || m.Mirrors[0].Name != "m1" {
			t.Errorf("mirroring = %+v", m)
		}
		if f := ts.Spec.Failover; f.Service.Name != "a" || f.Fallback.Name != "b" || f.Errors.Status[0] != "500-599" {
			t.Errorf("failover = %+v", f)
		}
	})

	t.Run("ServersTransport", func(t *testing.T) {
		const doc = `{"spec": {"rootCAs": [{"secret": "s"}, {"configMap": "c"}],
			"forwardingTimeouts": {"dialTimeout": 42, "pingTimeout": "1m"}, "maxIdleConnsPerHost": -1}}`
		var st ServersTransport
		if err := strictUnmarshal(doc, &st); err != nil {
			t.Fatal(err)
		}
		if *st.Spec.RootCAs[0].Secret != "s" || *st.Spec.RootCAs[1].ConfigMap != "c" || st.Spec.RootCAs[1].Secret != nil {
			t.Errorf("rootCAs = %+v", st.Spec.RootCAs)
		}
		if ft := st.Spec.ForwardingTimeouts; ft.DialTimeout.IntValue() != 42 || ft.PingTimeout.String() != "1m" || ft.IdleConnTimeout != nil {
			t.Errorf("timeouts = %+v", ft)
		}
	})

	t.Run("unknown field is refused", func(t *testing.T) {
		for _, doc := range []string{
			`{"spec": {"routes": [{"match": "x", "servics": []}]}}`,
			`{"spec": {"routes": [{"match": "x", "services": [{"name": "s", "sticky": {"cookie": {"expires": 3}}}]}]}}`,
		} {
			var ir IngressRoute
			if err := strictUnmarshal(doc, &ir); err == nil {
				t.Errorf("%s: decoded without error", doc)
			}
		}
	})
}
