package middleware

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

func defs(ms ...*spec.Middleware) map[string]*spec.Middleware {
	out := map[string]*spec.Middleware{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func TestChain(t *testing.T) {
	built := Build(defs(
		&spec.Middleware{Name: "strip", Kind: "stripPrefix", Config: json.RawMessage(`{"prefixes":["/api"]}`)},
		&spec.Middleware{Name: "add", Kind: "addPrefix", Config: json.RawMessage(`{"prefix":"/v2"}`)},
		&spec.Middleware{Name: "both", Kind: "chain", Chain: []string{"strip", "add"}},
		&spec.Middleware{Name: "nested", Kind: "chain", Chain: []string{"both", "add"}},
	), BuildContext{})
	for name, want := range map[string]string{"both": "/v2/users", "nested": "/v2/v2/users"} {
		b := built[name]
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		url := front(t, nil, b.Wrap)
		if e := echoed(t, url+"/api/users"); e.URI != want {
			t.Errorf("%s: upstream URI %q, want %q", name, e.URI, want)
		}
	}
}

// A cycle, a missing member and an unknown kind fail the middlewares
// concerned, each with an error naming it; the others build.
func TestBuildErrors(t *testing.T) {
	built := Build(defs(
		&spec.Middleware{Name: "a", Kind: "chain", Chain: []string{"b"}},
		&spec.Middleware{Name: "b", Kind: "chain", Chain: []string{"c", "a"}},
		&spec.Middleware{Name: "c", Kind: "addPrefix", Config: json.RawMessage(`{"prefix":"/c"}`)},
		&spec.Middleware{Name: "self", Kind: "chain", Chain: []string{"self"}},
		&spec.Middleware{Name: "gap", Kind: "chain", Chain: []string{"c", "nowhere"}},
		&spec.Middleware{Name: "odd", Kind: "sparkle"},
		&spec.Middleware{Name: "badcfg", Kind: "addPrefix", Config: json.RawMessage(`{"prefix":7}`)},
	), BuildContext{})
	want := map[string]string{
		"a":      "middleware a (chain): middleware b (chain): middleware chain cycle: a -> b -> a",
		"b":      "middleware b (chain): middleware chain cycle: a -> b -> a",
		"self":   "middleware self (chain): middleware chain cycle: self -> self",
		"gap":    "middleware gap (chain): member nowhere: middleware nowhere does not exist",
		"odd":    "middleware odd (sparkle): kind sparkle is not supported by edgeroute yet",
		"badcfg": "middleware badcfg (addPrefix): json: cannot unmarshal",
	}
	for name, b := range built {
		w, bad := want[name]
		switch {
		case !bad && b.Err != nil:
			t.Errorf("%s: unexpected error %v", name, b.Err)
		case bad && (b.Err == nil || !strings.HasPrefix(b.Err.Error(), w)):
			t.Errorf("%s: error %v, want %q", name, b.Err, w)
		}
	}
}
