package k8swatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// SetDebounce is the quiet time the watcher waits after the last change:
// with 300ms (three times the default), a rebuild never comes sooner than
// 300ms after the write it follows.
func TestWatcherDebounce(t *testing.T) {
	dir := t.TempDir()
	d := NewDir(dir, Options{}, nil)
	d.SetDebounce(300 * time.Millisecond)
	w, err := d.Watch()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	applied := make(chan time.Time, 10)
	go w.Run(ctx, func(*spec.Snapshot) { applied <- time.Now() })
	for i := range 3 {
		wrote := time.Now()
		if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("# change "+string(rune('0'+i))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-applied:
			if at.Sub(wrote) < 300*time.Millisecond {
				t.Fatalf("rebuilt %v after a write, before the 300ms quiet time", at.Sub(wrote))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no rebuild")
		}
	}
}
