package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rssFileKB reads RssFile (file-backed resident pages) of this process.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// The test binary maps itself as the proxy does: paging its read-only
// mappings out drops most of its file-backed resident pages, and the
// process goes on running (the pages come back on touch).
func TestPageOutBinary(t *testing.T) {
	before := rssFileKB(t)
	n, err := pageOutBinary()
	if errors.Is(err, unix.EINVAL) {
		t.Skip("MADV_PAGEOUT needs Linux 5.4:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("mapped %d KiB of read-only binary; RssFile %d KiB -> %d KiB", n>>10, before, after)
	if n == 0 {
		t.Fatal("no read-only mapping of the executable found in /proc/self/maps")
	}
	if after > before/2 {
		t.Fatalf("RssFile %d KiB -> %d KiB: the pages were not released", before, after)
	}
	// Code paged out runs again.
	if got := strconv.Itoa(12345); got != "12345" {
		t.Fatal(got)
	}
}
