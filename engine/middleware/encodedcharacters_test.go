package middleware

import (
	"fmt"
	"testing"
)

// Traefik's encoded_characters_test.go cases, over loopback: each of the
// seven characters refused by default (400, empty body) and let through
// when allowed.
func TestEncodedCharacters(t *testing.T) {
	tests := []struct{ option, path string }{
		{"allowEncodedSlash", "/foo%2fbar"},
		{"allowEncodedBackSlash", "/foo%5cbar"},
		{"allowEncodedNullCharacter", "/foo%00bar"},
		{"allowEncodedSemicolon", "/foo%3bbar"},
		{"allowEncodedPercent", "/foo%25bar"},
		{"allowEncodedQuestionMark", "/foo%3fbar"},
		{"allowEncodedHash", "/foo%23bar"},
	}
	deny := front(t, nil, buildOne(t, "encodedCharacters", `{}`))
	for _, tc := range tests {
		t.Run(tc.option, func(t *testing.T) {
			resp := do(t, "GET", deny+tc.path, nil)
			if body := readAll(t, resp); resp.StatusCode != 400 || body != "" {
				t.Errorf("denied: %d %q, want 400 and no body", resp.StatusCode, body)
			}
			allow := front(t, nil, buildOne(t, "encodedCharacters", fmt.Sprintf(`{%q:true}`, tc.option)))
			if resp := do(t, "GET", allow+tc.path, nil); resp.StatusCode != 200 {
				t.Errorf("allowed: %d", resp.StatusCode)
			}
			// The other six stay refused.
			for _, o := range tests {
				if o.option != tc.option {
					if resp := do(t, "GET", allow+o.path, nil); resp.StatusCode != 400 {
						t.Errorf("%s with only %s allowed: %d, want 400", o.path, tc.option, resp.StatusCode)
					}
				}
			}
		})
	}
	// Other escapes, and the query, are not looked at.
	for _, p := range []string{"/foo%20bar", "/foo?x=%2F", "/plain"} {
		if resp := do(t, "GET", deny+p, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d, want 200", p, resp.StatusCode)
		}
	}
	all := `{"allowEncodedSlash":true,"allowEncodedBackSlash":true,"allowEncodedNullCharacter":true,"allowEncodedSemicolon":true,` +
		`"allowEncodedPercent":true,"allowEncodedQuestionMark":true,"allowEncodedHash":true}`
	open := front(t, nil, buildOne(t, "encodedCharacters", all))
	for _, tc := range tests {
		if resp := do(t, "GET", open+tc.path, nil); resp.StatusCode != 200 {
			t.Errorf("all allowed, %s: %d", tc.path, resp.StatusCode)
		}
	}
}
