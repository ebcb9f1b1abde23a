package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to Decode. Besides not panicking,
// Decode must not even reach its panic guard (whose "internal error"
// problem would hide a real bug), must always return objects, and must
// label every problem and object with the file name it was given.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"simple.yml", "with_sticky.yml", "services.yml", "with_servers_transport.yml", "with_middleware.yml"} {
		data, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Service"}, null, 3]}`))
	f.Add([]byte("apiVersion: v1\nkind: ServiceList\nitems:\n- metadata: {name: a}\n---\n--- # c\n[1, 2]\n"))
	f.Add([]byte("a: &a [*a, *a]\n---\n\xef\xbb\xbf{\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			objs     *Objects
			problems []Problem
			done     = make(chan struct{})
		)
		go func() {
			defer close(done)
			objs, problems = Decode("fuzz.yaml", data)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Decode takes more than 5s on %q", data)
		}
		if objs == nil {
			t.Fatal("nil objects")
		}
		for _, p := range problems {
			if p.File != "fuzz.yaml" || p.Err == nil {
				t.Fatalf("badly labelled problem %#v", p)
			}
			if strings.Contains(p.Err.Error(), "internal error") {
				t.Fatalf("decoder panicked: %v", p)
			}
			_ = p.Error()
		}
		for _, ir := range objs.IngressRoutes {
			if ir.Source.File != "fuzz.yaml" || ir.Source.Line < 1 || ir.Source.Doc < 1 || ir.Namespace == "" {
				t.Fatalf("badly labelled object %+v", ir.Source)
			}
		}
	})
}
