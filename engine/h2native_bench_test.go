package engine

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp/fasthttputil"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2BenchClient is a minimal HTTP/2 client over an in-memory connection:
// it sends batches of GET streams (HPACK-indexed after the first) and
// reads frames until each has ended, so that the benchmark measures the
// front door, not a client library.
type h2BenchClient struct {
	c            net.Conn
	bw           *bufio.Writer
	fr           *http2.Framer
	first, block []byte // the first request's block, then the indexed one
	next         uint32
}

func newH2BenchClient(tb testing.TB, c net.Conn) *h2BenchClient {
	bc := &h2BenchClient{c: c, bw: bufio.NewWriterSize(c, 64<<10), next: 1}
	bc.fr = http2.NewFramer(bc.bw, bufio.NewReaderSize(c, 64<<10))
	bc.fr.SetReuseFrames()
	io.WriteString(bc.bw, http2.ClientPreface)
	bc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	bc.fr.WriteWindowUpdate(0, 1<<30)
	// As a client's encoder: literals into the table the first time,
	// indexed references to them afterwards.
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range 2 {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a.test"},
			{":path", "/api/users?id=7"}, {"user-agent", "bench"}, {"x-forwarded-for", "10.0.0.1"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if i == 0 {
			bc.first = bytes.Clone(hb.Bytes())
		}
	}
	bc.block = bytes.Clone(hb.Bytes())
	if err := bc.bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return bc
}

// round sends n streams and waits for their ends.
func (bc *h2BenchClient) round(tb testing.TB, n int) {
	for range n {
		block := bc.block
		if bc.next == 1 {
			block = bc.first
		}
		bc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: bc.next, BlockFragment: block, EndStream: true, EndHeaders: true})
		bc.next += 2
	}
	if err := bc.bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	for ended := 0; ended < n; {
		f, err := bc.fr.ReadFrame()
		if err != nil {
			tb.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				bc.fr.WriteSettingsAck()
				bc.bw.Flush()
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				ended++
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				ended++
			}
		case *http2.RSTStreamFrame:
			tb.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			tb.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
}

// BenchmarkH2FrontDoor is one request over h2c through each HTTP/2 front
// door (std: net/http's server and the adapter; native: our own) into
// the engine's handler and a stub upstream, in batches of 10 concurrent
// streams on one connection (h2load -m 10), all in memory.
func BenchmarkH2FrontDoor(b *testing.B) {
	for _, impl := range []string{"std", "native"} {
		b.Run(impl, func(b *testing.B) {
			h, _ := inmemoryEngine(b, false)
			ep := newEntryPoint("web")
			var fd h2FrontDoor
			if impl == "std" {
				fd = newH2Server(ep, h, nil)
			} else {
				fd = newH2Native(ep, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}
			ln := fasthttputil.NewInmemoryListener()
			go fd.Serve(ln)
			b.Cleanup(func() { ln.Close() })
			c, err := ln.Dial()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			bc := newH2BenchClient(b, c)
			bc.round(b, 10)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 10 {
				bc.round(b, min(10, b.N-i))
			}
		})
	}
}
