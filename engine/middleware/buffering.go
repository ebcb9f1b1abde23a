package middleware

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// bufferingConfig is Traefik's buffering middleware (vulcand/oxy's
// buffer): the request body is read in full before it is forwarded and
// the response body before the client gets it, each within its limits,
// kept in memory up to a threshold and in a temporary file beyond it.
type bufferingConfig struct {
	MaxRequestBodyBytes  int64  `json:"maxRequestBodyBytes,omitempty"`
	MemRequestBodyBytes  int64  `json:"memRequestBodyBytes,omitempty"`
	MaxResponseBodyBytes int64  `json:"maxResponseBodyBytes,omitempty"`
	MemResponseBodyBytes int64  `json:"memResponseBodyBytes,omitempty"`
	RetryExpression      string `json:"retryExpression,omitempty"`
}

const (
	// bufferingDefaultMem is oxy's threshold when none is set (1 MiB).
	bufferingDefaultMem = 1 << 20
	// bufferingMaxRetries is oxy's DefaultMaxRetryAttempts: past it the
	// expression is no longer asked.
	bufferingMaxRetries = 10
)

type buffering struct {
	maxReq, memReq   int64 // maxReq < 0: no limit
	maxResp, memResp int64
	retry            *retryPred // nil: no replay
}

func newBuffering(c *bufferingConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	// oxy's option checks, in Traefik's order and with oxy's messages.
	for _, o := range []struct {
		name, what string
		v          int64
	}{
		{"memRequestBodyBytes", "mem", c.MemRequestBodyBytes},
		{"maxRequestBodyBytes", "max", c.MaxRequestBodyBytes},
		{"memResponseBodyBytes", "mem", c.MemResponseBodyBytes},
		{"maxResponseBodyBytes", "max", c.MaxResponseBodyBytes},
	} {
		if o.v < 0 {
			return nil, fmt.Errorf("%s: %s bytes should be >= 0 got %d", o.name, o.what, o.v)
		}
	}
	b := &buffering{maxReq: -1, memReq: bufferingDefaultMem, maxResp: -1, memResp: bufferingDefaultMem}
	// 0 is "no limit" for the maxima and oxy's default for the thresholds.
	if c.MaxRequestBodyBytes > 0 {
		b.maxReq = c.MaxRequestBodyBytes
	}
	if c.MemRequestBodyBytes > 0 {
		b.memReq = c.MemRequestBodyBytes
	}
	if b.maxReq > 0 && b.maxReq < b.memReq {
		b.memReq = b.maxReq // multibuf: never more in memory than allowed at all
	}
	if c.MaxResponseBodyBytes > 0 {
		b.maxResp = c.MaxResponseBodyBytes
	}
	if c.MemResponseBodyBytes > 0 {
		b.memResp = c.MemResponseBodyBytes
	}
	if c.RetryExpression != "" {
		p, err := parseRetryExpression(c.RetryExpression)
		if err != nil {
			return nil, fmt.Errorf("retryExpression %q: %w", c.RetryExpression, err)
		}
		b.retry = p
	}
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { b.serve(ctx, r, next) }
	}, nil
}

