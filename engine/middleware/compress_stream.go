package middleware

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
)

// The compressing body: a pull-based reader that compresses the upstream
// body a read at a time, in the goroutine that writes the response (no
// pipe, no goroutine of its own), so that only one input buffer and the
// encoder's own state are held however long the body.
//
// Encoder settings. gzip is Traefik's (gzhttp's default level); brotli
// is Traefik's quality (andybalholm's default, 6) and window (22); zstd
// is Traefik's level (SpeedDefault). Two differ, for memory: zstd runs
// synchronously (concurrency 1: no goroutines per response, where
// Traefik's default is GOMAXPROCS) with a 4 MiB window instead of 8 MiB
// (about 10 MiB per encoder instead of 18; RFC 9659 caps HTTP's at 8
// MiB), and brotli is flushed every brotliFlushBytes of input, which
// bounds the input it buffers (about 11 MiB per encoder instead of up to
// 48 MiB on long bodies) for a few bytes per flush.
const (
	zstreamIn        = 32 << 10 // input read per step
	zstreamMaxOut    = 256 << 10
	zstdWindow       = 4 << 20
	brotliQuality    = 6
	brotliFlushBytes = 1 << 20
)

// zsink collects what the encoder writes.
type zsink struct{ b []byte }

func (s *zsink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// encoder is what the three writers have in common.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
}

// zstream is a response body: the upstream body, compressed (or, when
// compression was decided against after reading its start, passed on as
// is). It is pooled per encoding with its encoder. fasthttp closes it
// exactly once, with CloseWithError (it is not an io.Closer, so that
// fasthttp does not call two close methods), which closes the upstream
// body and returns the zstream to its pool.
type zstream struct {
	kind int
	enc  encoder
	gz   *gzip.Writer
	zs   *zstd.Encoder
	br   *brotli.Writer

	up        io.Reader // upstream body; nil once closed
	upErr     error     // what the upstream's last read returned
	in        []byte    // input buffer
	pre       []byte    // body read before deciding, not passed on yet
	out       zsink     // compressed, not passed on yet from off
	off       int
	compress  bool
	flushEach bool // unknown length: every read is flushed to the client
	pending   int  // input since the encoder's last flush
	done      bool // err is final
	err       error
}

var zstreamPools [numEncodings]sync.Pool

