package middleware

import (
	"encoding/json"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// A middleware whose definition did not change is reused from the
// previous configuration (its state survives the reload); a changed one
// and a chain are built again.
func TestBuildReusesUnchanged(t *testing.T) {
	builds := map[string]int{}
	type countConfig struct {
		N int `json:"n"`
	}
	saved := Kinds
	Kinds = append(append([]Kind(nil), Kinds...), kind("testCount", func(_ *countConfig, def *spec.Middleware, _ *BuildContext) (Middleware, error) {
		builds[def.Name]++
		return func(next Handler) Handler { return next }, nil
	}))
	t.Cleanup(func() { Kinds = saved })
	defs := func(n string) map[string]*spec.Middleware {
		return map[string]*spec.Middleware{
			"a": {Name: "a", Kind: "testCount", Config: json.RawMessage(`{"n":1}`)},
			"b": {Name: "b", Kind: "testCount", Config: json.RawMessage(`{"n":` + n + `}`)},
			"c": {Name: "c", Kind: "chain", Config: json.RawMessage(`{}`), Chain: []string{"a"}},
		}
	}
	first := Build(defs("2"), BuildContext{})
	second := Build(defs("3"), BuildContext{Previous: first})
	for name, b := range second {
		if b.Err != nil || b.Wrap == nil {
			t.Fatalf("%s: %v", name, b.Err)
		}
	}
	if builds["a"] != 1 || builds["b"] != 2 {
		t.Errorf("builds %v: want a once (reused), b twice (changed)", builds)
	}
	if string(second["b"].Def.Config) != `{"n":3}` {
		t.Errorf("b: %s", second["b"].Def.Config)
	}
}
