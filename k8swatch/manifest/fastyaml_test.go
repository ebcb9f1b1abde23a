package manifest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// referenceJSON is the reference conversion the fast path must reproduce.
func referenceJSON(doc []byte) (raw []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return yaml.YAMLToJSONStrict(doc)
}

// checkFastYAML converts one document with both paths. The fast path must
// bail out or give the reference's bytes, and must not accept a document
// the reference refuses. It reports whether the fast path answered.
func checkFastYAML(t testing.TB, doc []byte) bool {
	t.Helper()
	var p yparser
	got, err := fastYAMLToJSON(&p, string(doc))
	if err != nil && err != errBail {
		t.Fatalf("fast path failed (a bug) on %q: %v", doc, err)
	}
	if err != nil {
		return false
	}
	want, werr := referenceJSON(doc)
	if werr != nil {
		t.Fatalf("fast path accepts %q, which the reference refuses: %v\nfast: %s", doc, werr, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fast path differs on %q:\n got %s\nwant %s", doc, got, want)
	}
	return true
}

// decodeWith decodes a file with the fast paths on or off.
func decodeWith(fast bool, name string, data []byte) (*Objects, []Problem) {
	defer func(y, d bool) { fastYAMLEnabled, fastDecodeEnabled = y, d }(fastYAMLEnabled, fastDecodeEnabled)
	fastYAMLEnabled, fastDecodeEnabled = fast, fast
	return Decode(name, data)
}

// checkDecodeSame requires Decode to give exactly the same objects and
// problems with the fast paths on and off.
func checkDecodeSame(t testing.TB, name string, data []byte) {
	t.Helper()
	slowObjs, slowProbs := decodeWith(false, name, data)
	fastObjs, fastProbs := decodeWith(true, name, data)
	compareDecode(t, data, "fast path", fastObjs, fastProbs, slowObjs, slowProbs)
}

func compareDecode(t testing.TB, data []byte, what string, objs *Objects, probs []Problem, wantObjs *Objects, wantProbs []Problem) {
	t.Helper()
	if !reflect.DeepEqual(probs, wantProbs) {
		t.Fatalf("%s: problems differ on %q:\n got %v\nwant %v", what, data, probs, wantProbs)
	}
	if !reflect.DeepEqual(objs, wantObjs) {
		t.Fatalf("%s: objects differ on %q:\n got %+v\nwant %+v", what, data, objs, wantObjs)
	}
}

// corpusFiles are real manifests: Traefik's fixtures, the examples, and
// whatever other YAML the repository holds.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	files := fixtureFiles(t)
	for _, pattern := range []string{
		"../../examples/*/*.yaml", "../../examples/*.yaml",
		"../../deploy/*.yaml", "../../deploy/*/*.yaml",
		"../crd/testdata/*.yaml", "../crd/testdata/*.yml",
	} {
		more, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	return files
}

// TestFastYAMLDifferential checks the fast path on every document of the
// corpus and of the tricky set, and the whole decoding result with and
// without it.
func TestFastYAMLDifferential(t *testing.T) {
	var fixtureDocs, fixtureFast int
	for _, file := range corpusFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range splitYAML(file, bytes.TrimPrefix(data, utf8BOM)) {
			fixtureDocs++
			if checkFastYAML(t, doc.data) {
				fixtureFast++
			}
		}
		checkDecodeSame(t, file, data)
	}
	t.Logf("corpus: %d of %d documents on the fast path", fixtureFast, fixtureDocs)
	// The fast path is only worth it if real manifests take it.
	if fixtureFast < fixtureDocs*95/100 {
		t.Errorf("only %d of %d corpus documents take the fast path", fixtureFast, fixtureDocs)
	}

	var trickyFast int
	tricky := trickyDocuments()
	for _, doc := range tricky {
		if checkFastYAML(t, []byte(doc)) {
			trickyFast++
		}
		checkDecodeSame(t, "tricky.yaml", []byte(doc))
	}
	t.Logf("tricky set: %d of %d documents on the fast path", trickyFast, len(tricky))
	// All of them together, as one file of many documents.
	checkDecodeSame(t, "tricky.yaml", []byte(strings.Join(tricky, "\n---\n")))
}

