package engine

import (
	"testing"
	"time"
)

// --providers.manifests.debounce sets the folder watcher's quiet time,
// within (0, 1s]: the watcher never waits more than 1s anyway.
func TestParseStaticManifestsDebounce(t *testing.T) {
	s, err := ParseStatic([]string{"--providers.manifests.directory=/x", "--providers.manifests.debounce=5ms"})
	if err != nil || s.ManifestsDebounce != 5*time.Millisecond {
		t.Fatalf("5ms: %v %v", s, err)
	}
	if s, _ := ParseStatic([]string{"--providers.manifests.directory=/x"}); s.ManifestsDebounce != 0 {
		t.Errorf("default: %v, want 0 (the provider's own default)", s.ManifestsDebounce)
	}
	for _, bad := range []string{"0", "0s", "-1s", "2s", "soon"} {
		if _, err := ParseStatic([]string{"--providers.manifests.debounce=" + bad}); err == nil {
			t.Errorf("debounce %q accepted", bad)
		}
	}
}
