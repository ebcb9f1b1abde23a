package middleware

import (
	"errors"
	"io"
	"reflect"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// closeBodyStream closes a body stream as fasthttp does (Close and/or
// CloseWithError).
func closeBodyStream(r io.Reader, err error) error {
	var cerr error
	if c, ok := r.(io.Closer); ok {
		cerr = c.Close()
	}
	if c, ok := r.(fasthttp.ReadCloserWithError); ok {
		if e := c.CloseWithError(err); cerr == nil {
			cerr = e
		}
	}
	return cerr
}

// takeBodyStream removes the body stream from resp without closing it,
// so that the compressing body can read it. fasthttp has no API for that
// (SetBodyStream closes the stream it replaces), so this writes the
// unexported field, found by name and type when the package starts; when
// fasthttp's Response changes, errBodyStreamField makes the compress
// middleware fail to build, with this message, instead of misbehaving.
func takeBodyStream(resp *fasthttp.Response) io.Reader {
	p := (*io.Reader)(unsafe.Add(unsafe.Pointer(resp), bodyStreamOffset))
	r := *p
	*p = nil
	return r
}

// CloseBodyStream is closeBodyStream for the engine, which takes over
// streams too (metrics, HTTP/1.0 until close).
func CloseBodyStream(r io.Reader, err error) error { return closeBodyStream(r, err) }

// TakeResponseBodyStream is takeBodyStream for the engine, which writes
// an HTTP/1.0 client's body of unknown length itself (until close).
func TakeResponseBodyStream(resp *fasthttp.Response) (io.Reader, error) {
	if errBodyStreamField != nil {
		return nil, errBodyStreamField
	}
	return takeBodyStream(resp), nil
}

// takeRequestBodyStream is takeBodyStream for a request: grpcWeb wraps
// the client's body (an HTTP/2 body is an io.Closer that
// Request.SetBodyStream would close).
func takeRequestBodyStream(req *fasthttp.Request) io.Reader {
	p := (*io.Reader)(unsafe.Add(unsafe.Pointer(req), reqBodyStreamOffset))
	r := *p
	*p = nil
	return r
}

var (
	bodyStreamOffset, errBodyStreamField       = streamField[fasthttp.Response]()
	reqBodyStreamOffset, errReqBodyStreamField = streamField[fasthttp.Request]()
)

// streamField finds T's bodyStream field.
func streamField[T any]() (uintptr, error) {
	t := reflect.TypeFor[T]()
	f, ok := t.FieldByName("bodyStream")
	if !ok || f.Type != reflect.TypeFor[io.Reader]() {
		return 0, errors.New("this fasthttp version's " + t.Name() + " has no bodyStream io.Reader field: " +
			"a middleware cannot take over a streamed body (engine/middleware/bodystream.go)")
	}
	return f.Offset, nil
}