func acquireZstream(kind int) *zstream {
	if v := zstreamPools[kind].Get(); v != nil {
		return v.(*zstream)
	}
	s := &zstream{kind: kind, in: make([]byte, zstreamIn)}
	switch kind {
	case encGzip:
		s.gz, _ = gzip.NewWriterLevel(&s.out, gzip.DefaultCompression)
		s.enc = s.gz
	case encZstd:
		var err error
		s.zs, err = zstd.NewWriter(&s.out, zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
		if err != nil {
			panic(err) // constant options
		}
		s.enc = s.zs
	case encBrotli:
		var err error
		if s.br, err = brotli.NewWriter(&s.out, brotliQuality); err != nil {
			panic(err)
		}
		s.enc = s.br
	}
	return s
}

// release returns s to its pool; s must not be used again.
func (s *zstream) release() {
	s.up, s.upErr, s.pre, s.err = nil, nil, nil, nil
	s.off, s.pending = 0, 0
	s.compress, s.flushEach, s.done = false, false, false
	if cap(s.out.b) > zstreamMaxOut {
		s.out.b = nil
	}
	s.out.b = s.out.b[:0]
	zstreamPools[s.kind].Put(s)
}

// readPrefix reads the start of the body from r into s.pre: want bytes,
// or fewer at its end; with one, the first read that returns any (up to
// a whole input buffer).
func (s *zstream) readPrefix(r io.Reader, want int, one bool) {
	want = min(want, len(s.in))
	if one {
		want = len(s.in)
	}
	n := 0
	for n < want {
		m, err := r.Read(s.in[n:want])
		n += m
		if err != nil {
			s.upErr = err
			break
		}
		if one && n > 0 {
			break
		}
	}
	s.pre = s.in[:n]
}

// resetEncoder starts a new compressed stream of size input bytes
// (negative: unknown).
func (s *zstream) resetEncoder(size int) {
	s.out.b, s.off, s.pending = s.out.b[:0], 0, 0
	switch s.kind {
	case encGzip:
		s.gz.Reset(&s.out)
	case encZstd:
		s.zs.Reset(&s.out)
	case encBrotli:
		if size > 0 {
			s.br.ResetWithSizeHint(&s.out, uint(size))
		} else {
			s.br.Reset(&s.out)
		}
	}
}

// startCompress makes s the compressed form of s.pre followed by up, a
// body of size bytes (negative: unknown, then every read is flushed
// through, as Traefik's proxy flushes such bodies after every write).
func (s *zstream) startCompress(up io.Reader, size int) {
	s.up, s.compress, s.flushEach = up, true, size < 0
	s.resetEncoder(size)
}

// startPlain makes s s.pre followed by up, unchanged.
func (s *zstream) startPlain(up io.Reader) {
	s.up, s.compress = up, false
}

// compressAll compresses a whole body held in memory; the result is
// s.out.b.
func (s *zstream) compressAll(body []byte) error {
	s.resetEncoder(len(body))
	if _, err := s.enc.Write(body); err != nil {
		return err
	}
	return s.enc.Close()
}

// fill compresses the next input into s.out.
func (s *zstream) fill() {
	var p []byte
	err := s.upErr
	switch {
	case len(s.pre) > 0:
		p, s.pre = s.pre, nil
	case err == nil:
		var n int
		n, err = s.up.Read(s.in)
		p = s.in[:n]
	}
	if len(p) > 0 {
		if _, werr := s.enc.Write(p); werr != nil {
			s.finish(werr)
			return
		}
		s.pending += len(p)
		if s.flushEach || s.kind == encBrotli && s.pending >= brotliFlushBytes {
			if ferr := s.enc.Flush(); ferr != nil {
				s.finish(ferr)
				return
			}
			s.pending = 0
		}
	}
	switch {
	case err == io.EOF:
		if cerr := s.enc.Close(); cerr != nil {
			err = cerr
		}
		s.finish(err)
	case err != nil:
		s.finish(err)
	}
}

// finish ends the body with err (io.EOF: complete) and closes the
// upstream body at once, which releases its connection.
func (s *zstream) finish(err error) {
	s.done, s.err = true, err
	if s.up != nil {
		var cerr error
		if err != io.EOF {
			cerr = err
		}
		closeBodyStream(s.up, cerr)
		s.up = nil
	}
}

// Read implements io.Reader.
func (s *zstream) Read(p []byte) (int, error) {
	if !s.compress {
		return s.readPlain(p)
	}
	for s.off == len(s.out.b) {
		if s.done {
			return 0, s.err
		}
		s.out.b, s.off = s.out.b[:0], 0
		s.fill()
	}
	n := copy(p, s.out.b[s.off:])
	s.off += n
	return n, nil
}

func (s *zstream) readPlain(p []byte) (int, error) {
	switch {
	case len(s.pre) > 0:
		n := copy(p, s.pre)
		s.pre = s.pre[n:]
		return n, nil
	case s.done:
		return 0, s.err
	case s.upErr != nil:
		s.finish(s.upErr)
		return 0, s.err
	}
	n, err := s.up.Read(p)
	if err != nil {
		s.finish(err)
	}
	return n, err
}

// WriteTo writes the compressed body to w in the pieces the encoder
// produces, rather than in fasthttp's 4 KiB chunks.
func (s *zstream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if s.off < len(s.out.b) {
			n, err := w.Write(s.out.b[s.off:])
			total += int64(n)
			if err != nil {
				return total, err
			}
		}
		s.out.b, s.off = s.out.b[:0], 0
		if s.done {
			if s.err == io.EOF {
				return total, nil
			}
			return total, s.err
		}
		s.fill()
	}
}

// SupportsBodyWriteTo lets fasthttp use WriteTo (fasthttp.BodyWriterTo);
// a body passed on as is is read.
func (s *zstream) SupportsBodyWriteTo() bool { return s.compress }

// CloseWithError implements fasthttp.ReadCloserWithError: fasthttp calls
// it once, when the response is written (err is why writing stopped), or
// reset.
func (s *zstream) CloseWithError(err error) error {
	var cerr error
	if s.up != nil {
		cerr = closeBodyStream(s.up, err)
		s.up = nil
	}
	s.release()
	return cerr
}
