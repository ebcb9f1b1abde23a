package compile

import (
	"slices"
	"testing"
)

func TestDomains(t *testing.T) {
	for rule, want := range map[string][]string{
		"Host(`A.example.com`)":                              {"a.example.com"},
		"Host(`a.com`) && PathPrefix(`/x`)":                  {"a.com"},
		"Host(`a.com`) || host(`b.com`)":                     {"a.com", "b.com"},
		"!Host(`a.com`)":                                     nil,
		"!(Host(`a.com`) || Path(`/`))":                      nil,
		"!(!HOST(`a.com`))":                                  {"a.com"},
		"HostRegexp(`^a\\.com$`)":                            nil,
		"Host(`a.com`, `b.com`)":                             {"a.com", "b.com"}, // v2 form
		"HostHeader(`a.com`)":                                nil,
		"PathPrefix(`/`)":                                    nil,
		"Host(`a.com`) && !(Host(`b.com`) && Method(`GET`))": {"a.com"},
		"Hots(`a.com`":                                       nil,
	} {
		if got := Domains(rule); !slices.Equal(got, want) {
			t.Errorf("Domains(%s) = %q, want %q", rule, got, want)
		}
	}
}
