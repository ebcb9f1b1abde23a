package middleware

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
)

// The body spool of retry and buffering.

// errTooLarge is a body over its limit.
var errTooLarge = errors.New("body too large")

// spool is a body read in full: its first bytes in memory, the rest in a
// temporary file, unlinked as soon as it is created (so nothing is left
// behind even if the process dies) and closed when the body is done.
type spool struct {
	mem  []byte
	file *os.File
	name string // set only if the file could not be unlinked at once
	size int64
}

// fill reads src to its end: up to memCap bytes in memory (memCap < 0: all
// of it), the rest into the file. Past limit bytes (limit >= 0) it stops with
// errTooLarge.
// hint is the body's declared length, or negative; a body that ends
// before it is io.ErrUnexpectedEOF.
func (s *spool) fill(src io.Reader, memCap, limit int64, hint int) error {
	if hint >= 0 {
		want := int64(hint) + 1 // room to see the end without growing
		if memCap >= 0 && want > memCap {
			want = memCap
		}
		s.mem = slices.Grow(s.mem[:0], int(want))
	}
	for memCap < 0 || int64(len(s.mem)) < memCap {
		if len(s.mem) == cap(s.mem) {
			n := max(2*cap(s.mem), 4096)
			if memCap >= 0 && int64(n) > memCap {
				n = int(memCap)
			}
			s.mem = slices.Grow(s.mem, n-len(s.mem))
		}
		end := cap(s.mem)
		if memCap >= 0 && int64(end) > memCap {
			end = int(memCap)
		}
		n, err := src.Read(s.mem[len(s.mem):end])
		s.mem = s.mem[:len(s.mem)+n]
		s.size += int64(n)
		if limit >= 0 && s.size > limit {
			return errTooLarge
		}
		if err == io.EOF {
			return s.whole(hint)
		}
		if err != nil {
			return err
		}
	}
	if err := s.spill(src, limit); err != nil {
		return err
	}
	return s.whole(hint)
}

// whole checks a body that ended against its declared length: shorter is
// net/http's io.ErrUnexpectedEOF (fasthttp's request stream just ends).
func (s *spool) whole(hint int) error {
	if hint >= 0 && s.size < int64(hint) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// spill appends the rest of src to the file, creating it on the first
// byte.
func (s *spool) spill(src io.Reader, limit int64) error {
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	for {
		n, err := src.Read(*bp)
		if n > 0 {
			s.size += int64(n)
			if limit >= 0 && s.size > limit {
				return errTooLarge
			}
			if s.file == nil {
				f, ferr := os.CreateTemp("", "edgeroute-buffer-*")
				if ferr != nil {
					return ferr
				}
				if os.Remove(f.Name()) != nil {
					s.name = f.Name()
				}
				s.file = f
			}
			if _, werr := s.file.Write((*bp)[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// reader returns a new reader of the whole body. It is no io.Closer:
// fasthttp closes a request's body stream once it has written it, and
// the body may have to be sent again.
func (s *spool) reader() io.Reader {
	if s.file == nil {
		return bytes.NewReader(s.mem)
	}
	return io.MultiReader(bytes.NewReader(s.mem), io.NewSectionReader(s.file, 0, s.size-int64(len(s.mem))))
}

func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
		if s.name != "" {
			os.Remove(s.name)
		}
		s.file, s.name = nil, ""
	}
}

// chunks are the copy buffers of spill.
var chunks = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
