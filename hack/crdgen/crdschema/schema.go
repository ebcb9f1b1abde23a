// Package crdschema derives structural OpenAPI v3 schemas, and from them the
// CustomResourceDefinitions of Traefik's HTTP kinds, from the Go types of
// package k8swatch/crd. Command hack/crdgen writes the result to deploy/crds
// (make crds); the tests of package deploy regenerate it in memory to catch
// stale files.
//
// The schemas carry property names, types and required fields only: no
// enums, patterns or bounds. A schema stricter than Traefik's would refuse
// manifests Traefik accepts, so when in doubt the generator is permissive.
package crdschema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Schema is the part of a CRD's OpenAPI v3 schema (the JSONSchemaProps of
// apiextensions.k8s.io/v1) that structural schemas of plain Go types use.
type Schema struct {
	Type                 string             `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	AdditionalProperties *Schema            `json:"additionalProperties,omitempty"`
	AnyOf                []*Schema          `json:"anyOf,omitempty"`
	// IntOrString accepts an integer or a string (x-kubernetes-int-or-string).
	IntOrString bool `json:"x-kubernetes-int-or-string,omitempty"`
	// PreserveUnknownFields keeps any value below this node
	// (x-kubernetes-preserve-unknown-fields).
	PreserveUnknownFields bool `json:"x-kubernetes-preserve-unknown-fields,omitempty"`
}

var (
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	rawJSONType     = reflect.TypeFor[json.RawMessage]()
	objectMetaType  = reflect.TypeFor[metav1.ObjectMeta]()
)

// notRequired lists fields, as "GoType.jsonName", that have no omitempty
// in k8swatch/crd but stay optional here. Traefik's schema requires
// failover.errors, yet Traefik's own test manifests omit it and its
// provider copes without; the permissive choice accepts those manifests.
var notRequired = map[string]bool{
	"Failover.errors": true,
}

// For returns the schema of values of Go type t, walked as encoding/json
// sees it. A field without omitempty (or omitzero) is required.
// metav1.ObjectMeta becomes a bare object, as the API server validates
// metadata itself. Types with no JSON schema counterpart are errors.
func For(t reflect.Type) (*Schema, error) {
	w := walker{open: map[reflect.Type]bool{}}
	return w.schema(t)
}

// walker remembers the structs being walked, to refuse recursive types.
type walker struct {
	open map[reflect.Type]bool
}

func (w *walker) schema(t reflect.Type) (*Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case intOrStringType:
		return &Schema{AnyOf: []*Schema{{Type: "integer"}, {Type: "string"}}, IntOrString: true}, nil
	case rawJSONType:
		return &Schema{PreserveUnknownFields: true}, nil
	case objectMetaType:
		return &Schema{Type: "object"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &Schema{Type: "boolean"}, nil
	case reflect.String:
		return &Schema{Type: "string"}, nil
	case reflect.Int:
		return &Schema{Type: "integer"}, nil
	case reflect.Int32:
		return &Schema{Type: "integer", Format: "int32"}, nil
	case reflect.Int64:
		return &Schema{Type: "integer", Format: "int64"}, nil
	case reflect.Slice:
		items, err := w.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return &Schema{Type: "array", Items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key of %s is not a string", t)
		}
		values, err := w.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return &Schema{Type: "object", AdditionalProperties: values}, nil
	case reflect.Struct:
		return w.object(t)
	}
	return nil, fmt.Errorf("no schema for Go type %s", t)
}

func (w *walker) object(t reflect.Type) (*Schema, error) {
	if w.open[t] {
		return nil, fmt.Errorf("recursive type %s", t)
	}
	w.open[t] = true
	defer delete(w.open, t)
	s := &Schema{Type: "object", Properties: map[string]*Schema{}}
	if err := w.fields(t, s); err != nil {
		return nil, err
	}
	slices.Sort(s.Required)
	return s, nil
}

// fields adds the JSON fields of struct t to s, flattening embedded
// structs without a JSON name as encoding/json does. Unexported fields are
// skipped, embedded or not, as in k8swatch/crd's own field walk.
func (w *walker) fields(t reflect.Type, s *Schema) error {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			if err := w.fields(deref(f.Type), s); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := s.Properties[name]; dup {
			return fmt.Errorf("%s: JSON field %q defined twice", t, name)
		}
		fs, err := w.schema(f.Type)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		s.Properties[name] = fs
		if required(opts) && !notRequired[t.Name()+"."+name] {
			s.Required = append(s.Required, name)
		}
	}
	return nil
}

// required reports whether a field with these JSON tag options must be
// present.
func required(opts string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			return false
		}
	}
	return true
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