// TestFastYAMLBails lists documents the fast path must leave to the
// reference (most of them are valid YAML with a meaning it does not
// reproduce).
func TestFastYAMLBails(t *testing.T) {
	for _, doc := range []string{
		"a: &x 1\nb: *x\n",
		"a: !!str 1\n",
		"a: |\n  text\n",
		"a: >\n  text\n",
		"a: b\n  c\n",
		"a: 'b\n  c'\n",
		"a: [b,\n  c]\n",
		"? a\n: b\n",
		"<<: {a: 1}\n",
		"a: 1\na: 2\n",
		"a: {b: 1, b: 2}\n",
		"1: a\n\"1\": b\n",
		"1.5: a\n",
		"~: a\n",
		"a:\tb\n",
		"a: .nan\n",
		"a: -.inf\n",
		"%YAML 1.1\n---\na: 1\n",
		"a: 1\n...\n",
		"a: 1\r",
		"a: \x01\n",
		"a: \xff\n",
		"a: \u2028\n",
		"a: b: c\n",
		"a: - b\n",
		"a: [b: c]\n",
		"a: {b}\n",
		"a: [b, ]\n",
		"a: {b: }\n",
		"a: \"b\\\n  c\"\n",
		"a: \"\\q\"\n",
		"a:\n  - b\n  c: d\n",
		"  a: 1\nb: 2\n",
		"- a\n  b\n",
		strings.Repeat("[", maxFastDepth+1) + strings.Repeat("]", maxFastDepth+1) + "\n",
		strings.Repeat("k", maxKeyLen+1) + ": v\n",
	} {
		var p yparser
		if _, err := fastYAMLToJSON(&p, doc); err != errBail {
			t.Errorf("fast path does not bail out on %q: %v", doc, err)
		}
		checkFastYAML(t, []byte(doc))
		checkDecodeSame(t, "bail.yaml", []byte(doc))
	}
}

// TestFastYAMLBenchmarkDocuments makes sure the documents of the load
// benchmark take the fast paths: both the parser and the typed decoder.
func TestFastYAMLBenchmarkDocuments(t *testing.T) {
	docs := []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: up, namespace: bench}\nspec: {ports: [{name: http, port: 80}]}\n",
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: up-1, namespace: bench, labels: {kubernetes.io/service-name: up}}\n" +
			"addressType: IPv4\nports: [{name: http, port: 9999}]\nendpoints: [{addresses: [\"127.0.0.1\"]}]\n",
		"apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r1, namespace: bench}\n" +
			"spec:\n  routes:\n    - match: \"Host(`r1.bench.test`)\"\n      services: [{name: up, port: 80}]\n",
		ingressRoute,
		service,
	}
	for _, doc := range docs {
		if !checkFastYAML(t, []byte(doc)) {
			t.Errorf("not on the fast path: %q", doc)
		}
		var p yparser
		root, err := p.parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		switch kind := p.t.stringAt(root, "kind"); kind {
		case "IngressRoute":
			var o IngressRoute
			ok = fastDecode(&p.t, root, &o.IngressRoute)
		case "Service":
			var o Service
			ok = fastDecode(&p.t, root, &o.Service)
		case "EndpointSlice":
			var o EndpointSlice
			ok = fastDecode(&p.t, root, &o.EndpointSlice)
		default:
			t.Fatalf("kind %q", kind)
		}
		if !ok {
			t.Errorf("not decoded by the fast decoder: %q", doc)
		}
		checkDecodeSame(t, "bench.yaml", []byte(doc))
	}
}

// FuzzFastYAML compares the fast path with the reference on arbitrary
// input: the fast conversion must bail out, or give the reference's
// bytes; it must never accept what the reference refuses. The whole
// decoding result must not depend on the fast paths either.
func FuzzFastYAML(f *testing.F) {
	for _, file := range fixtureFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, doc := range trickyDocuments() {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastYAML(t, data)
		for _, doc := range splitYAML("fuzz.yaml", bytes.TrimPrefix(data, utf8BOM)) {
			checkFastYAML(t, doc.data)
		}
		checkDecodeSame(t, "fuzz.yaml", data)
	})
}

// TestConcurrentLoads runs loads of overlapping folders at the same time
// (the watcher and a check may): each must give what a load alone gives.
func TestConcurrentLoads(t *testing.T) {
	dirs := make([]string, 3)
	for i := range dirs {
		dirs[i] = t.TempDir()
		var sb strings.Builder
		for j := range 30 {
			fmt.Fprintf(&sb, "---\n%s", strings.Replace(ingressRoute, "name: foo", fmt.Sprintf("name: r%d", j%(10+i*10)), 1))
		}
		writeTree(t, dirs[i], map[string]string{"routes.yaml": sb.String(), "svc.yaml": service})
	}
	type result struct {
		objs  *Objects
		probs []Problem
	}
	want := make([]result, len(dirs))
	for i, dir := range dirs {
		want[i].objs, want[i].probs = Load(dir)
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for k := range 10 {
				i := (g + k) % len(dirs)
				objs, probs := Load(dirs[i])
				if !reflect.DeepEqual(objs, want[i].objs) || !reflect.DeepEqual(probs, want[i].probs) {
					done <- fmt.Errorf("load %d of %s differs", k, dirs[i])
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkManifestLoad measures Load alone on a file of 10k
// IngressRoutes.
func BenchmarkManifestLoad(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r%d, namespace: bench}\n"+
			"spec:\n  routes:\n    - match: \"Host(`r%d.bench.test`)\"\n      services: [{name: up, port: 80}]\n", i, i)
	}
	file := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if objs, _ := Load(file); len(objs.IngressRoutes) != 10000 {
			b.Fatal(len(objs.IngressRoutes))
		}
	}
}