func (b *buffering) serve(ctx *fasthttp.RequestCtx, r *Request, next Handler) {
	req := &ctx.Request
	if b.maxReq > 0 && int64(req.Header.ContentLength()) > b.maxReq {
		bufferingError(ctx, errTooLarge) // refused before reading it
		return
	}
	var body spool
	spooled := req.IsBodyStream()
	if spooled {
		if err := body.fill(req.BodyStream(), b.memReq, b.maxReq, req.Header.ContentLength()); err != nil {
			body.close()
			bufferingError(ctx, err)
			return
		}
		defer func() {
			// What is left of the body after the attempts is what
			// Traefik's next handler would find: nothing.
			req.ResetBody()
			body.close()
		}()
	} else if b.maxReq > 0 && int64(len(req.Body())) > b.maxReq {
		bufferingError(ctx, errTooLarge)
		return
	}
	head := req.Header.IsHead()
	var st *requestState
	if b.retry != nil {
		st = requestStates.Get().(*requestState)
		defer st.release()
		st.save(ctx, r)
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			ctx.Response.Reset()
			st.restore(ctx, r)
			r.Attempt++
		}
		if spooled {
			if body.size == 0 {
				req.ResetBody()
				req.Header.SetContentLength(0)
			} else {
				// Sent with its length, as oxy does (a chunked body
				// arrives upstream with a Content-Length).
				req.SetBodyStream(body.reader(), int(body.size))
			}
		}
		r.UpstreamErr = nil
		r.ChangesResponse = true
		next(ctx, r)
		if ctx.Hijacked() {
			return // an upgrade: nothing to buffer
		}
		if !b.bufferResponse(ctx, head) {
			return
		}
		if b.retry == nil || attempt > bufferingMaxRetries ||
			!b.retry.eval(attempt, ctx.Response.StatusCode(), st.header.Method()) {
			return
		}
	}
}

// bufferResponse reads the response body in full, within the limits. It
// returns false when it answered with an error instead.
func (b *buffering) bufferResponse(ctx *fasthttp.RequestCtx, head bool) bool {
	resp := &ctx.Response
	stream := resp.IsBodyStream()
	if code := resp.StatusCode(); head || code >= 100 && code < 200 || code == fasthttp.StatusNoContent ||
		code == fasthttp.StatusNotModified {
		if stream {
			resp.ResetBody() // oxy's expectBody: no body is forwarded
		}
		return true
	}
	if g := resp.Header.Peek("Grpc-Status"); len(g) > 0 && string(g) != "0" {
		resp.ResetBody() // a gRPC error: oxy forwards no body
		return true
	}
	if !stream {
		if b.maxResp > 0 && int64(len(resp.Body())) > b.maxResp {
			bufferingError(ctx, errResponseTooLarge)
			return false
		}
		return true
	}
	s := spool{mem: getBuffer()}
	err := s.fill(resp.BodyStream(), b.memResp, b.maxResp, resp.Header.ContentLength())
	switch {
	case errors.Is(err, errTooLarge):
		s.close()
		putBuffer(s.mem)
		bufferingError(ctx, errResponseTooLarge)
		return false
	case err != nil:
		// The upstream broke off its body. Traefik's proxy aborts the
		// client connection; here the answer fails the same way once its
		// header is out.
		s.close()
		putBuffer(s.mem)
		resp.SetBodyStream(failingReader{err}, -1)
		return false
	}
	if s.file == nil {
		resp.SetBody(s.mem)
		putBuffer(s.mem)
		return true
	}
	sp := new(spool)
	*sp = s
	resp.SetBodyStream(&spooledBody{Reader: sp.reader(), s: sp}, int(sp.size))
	return true
}

// errResponseTooLarge is a response over maxResponseBodyBytes (multibuf's
// writer error, answered with 500).
var errResponseTooLarge = errors.New("response body too large")

