package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// http1Seeds is fuzz/http1's seed corpus, committed as files (that package
// cannot import this one's tables).
const http1Seeds = "fuzz/http1/testdata/fuzz/FuzzHTTP1Proxy"

// TestFuzzSeeds keeps the committed seeds of FuzzHTTP1Proxy in step with
// the tables they are made from: every payload of the smuggling table
// (followed, as there, by a pipelined request) and every raw request of
// explain's differential corpus. Each seed is named after its source and
// a hash of its bytes; other files (crashers the fuzzer found) are left
// alone. With EDGEROUTE_WRITE_FUZZ_SEEDS=1 (`make fuzz-seeds`) it writes
// the missing seeds and removes the stale ones instead of failing.
func TestFuzzSeeds(t *testing.T) {
	want := map[string]string{} // file name -> input
	add := func(prefix, input string) {
		sum := sha256.Sum256([]byte(input))
		want[prefix+"-"+hex.EncodeToString(sum[:6])] = input
	}
	for _, c := range smugglingCases() {
		add("smuggling-"+c.id, c.payload+second)
	}
	for _, c := range explainCorpus() {
		if c.raw != "" {
			add("explain-"+c.class, c.raw)
		}
	}
	write := os.Getenv("EDGEROUTE_WRITE_FUZZ_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(http1Seeds, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var problems []string
	for name, input := range want {
		path := filepath.Join(http1Seeds, name)
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", input)
		if got, err := os.ReadFile(path); err == nil && string(got) == data {
			continue
		}
		if write {
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		problems = append(problems, "missing or different: "+path)
	}
	entries, err := os.ReadDir(http1Seeds)
	if err != nil && !write {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := want[name]; ok || !strings.HasPrefix(name, "smuggling-") && !strings.HasPrefix(name, "explain-") {
			continue
		}
		if write {
			os.Remove(filepath.Join(http1Seeds, name))
			continue
		}
		problems = append(problems, "stale (its table entry is gone): "+filepath.Join(http1Seeds, name))
	}
	if len(problems) > 0 {
		t.Fatalf("%d seeds out of date (run make fuzz-seeds):\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
