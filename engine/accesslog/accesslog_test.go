package accesslog

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func record() *Record {
	r := &Record{Start: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Duration: 12 * time.Millisecond,
		RouterName: "r@kubernetescrd", ServiceURL: "http://10.0.0.1:80", Client: netip.MustParseAddrPort("192.0.2.1:5000"),
		RequestMethod: []byte("GET"), RequestPath: []byte(`/a"b`), RequestProtocol: "HTTP/1.1", DownstreamStatus: 200, DownstreamContentSize: 42}
	r.RequestHeaders = []Header{{Name: []byte("User-Agent"), Value: []byte("curl/8")}}
	return r
}

// The two CLF formats, byte for byte as Traefik's formatters write them.
func TestFormats(t *testing.T) {
	for format, want := range map[string]string{
		"common":     `192.0.2.1 - - [07/Dec/2026:10:00:00 +0000] "GET /a"b HTTP/1.1" 200 42 "-" "curl/8" 1 "r@kubernetescrd" "http://10.0.0.1:80" 12ms` + "\n",
		"genericCLF": `192.0.2.1 - - [07/Dec/2026:10:00:00 +0000] "GET /a"b HTTP/1.1" 200 42 "-" "curl/8"` + "\n",
	} {
		l, err := New(Config{Format: format, FilePath: filepath.Join(t.TempDir(), "x")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(l.appendCLF(nil, record(), 1)); got != want {
			t.Errorf("%s:\n got %q\nwant %q", format, got, want)
		}
	}
	if _, err := New(Config{Format: "xml"}, nil); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := New(Config{Filters: Filters{StatusCodes: []string{"500-400"}}}, nil); err == nil {
		t.Error("bad status range accepted")
	}
}

func TestFilters(t *testing.T) {
	l, _ := New(Config{Filters: Filters{StatusCodes: []string{"404", "500-599"}, RetryAttempts: true, MinDuration: time.Second}}, nil)
	for _, c := range []struct {
		status, retries int
		d               time.Duration
		keep            bool
	}{{200, 0, 0, false}, {404, 0, 0, true}, {503, 0, 0, true}, {200, 1, 0, true}, {200, 0, 2 * time.Second, true}} {
		if got := l.Keep(c.status, c.retries, c.d); got != c.keep {
			t.Errorf("Keep(%d, %d, %v) = %v", c.status, c.retries, c.d, got)
		}
	}
}

// A full buffer drops lines instead of blocking; Run writes the rest;
// Reopen moves to a new file (logrotate).
func TestDropAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(Config{FilePath: path, BufferingSize: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		l.Log(record()) // no Run yet: nothing is written, the rest is dropped
	}
	if l.dropped.Load() != 3 {
		t.Fatalf("dropped %d, want 3", l.dropped.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil { // flushes the 2 pending lines to the moved file first
		t.Fatal(err)
	}
	l.Log(record())
	cancel()
	<-done
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if strings.Count(string(old), "\n") != 2 || strings.Count(string(cur), "\n") != 1 {
		t.Errorf("rotated file %q, new file %q", old, cur)
	}
}