// bufferingError answers as oxy's error handler: 413 for a request over
// its limit, else the status of the error (utils.StdHandler), each with
// the status text as its body (Content-Type as net/http sniffs it).
func bufferingError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusInternalServerError
	text := ""
	if ne, ok := err.(net.Error); ok {
		status = fasthttp.StatusBadGateway
		if ne.Timeout() {
			status = fasthttp.StatusGatewayTimeout
		}
	}
	switch {
	case errors.Is(err, errTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case status != fasthttp.StatusInternalServerError:
	case errors.Is(err, io.EOF):
		status = fasthttp.StatusBadGateway
	case errors.Is(err, context.Canceled):
		status, text = 499, "Client Closed Request"
	}
	if text == "" {
		text = fasthttp.StatusMessage(status)
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(text)
}

// failingReader is a body that fails at once.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// spooledBody is a response body spilled to a file, which fasthttp closes
// once it has sent it (or when the response is reset).
type spooledBody struct {
	io.Reader
	s *spool
}

func (b *spooledBody) Close() error {
	b.s.close()
	return nil
}

// buffers hold response bodies while they are read; one that grew past
// maxPooledBuffer is left to the collector.
var buffers sync.Pool

const maxPooledBuffer = 4 << 20

func getBuffer() []byte {
	if p, ok := buffers.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

func putBuffer(b []byte) {
	if b != nil && cap(b) <= maxPooledBuffer {
		b = b[:0]
		buffers.Put(&b)
	}
}

// retryPred is a compiled retryExpression: oxy's predicate language, a
// Go expression over its functions.
type retryPred struct {
	kind retryPredKind
	kids [2]*retryPred // and, or
	fn   string        // "Attempts", "ResponseCode" (int) or "RequestMethod" (string)
	op   token.Token   // comparison
	n    int
	s    string
}

type retryPredKind uint8

const (
	predAnd retryPredKind = iota
	predOr
	predNetworkError
	predInt
	predString
)

// eval answers the predicate after an attempt: attempt counts the
// attempts made (the first is 1), code is the answer's status, method
// the request's.
func (p *retryPred) eval(attempt, code int, method []byte) bool {
	switch p.kind {
	case predAnd:
		return p.kids[0].eval(attempt, code, method) && p.kids[1].eval(attempt, code, method)
	case predOr:
		return p.kids[0].eval(attempt, code, method) || p.kids[1].eval(attempt, code, method)
	case predNetworkError:
		// oxy's IsNetworkError: the status a proxy answers with when the
		// upstream failed.
		return code == fasthttp.StatusBadGateway || code == fasthttp.StatusGatewayTimeout
	case predString:
		return (string(method) == p.s) == (p.op == token.EQL)
	}
	v := code
	if p.fn == "Attempts" {
		v = attempt
	}
	switch p.op {
	case token.EQL:
		return v == p.n
	case token.NEQ:
		return v != p.n
	case token.LSS:
		return v < p.n
	case token.GTR:
		return v > p.n
	case token.LEQ:
		return v <= p.n
	}
	return v >= p.n // token.GEQ
}

// operand is a compiled sub-expression: a condition, a function's value,
// or a literal.
type operand struct {
	pred *retryPred
	fn   string // a value function: "Attempts", "ResponseCode", "RequestMethod"
	lit  any    // int, float64 or string
	text string // the source, for errors
}

// parseRetryExpression compiles oxy's expression language as Traefik
// documents it: Attempts(), ResponseCode() and IsNetworkError() (and
// oxy's RequestMethod()), compared with integer (or, for the method,
// string) literals by ==, !=, <, >, <= and >=, combined with && and ||
// and parentheses. Everything oxy refuses is refused here too.
func parseRetryExpression(src string) (*retryPred, error) {
	expr, err := parser.ParseExpr(src)
	if err != nil {
		return nil, fmt.Errorf("not an expression: %v", err)
	}
	o, err := compileOperand(expr, src)
	if err != nil {
		return nil, err
	}
	if o.pred == nil {
		return nil, fmt.Errorf("%s is not a condition (want e.g. IsNetworkError() && Attempts() < 2)", o.text)
	}
	return o.pred, nil
}

var retryFunctions = map[string]bool{"Attempts": true, "ResponseCode": true, "RequestMethod": true, "IsNetworkError": true}

func compileOperand(e ast.Expr, src string) (operand, error) {
	text := src
	if lo, hi := int(e.Pos())-1, int(e.End())-1; 0 <= lo && lo <= hi && hi <= len(src) {
		text = src[lo:hi]
	}
	switch n := e.(type) {
	case *ast.ParenExpr:
		return compileOperand(n.X, src)
	case *ast.BinaryExpr:
		x, err := compileOperand(n.X, src)
		if err != nil {
			return operand{}, err
		}
		y, err := compileOperand(n.Y, src)
		if err != nil {
			return operand{}, err
		}
		switch n.Op {
		case token.LAND, token.LOR:
			for _, side := range []operand{x, y} {
				if side.pred == nil {
					return operand{}, fmt.Errorf("%s: %s is not a condition", text, side.text)
				}
			}
			kind := predAnd
			if n.Op == token.LOR {
				kind = predOr
			}
			return operand{pred: &retryPred{kind: kind, kids: [2]*retryPred{x.pred, y.pred}}, text: text}, nil
		case token.EQL, token.NEQ, token.LSS, token.GTR, token.LEQ, token.GEQ:
			return compileComparison(n.Op, x, y, text)
		}
		return operand{}, fmt.Errorf("%s: operator %s is not supported (only && and || combine conditions)", text, n.Op)
	case *ast.UnaryExpr:
		return operand{}, fmt.Errorf("%s: operator %s is not supported", text, n.Op)
	case *ast.BasicLit:
		switch n.Kind {
		case token.INT:
			v, err := strconv.Atoi(n.Value)
			if err != nil {
				return operand{}, fmt.Errorf("%s: not a decimal integer", n.Value)
			}
			return operand{lit: v, text: text}, nil
		case token.FLOAT:
			v, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				return operand{}, fmt.Errorf("%s: not a number", n.Value)
			}
			return operand{lit: v, text: text}, nil
		case token.STRING:
			v, err := strconv.Unquote(n.Value)
			if err != nil {
				return operand{}, fmt.Errorf("%s: not a string", n.Value)
			}
			return operand{lit: v, text: text}, nil
		}
		return operand{}, fmt.Errorf("%s: unsupported literal", text)
	case *ast.CallExpr:
		name := ""
		switch f := n.Fun.(type) {
		case *ast.Ident:
			name = f.Name
		case *ast.SelectorExpr:
			if id, ok := f.X.(*ast.Ident); ok {
				name = id.Name + "." + f.Sel.Name
			}
		}
		if !retryFunctions[name] {
			return operand{}, fmt.Errorf("%s: unsupported function (want Attempts(), ResponseCode(), IsNetworkError() or RequestMethod())", text)
		}
		if len(n.Args) > 0 {
			return operand{}, fmt.Errorf("%s: %s() takes no arguments", text, name)
		}
		if name == "IsNetworkError" {
			return operand{pred: &retryPred{kind: predNetworkError}, text: text}, nil
		}
		return operand{fn: name, text: text}, nil
	case *ast.Ident:
		return operand{}, fmt.Errorf("%s is not defined", n.Name)
	}
	return operand{}, fmt.Errorf("%s: not supported", text)
}

func compileComparison(op token.Token, x, y operand, text string) (operand, error) {
	if x.fn == "" {
		return operand{}, fmt.Errorf("%s: the left side of %s must be Attempts(), ResponseCode() or RequestMethod(), not %s", text, op, x.text)
	}
	if x.fn == "RequestMethod" {
		if op != token.EQL && op != token.NEQ {
			return operand{}, fmt.Errorf("%s: RequestMethod() is compared with == or != only", text)
		}
		s, ok := y.lit.(string)
		if !ok {
			return operand{}, fmt.Errorf("%s: RequestMethod() is compared with a string, not %s", text, y.text)
		}
		return operand{pred: &retryPred{kind: predString, op: op, s: s}, text: text}, nil
	}
	v, ok := y.lit.(int)
	if !ok {
		return operand{}, fmt.Errorf("%s: %s() is compared with an integer, not %s", text, x.fn, y.text)
	}
	return operand{pred: &retryPred{kind: predInt, fn: x.fn, op: op, n: v}, text: text}, nil
}
