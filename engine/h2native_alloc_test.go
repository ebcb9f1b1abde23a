//go:build !race

package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp/fasthttputil"
)

// TestH2NativeAllocs is the native HTTP/2 door's allocation guard: a
// request in steady state (HPACK-indexed fields, pooled stream, request
// context and worker) allocates only the Framer's HEADERS frame, on the
// server and on the test's client (about 2.5 per request in all, measured
// process-wide; the std door makes about 50).
func TestH2NativeAllocs(t *testing.T) {
	h, _ := inmemoryEngine(t, false)
	fd := newH2Native(newEntryPoint("web"), h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln := fasthttputil.NewInmemoryListener()
	go fd.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	c, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bc := newH2BenchClient(t, c)
	for range 20 {
		bc.round(t, 10) // warm the pools and the HPACK tables
	}
	perRound := testing.AllocsPerRun(200, func() { bc.round(t, 10) })
	t.Logf("%.2f allocations per request", perRound/10)
	if perRequest := perRound / 10; perRequest > 3.5 {
		t.Errorf("%.1f allocations per request, want at most 3.5", perRequest)
	}
}
