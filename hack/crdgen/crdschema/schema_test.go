package crdschema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Inner is embedded (exported, as k8swatch/crd embeds) to test inlining.
type Inner struct {
	Base string `json:"base"`
}

type sample struct {
	Inner   `json:",inline"`
	Name    string                     `json:"name"`
	Port    *intstr.IntOrString        `json:"port,omitempty"`
	Size    *int64                     `json:"size,omitempty"`
	Labels  map[string]string          `json:"labels,omitzero"`
	Plugins map[string]json.RawMessage `json:"plugins,omitempty"`
	List    []Inner                    `json:"list,omitempty"`
	Skipped string                     `json:"-"`
	hidden  string
}

// TestFor pins the schema of each kind of Go field.
func TestFor(t *testing.T) {
	s, err := For(reflect.TypeFor[sample]())
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `properties:
  base:
    type: string
  labels:
    additionalProperties:
      type: string
    type: object
  list:
    items:
      properties:
        base:
          type: string
      required:
      - base
      type: object
    type: array
  name:
    type: string
  plugins:
    additionalProperties:
      x-kubernetes-preserve-unknown-fields: true
    type: object
  port:
    anyOf:
    - type: integer
    - type: string
    x-kubernetes-int-or-string: true
  size:
    format: int64
    type: integer
required:
- base
- name
type: object
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

type recursive struct {
	Next *recursive `json:"next,omitempty"`
}

type duplicate struct {
	Inner `json:",inline"`
	Base  string `json:"base"`
}

// TestForRefuses checks that types without a faithful schema are errors.
func TestForRefuses(t *testing.T) {
	for _, tt := range []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[struct {
			F float64 `json:"f"`
		}](), "no schema for Go type float64"},
		{reflect.TypeFor[map[int]string](), "map key"},
		{reflect.TypeFor[recursive](), "recursive type"},
		{reflect.TypeFor[duplicate](), `"base" defined twice`},
	} {
		if _, err := For(tt.typ); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("For(%s) error = %v, want %q", tt.typ, err, tt.want)
		}
	}
}
