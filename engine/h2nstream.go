package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2nStream is a stream of the native front door: its request's
// RequestCtx, its flow control, and its request body.
type h2nStream struct {
	c   *h2nConn
	id  uint32
	ctx *fasthttp.RequestCtx
	hs  h2Stream // what forwardStd and the metrics see (h2StreamOf)

	// Guarded by c.mu.
	state       h2State
	inTable     bool // in c.streams
	handlerRef  bool // a handler runs, or is queued to run, for it
	resetQueued bool
	ended       bool // END_STREAM (or RST_STREAM) queued: nothing more to write
	gotTrailers bool
	sendWindow  int32
	inflow      h2Inflow
	body        h2Body
	declLen     int64 // the request's Content-Length, -1 unknown
	gotLen      int64
	// needsContinue: the client sent Expect: 100-continue and waits for
	// a 100 before the body (sent at the first read, as Go does).
	needsContinue bool
	rctx          context.Context
	cancel        context.CancelFunc
	// readTimer and writeTimer are the stream's readTimeout (while it
	// has a body to read) and writeTimeout.
	readTimer, writeTimer *time.Timer

	// Set while the header block is decoded (reader only).
	method, path, scheme, authority, hostField, cl []byte
	declaredTrailers                               bool
	answer                                         int // 400 or 431: answered without the handler
	// reader is the body reader handed to the handler; the stream is
	// then not recycled (the reader may outlive it).
	reader *h2BodyReader
}

// h2Body is a request body as DATA frames deliver it.
type h2Body struct {
	buf  []byte
	off  int
	err  error // io.EOF at END_STREAM, or why the body failed
	cond sync.Cond
	open bool // the request has a body (no END_STREAM on HEADERS)
}

func (b *h2Body) fail(err error) {
	if b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
}

func (b *h2Body) push(data []byte) {
	if b.off > 0 && len(b.buf)+len(data) > cap(b.buf) {
		n := copy(b.buf, b.buf[b.off:])
		b.buf, b.off = b.buf[:n], 0
	}
	b.buf = append(b.buf, data...)
	b.cond.Signal()
}

var h2StreamPool = sync.Pool{New: func() any { return new(h2nStream) }}

// newStream prepares a stream (not yet in the table) for id.
func (c *h2nConn) newStream(id uint32) *h2nStream {
	st := h2StreamPool.Get().(*h2nStream)
	st.c, st.id = c, id
	st.body.cond.L = &c.mu
	st.declLen = -1
	ctx := ctxPool.Get().(*fasthttp.RequestCtx)
	ctx.Init2(c.nc, nil, false)
	ctx.Response.Header.SetNoDefaultContentType(true)
	st.ctx = ctx
	st.hs.n = st
	ctx.SetUserValue(h2StreamKey{}, &st.hs)
	return st
}

// release recycles st once it is out of the table and no handler holds
// it (called with c.mu held).
func (c *h2nConn) release(st *h2nStream) {
	if st.inTable || st.handlerRef || st.ctx == nil {
		return
	}
	if st.cancel != nil {
		st.cancel()
	}
	st.closeBody()
	if st.reader != nil {
		st.reader.released.Store(true) // Request.Reset closes it: not under c.mu again
	}
	ctx := st.ctx
	ctx.ResetUserValues()
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctxPool.Put(ctx)
	if st.reader != nil {
		// Its body reader may outlive it (net/http's transport can still
		// be sending the body): the reader keeps this stream, closed.
		st.ctx = nil
		return
	}
	buf := st.body.buf
	if cap(buf) > 64<<10 {
		buf = nil
	}
	*st = h2nStream{method: st.method[:0], path: st.path[:0], scheme: st.scheme[:0],
		authority: st.authority[:0], hostField: st.hostField[:0], cl: st.cl[:0]}
	st.body.buf = buf[:0]
	h2StreamPool.Put(st)
}

// h2Mode is what a header block is decoded for.
type h2Mode uint8

const (
	h2NewRequest h2Mode = iota
	h2TrailerBlock
	h2Discard
)

// h2Block is the state of the header block being decoded, with the
// checks of Go's Framer (readMetaFrame, checkPseudos) and server.
type h2Block struct {
	mode                  h2Mode
	st                    *h2nStream
	remain, trailerRemain uint32
	sawRegular            bool
	invalid               bool // a field name or value that is not allowed: PROTOCOL_ERROR
	truncated             bool // over the header-list budget: 431
	pseudoErr             bool
	pseudos               uint8
	hasHost               bool
	connSpecific          bool
	teCount               int
	badTE                 bool
	trailerBad            bool
	declared              bool // trailers of a request that announced some (Go then checks their names)
}

const (
	pseudoMethod = 1 << iota
	pseudoPath
	pseudoScheme
	pseudoAuthority
	pseudoProtocol
	pseudoStatus
)

// readHeaderBlock decodes the header block that f opens, reading its
// CONTINUATION frames, for mode. Go's bounds apply: a field past the
// header-list budget truncates the list (431), and a fragment larger than
// twice what is left of it, or any CONTINUATION after an invalid field,
// is a connection error.
func (c *h2nConn) readHeaderBlock(f *http2.HeadersFrame, st *h2nStream, mode h2Mode, declared bool) (truncated bool, err error) {
	b := &c.blk
	max := c.srv.cfg.maxHeaderList
	*b = h2Block{mode: mode, st: st, remain: max, trailerRemain: max, declared: declared}
	c.hdec.SetEmitEnabled(true)
	defer func() { b.st = nil }()
	frag, ended := f.HeaderBlockFragment(), f.HeadersEnded()
	for {
		if int64(len(frag)) > 2*(int64(b.remain)+int64(b.trailerRemain)) || b.invalid {
			return false, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := c.hdec.Write(frag); err != nil {
			return false, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if ended {
			break
		}
		next, err := c.fr.ReadFrame()
		if err != nil {
			return false, err
		}
		cf := next.(*http2.ContinuationFrame) // the Framer checks the order
		frag, ended = cf.HeaderBlockFragment(), cf.HeadersEnded()
	}
	if err := c.hdec.Close(); err != nil {
		return false, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if b.invalid || b.pseudoErr ||
		b.pseudos&pseudoStatus != 0 && b.pseudos&^pseudoStatus != 0 {
		return false, http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
	}
	return b.truncated, nil
}

// onField takes one decoded field of the block.
func (c *h2nConn) onField(hf hpack.HeaderField) {
	b := &c.blk
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		b.invalid = true
	}
	pseudo := len(hf.Name) > 0 && hf.Name[0] == ':'
	if pseudo {
		if b.sawRegular {
			b.invalid = true
		}
	} else {
		b.sawRegular = true
		if !validH2FieldName(hf.Name) {
			b.invalid = true
		}
	}
	if b.invalid {
		c.hdec.SetEmitEnabled(false)
		return
	}
	remain, size := &b.remain, hf.Size()
	if hf.Name == "trailer" {
		n := uint32(strings.Count(hf.Value, ",") + 1)
		remain, size = &b.trailerRemain, uint32(len(hf.Value))-n+1+n*32
	}
	if size > *remain {
		c.hdec.SetEmitEnabled(false)
		b.truncated = true
		b.remain, b.trailerRemain = 0, 0
		return
	}
	*remain -= size
	if pseudo {
		var bit uint8
		switch hf.Name {
		case ":method":
			bit = pseudoMethod
		case ":path":
			bit = pseudoPath
		case ":scheme":
			bit = pseudoScheme
		case ":authority":
			bit = pseudoAuthority
		case ":protocol":
			bit = pseudoProtocol
		case ":status":
			bit = pseudoStatus
		default:
			b.pseudoErr = true
			return
		}
		if b.pseudos&bit != 0 {
			b.pseudoErr = true
		}
		b.pseudos |= bit
		if b.mode == h2NewRequest {
			st := b.st
			switch bit {
			case pseudoMethod:
				st.method = append(st.method[:0], hf.Value...)
			case pseudoPath:
				st.path = append(st.path[:0], hf.Value...)
			case pseudoScheme:
				st.scheme = append(st.scheme[:0], hf.Value...)
			case pseudoAuthority:
				st.authority = append(st.authority[:0], hf.Value...)
			}
		}
		return
	}
	switch b.mode {
	case h2Discard:
		return
	case h2TrailerBlock:
		if b.declared && !httpguts.ValidTrailerHeader(http.CanonicalHeaderKey(hf.Name)) {
			b.trailerBad = true
		}
		return
	}
	st := b.st
	h := &st.ctx.Request.Header
	switch hf.Name {
	case "host":
		if !b.hasHost { // :authority's fallback, as net/http's Header.Get
			b.hasHost = true
			st.hostField = append(st.hostField[:0], hf.Value...)
		}
		return
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		b.connSpecific = true
		return
	case "te":
		b.teCount++
		if hf.Value != "trailers" && hf.Value != "" || b.teCount > 1 {
			b.badTE = true
		}
	case "trailer":
		st.declaredTrailers = true // net/http moves it to Request.Trailer
		return
	case "expect":
		if hasToken(hf.Value, "100-continue") {
			st.needsContinue = true
		}
	case "content-length":
		if len(st.cl) == 0 {
			st.cl = append(st.cl, hf.Value...)
		}
	}
	h.AddBytesKV(h2s2b(hf.Name), h2s2b(hf.Value))
}

// validH2FieldName is Go's validWireHeaderFieldName: a token, lower case.
func validH2FieldName(v string) bool {
	if len(v) == 0 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !httpguts.IsTokenRune(rune(c)) || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token
// (case-insensitively), as httpguts.HeaderValuesContainsToken.
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// processHeaders is Go's processHeaders: a new stream, or trailers.
func (c *h2nConn) processHeaders(f *http2.HeadersFrame) error {
	id := f.StreamID
	c.mu.Lock()
	existing := c.streams[id]
	declared := existing != nil && existing.declaredTrailers
	c.mu.Unlock()
	var st *h2nStream
	var truncated bool
	var err error
	if existing != nil {
		// Not existing itself: its handler may end it meanwhile.
		_, err = c.readHeaderBlock(f, nil, h2TrailerBlock, declared)
	} else {
		st = c.newStream(id)
		truncated, err = c.readHeaderBlock(f, st, h2NewRequest, false)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.discard(st)
		return err
	}
	if id%2 != 1 {
		c.discard(st)
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if cur := c.streams[id]; cur != nil {
		c.discard(st)
		if cur.resetQueued {
			return nil
		}
		if cur.state == h2HalfClosedRemote {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
		}
		return c.processTrailers(cur, f)
	}
	if st == nil || id <= c.maxClientStreamID {
		c.discard(st)
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.maxClientStreamID = id
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if c.openStreams+1 > c.srv.cfg.maxStreams {
		c.discard(st)
		if c.unackedSettings == 0 {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	st.state = h2Open
	if f.StreamEnded() {
		st.state = h2HalfClosedRemote
	}
	st.inTable = true
	c.streams[id] = st
	c.openStreams++
	st.sendWindow = c.peerInitWindow
	st.inflow.avail = c.srv.cfg.streamWindow
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if !st.buildRequest(f.StreamEnded()) {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	c.startTimers(st)
	switch {
	case truncated:
		st.answer = http.StatusRequestHeaderFieldsTooLarge
	case c.blk.connSpecific || c.blk.badTE:
		// Go's server answers 400; RFC 9113 §8.2.2 makes the request
		// malformed, a stream error.
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	return c.schedule(st)
}

// startTimers arms the stream's timeouts (c.mu held). Their callbacks
// find the stream by its ID: a recycled stream is never mistaken for it.
func (c *h2nConn) startTimers(st *h2nStream) {
	cfg := &c.srv.cfg
	id := st.id
	if cfg.readTimeout > 0 && st.state == h2Open {
		st.readTimer = time.AfterFunc(cfg.readTimeout, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.streams[id] == st {
				st.body.fail(errH2ReadTimeout)
			}
		})
	}
	if cfg.writeTimeout > 0 {
		st.writeTimer = time.AfterFunc(cfg.writeTimeout, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.streams[id] == st && !st.ended {
				st.ended = true
				c.resetStream(http2.StreamError{StreamID: id, Code: http2.ErrCodeInternal})
			}
		})
	}
}

var errH2ReadTimeout = fmt.Errorf("http2: request body: %w", os.ErrDeadlineExceeded)

// discard recycles a stream decoded but never opened.
func (c *h2nConn) discard(st *h2nStream) {
	if st != nil && !st.inTable {
		c.release(st)
	}
}

func (c *h2nConn) processTrailers(st *h2nStream, f *http2.HeadersFrame) error {
	if st.gotTrailers {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st.gotTrailers = true
	if !f.StreamEnded() || c.blk.pseudos != 0 || c.blk.trailerBad {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	c.endStream(st)
	return nil
}

// buildRequest fills the stream's fasthttp request from the decoded
// fields, as net/http builds its Request and h2Request copies it (the
// target and Host, then the fields); false is a malformed request
// (PROTOCOL_ERROR).
func (st *h2nStream) buildRequest(endStream bool) bool {
	b := &st.c.blk
	if b.pseudos&pseudoProtocol != 0 { // extended CONNECT, which Go's server does not enable
		return false
	}
	connect := string(st.method) == http.MethodConnect
	if connect {
		if len(st.path) > 0 || len(st.scheme) > 0 || len(st.authority) == 0 {
			return false
		}
	} else if len(st.method) == 0 || len(st.path) == 0 || string(st.scheme) != "https" && string(st.scheme) != "http" {
		return false
	}
	authority := st.authority
	if len(authority) == 0 {
		authority = st.hostField
	}
	if !connect && indexByte(authority, '@') >= 0 {
		return false
	}
	target := st.path
	if connect {
		target = authority
	} else if !validRequestURI(st.path) {
		return false
	}
	h := &st.ctx.Request.Header
	if st.needsContinue {
		h.Del("Expect") // net/http answers it, at the first read of the body
	}
	if !h2TargetOK(st.method, target, connect) {
		st.answer = http.StatusBadRequest
		return true
	}
	h.SetMethodBytes(st.method)
	h.SetRequestURIBytes(target)
	h.SetHostBytes(authority)
	if endStream {
		st.declLen = 0
		st.needsContinue = false
		return true
	}
	st.body.open = true
	st.declLen = -1
	if len(st.cl) > 0 {
		n, err := strconv.ParseUint(h2b2s(st.cl), 10, 63)
		if err != nil {
			n = 0
		}
		st.declLen = int64(n)
	}
	if st.declLen != 0 {
		st.reader = &h2BodyReader{st: st}
		st.ctx.Request.SetBodyStream(st.reader, int(st.declLen))
	}
	return true
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// h2TargetOK is h2Target for the native front door.
func h2TargetOK(method, target []byte, connect bool) bool {
	switch {
	case connect:
		return true
	case string(target) == "*":
		return string(method) == http.MethodOptions
	}
	return len(target) > 0 && target[0] == '/'
}

// validRequestURI tells whether url.ParseRequestURI accepts the :path
// (net/http resets the stream otherwise), without parsing the common
// case: an origin-form path without escapes or control bytes.
func validRequestURI(p []byte) bool {
	if len(p) > 0 && p[0] == '/' {
		simple, inPath := true, true
		for _, c := range p {
			switch {
			case c < ' ' || c == 0x7f:
				simple = false
			case c == '?':
				inPath = false
			case c == '%' && inPath:
				simple = false
			}
		}
		if simple {
			return true
		}
	}
	_, err := url.ParseRequestURI(string(p))
	return err == nil
}

// schedule runs st's handler, or queues it while the connection already
// runs maxConcurrentStreams handlers (reset streams count until their
// handler returns); past 4× that many waiting, the client is resetting
// streams faster than handlers finish: ENHANCE_YOUR_CALM (Go's rapid
// reset bound, CVE-2023-44487).
func (c *h2nConn) schedule(st *h2nStream) error {
	max := c.srv.cfg.maxStreams
	if c.curHandlers < max {
		c.curHandlers++
		st.handlerRef = true
		c.srv.workers.run(st)
		return nil
	}
	if len(c.unstarted) > int(4*max) {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	st.handlerRef = true
	c.unstarted = append(c.unstarted, st)
	return nil
}

// handlerDone starts the queued handlers that now fit (c.mu held).
func (c *h2nConn) handlerDone() {
	c.curHandlers--
	i := 0
	for ; i < len(c.unstarted); i++ {
		u := c.unstarted[i]
		if !u.inTable { // reset before its handler started
			c.unstarted[i] = nil
			u.closeBody()
			u.handlerRef = false
			c.release(u)
			continue
		}
		if c.curHandlers >= c.srv.cfg.maxStreams {
			break
		}
		c.unstarted[i] = nil
		c.curHandlers++
		c.srv.workers.run(u)
	}
	c.unstarted = c.unstarted[i:]
	if len(c.unstarted) == 0 {
		c.unstarted = nil
	}
}

// serve runs in a worker: the handler, then the answer.
func (st *h2nStream) serve() {
	defer st.finish()
	defer func() {
		if p := recover(); p != nil {
			st.c.srv.log.Error("panic writing an HTTP/2 response", "panic", p)
			st.reset(http2.ErrCodeInternal)
		}
	}()
	switch st.answer {
	case http.StatusBadRequest:
		st.writeFixed(http.StatusBadRequest, "", nil)
	case http.StatusRequestHeaderFieldsTooLarge:
		st.writeFixed(http.StatusRequestHeaderFieldsTooLarge, "text/html; charset=utf-8", body431)
	default:
		ctx := st.ctx
		st.c.srv.handler(ctx)
		if ctx.Hijacked() { // an upgrade, which HTTP/2 does not carry
			st.reset(http2.ErrCodeInternal)
			return
		}
		if !st.hs.done {
			st.writeResponse(&ctx.Response, ctx.Request.Header.IsHead())
		}
	}
}

// body431 is net/http's answer to a header list over its budget.
var body431 = []byte("<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>")

// finish ends the handler's hold on st: the request body is closed (its
// unread bytes' connection credit returned) and the next queued handler
// may start.
func (st *h2nStream) finish() {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st.closeBody()
	if st.inTable && !st.ended {
		c.resetStream(http2.StreamError{StreamID: st.id, Code: http2.ErrCodeInternal})
	}
	if st.cancel != nil {
		st.cancel() // as net/http cancels the request's context when the handler returns
	}
	st.handlerRef = false
	c.handlerDone()
	c.release(st)
}

// closeBody is the handler's close of the request body (c.mu held).
func (st *h2nStream) closeBody() {
	b := &st.body
	if !b.open || b.err == errH2BodyClosed {
		return
	}
	if unread := len(b.buf) - b.off; unread > 0 {
		st.c.sendWindowUpdate(nil, unread)
	}
	b.buf, b.off = b.buf[:0], 0
	b.err = errH2BodyClosed
	b.cond.Broadcast()
}

// h2BodyReader is the request body the handler reads.
type h2BodyReader struct {
	st       *h2nStream
	released atomic.Bool
}

func (r *h2BodyReader) Read(p []byte) (int, error) {
	st := r.st
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &st.body
	if st.needsContinue {
		st.needsContinue = false
		if st.writable() == nil {
			c.encBuf.Reset()
			c.encStatus(http.StatusContinue)
			c.appendHeaderBlock(st.id, c.encBuf.Bytes(), false)
		}
	}
	for len(b.buf) == b.off && b.err == nil {
		b.cond.Wait()
	}
	if len(b.buf) == b.off {
		if b.err == errH2BodyClosed {
			return 0, http.ErrBodyReadAfterClose
		}
		return 0, b.err
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	if b.off == len(b.buf) {
		b.buf, b.off = b.buf[:0], 0
	}
	c.sendWindowUpdate(nil, n)
	if st.state == h2Open {
		c.sendWindowUpdate(st, n)
	}
	return n, nil
}

func (r *h2BodyReader) Close() error {
	if r.released.Load() {
		return nil
	}
	c := r.st.c
	c.mu.Lock()
	r.st.closeBody()
	c.mu.Unlock()
	return nil
}

// context is the stream's context for net/http's transport (forwardStd),
// cancelled when the stream ends or its handler returns.
func (st *h2nStream) context() context.Context {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.rctx == nil {
		st.rctx, st.cancel = context.WithCancel(context.Background())
		if st.state == h2Closed || c.closed {
			st.cancel()
		}
	}
	return st.rctx
}

// writable tells why nothing more can be written on st (c.mu held).
func (st *h2nStream) writable() error {
	switch {
	case st.c.closed:
		return errH2ClientGone
	case st.ended || st.state == h2Closed:
		return errH2StreamClosed
	}
	return nil
}

// ended is called once END_STREAM is queued (c.mu held): the stream
// closes, and a client still sending its body is told to stop
// (RST_STREAM NO_ERROR, RFC 9113 §8.1).
func (st *h2nStream) endQueued() {
	st.ended = true
	c := st.c
	switch st.state {
	case h2HalfClosedRemote:
		c.closeStream(st, errH2StreamClosed)
	case h2Open:
		c.resetStream(http2.StreamError{StreamID: st.id, Code: http2.ErrCodeNo})
	}
}

// reset abandons the stream with code.
func (st *h2nStream) reset(code http2.ErrCode) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.writable() != nil {
		return
	}
	st.ended = true
	c.resetStream(http2.StreamError{StreamID: st.id, Code: code})
}

// writeData sends p as DATA frames within the flow-control windows and
// the client's frame size, waiting for window (and for the writer when
// the connection has much queued).
func (st *h2nStream) writeData(p []byte, end bool) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if err := st.writable(); err != nil {
			return err
		}
		if len(p) == 0 {
			if end {
				c.wbuf = appendFrameHeader(c.wbuf, 0, http2.FrameData, http2.FlagDataEndStream, st.id)
				c.kick()
				st.endQueued()
			}
			return nil
		}
		avail := min(st.sendWindow, c.sendWindow)
		if avail <= 0 || len(c.wbuf) >= h2MaxBuffered {
			c.waiters++
			c.cond.Wait()
			c.waiters--
			continue
		}
		n := min(len(p), int(avail), int(c.peerMaxFrame))
		last := end && n == len(p)
		var flags http2.Flags
		if last {
			flags = http2.FlagDataEndStream
		}
		c.wbuf = appendFrameHeader(c.wbuf, n, http2.FrameData, flags, st.id)
		c.wbuf = append(c.wbuf, p[:n]...)
		st.sendWindow -= int32(n)
		c.sendWindow -= int32(n)
		p = p[n:]
		c.kick()
		if last {
			st.endQueued()
			return nil
		}
	}
}

// Response header encoding (c.mu held).

var h2StatusText = func() (t [1000]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func (c *h2nConn) encStatus(code int) {
	s := "200"
	if code >= 100 && code < len(h2StatusText) {
		s = h2StatusText[code]
	} else if code != 200 {
		s = strconv.Itoa(code)
	}
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: s})
}

func (c *h2nConn) encKV(name, value string) {
	c.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// encField encodes a response field given as fasthttp or net/http
// spells it, skipping what Go's encodeHeaders skips (names that are not
// tokens once lower-cased, values with bytes a field may not hold).
func (c *h2nConn) encField(name, value []byte) {
	n, ok := c.lowerName(name)
	if !ok || !httpguts.ValidHeaderFieldValue(h2b2s(value)) {
		return
	}
	c.enc.WriteField(hpack.HeaderField{Name: n, Value: c.intern(value)})
}

// h2CommonNames are lower-case field names by canonical name.
var h2CommonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Accept-Ranges", "Age", "Cache-Control", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type",
		"Date", "Etag", "ETag", "Expires", "Last-Modified", "Link", "Location", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Trailer", "Vary", "Via", "Www-Authenticate", "WWW-Authenticate", "X-Content-Type-Options", "X-Frame-Options",
		"X-Request-Id", "X-Xss-Protection", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
		"Access-Control-Expose-Headers", "Grpc-Status", "Grpc-Message", "Grpc-Encoding", "Grpc-Accept-Encoding", "Alt-Svc", "Retry-After"} {
		m[n] = strings.ToLower(n)
	}
	return m
}()

// lowerName is name in lower case, cached per connection; false for a
// name HTTP/2 cannot carry.
func (c *h2nConn) lowerName(name []byte) (string, bool) {
	if s, ok := h2CommonNames[string(name)]; ok {
		return s, true
	}
	if s, ok := c.names[string(name)]; ok {
		return s, s != ""
	}
	lower := make([]byte, len(name))
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		lower[i] = ch
	}
	s := string(lower)
	if !validH2FieldName(s) {
		s = ""
	}
	if c.names == nil || len(c.names) >= 256 {
		c.names = map[string]string{}
	}
	c.names[string(name)] = s
	return s, s != ""
}

// intern returns v as a string the encoder may keep in its table, the
// same string for the same value while the connection's cache holds it.
func (c *h2nConn) intern(v []byte) string {
	if len(v) > 256 {
		return string(v)
	}
	if s, ok := c.vals[string(v)]; ok {
		return s
	}
	s := string(v)
	if c.vals == nil || len(c.vals) >= 256 {
		c.vals = map[string]string{}
	}
	c.vals[s] = s
	return s
}

// h2Date is the Date field value, formatted once a second.
func h2Date() string {
	now := time.Now()
	sec := now.Unix()
	if d := h2DateCache.Load(); d != nil && d.sec == sec {
		return d.s
	}
	d := &h2DateValue{sec: sec, s: now.UTC().Format(http.TimeFormat)}
	h2DateCache.Store(d)
	return d.s
}

type h2DateValue struct {
	sec int64
	s   string
}

var h2DateCache atomic.Pointer[h2DateValue]

func h2b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
func h2s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func eqFold(b []byte, s string) bool { return asciiEqualFold(b, s) }

// h2ForbiddenName tells the connection-specific fields HTTP/2 does not
// carry (h2Forbidden, in any case).
func h2ForbiddenName(k []byte) bool {
	switch len(k) {
	case 7:
		return eqFold(k, "Upgrade")
	case 10:
		return eqFold(k, "Connection") || eqFold(k, "Keep-Alive")
	case 16:
		return eqFold(k, "Proxy-Connection")
	case 17:
		return eqFold(k, "Transfer-Encoding")
	}
	return false
}

// nominatedBy tells whether the comma-separated list holds name.
func nominatedBy(list []byte, name []byte) bool {
	for tok := range splitComma(list) {
		if len(tok) > 0 && asciiEqualFold(tok, h2b2s(name)) {
			return true
		}
	}
	return false
}

// writeResponse sends the fasthttp response on the stream, framed as
// writeH2Response frames it through net/http (Content-Length, HEAD, 1xx,
// 204 and 304, trailers, a truncated upstream body reset).
func (st *h2nStream) writeResponse(resp *fasthttp.Response, head bool) {
	c := st.c
	h := &resp.Header
	status := resp.StatusCode()
	stream := resp.IsBodyStream()
	if stream {
		defer resp.CloseBodyStream()
	}
	var nominated []byte
	for k, v := range h.All() {
		if eqFold(k, "Connection") {
			nominated = append(append(nominated, v...), ',')
		}
	}
	noBody := head || status < 200 || status == http.StatusNoContent || status == http.StatusNotModified
	var body []byte
	if !stream {
		body = resp.Body()
	}
	clValue, dropCL := -1, false
	if !stream && (!noBody || len(body) > 0) {
		clValue, dropCL = len(body), true
	}
	if status < 200 || status == http.StatusNoContent {
		clValue, dropCL = -1, true
	}
	// header encodes the response header block.
	header := func(code int, withDate bool) {
		c.encBuf.Reset()
		c.encStatus(code)
		hasDate := false
		for k, v := range h.All() {
			if h2ForbiddenName(k) || dropCL && eqFold(k, "Content-Length") || len(nominated) > 0 && nominatedBy(nominated, k) {
				continue
			}
			if eqFold(k, "Date") {
				hasDate = true
			}
			c.encField(k, v)
		}
		if clValue >= 0 {
			c.encKV("content-length", c.intern(strconv.AppendInt(c.scratch[:0], int64(clValue), 10)))
		}
		if withDate && !hasDate {
			c.encKV("date", h2Date())
		}
	}
	if status < 200 {
		// As net/http: an informational answer, then a final 200 without
		// a body (the handler wrote nothing more).
		c.mu.Lock()
		defer c.mu.Unlock()
		if st.writable() != nil {
			return
		}
		header(status, false)
		c.appendHeaderBlock(st.id, c.encBuf.Bytes(), false)
		clValue = 0
		header(http.StatusOK, true)
		c.appendHeaderBlock(st.id, c.encBuf.Bytes(), true)
		st.endQueued()
		return
	}
	trailers := 0
	if !stream && !head {
		trailers = countTrailers(h.TrailerHeader())
	}
	if !stream || noBody {
		endOnHeaders := head || trailers == 0 && (len(body) == 0 || noBody)
		if !st.sendHeaders(func() { header(status, true) }, endOnHeaders) || endOnHeaders {
			return
		}
		if !noBody && len(body) > 0 && st.writeData(body, trailers == 0) != nil {
			return
		}
		if trailers > 0 || noBody {
			st.writeTrailers(h.TrailerHeader())
		}
		return
	}
	// A streamed body: each read goes out as it comes (a gRPC message
	// or an event must not wait), the writer batching what streams
	// queue together. As net/http, the header waits for the first
	// bytes: a body that ends at once ends on the header (a gRPC
	// trailers-only answer stays one).
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	bs := resp.BodyStream()
	sent := false
	for {
		n, err := bs.Read(buf)
		if n > 0 {
			if !sent {
				if !st.sendHeaders(func() { header(status, true) }, false) {
					return
				}
				sent = true
			}
			if st.writeData(buf[:n], false) != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// Ending the stream would pass the truncated body off as
			// complete.
			st.reset(http2.ErrCodeInternal)
			return
		}
	}
	t := h.TrailerHeader()
	if !sent {
		end := countTrailers(t) == 0
		if !st.sendHeaders(func() { header(status, true) }, end) || end {
			return
		}
	}
	st.writeTrailers(t)
}

// sendHeaders queues the header block enc encodes, ending the stream
// with it when end is set; false when the stream can take nothing more.
func (st *h2nStream) sendHeaders(enc func(), end bool) bool {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.writable() != nil {
		return false
	}
	enc()
	c.appendHeaderBlock(st.id, c.encBuf.Bytes(), end)
	if end {
		st.endQueued()
	}
	return true
}

// countTrailers counts the lines of a fasthttp trailer section that
// name fields allowed in trailers.
func countTrailers(t []byte) int {
	n := 0
	for k := range trailerLines(t) {
		if validTrailerName(k) {
			n++
		}
	}
	return n
}

func validTrailerName(k []byte) bool {
	return httpguts.ValidTrailerHeader(http.CanonicalHeaderKey(string(k)))
}

// trailerLines yields the names and values of "Name: value\r\n" lines.
func trailerLines(t []byte) func(func(k, v []byte) bool) {
	return func(yield func(k, v []byte) bool) {
		for len(t) > 0 {
			i := indexCRLF(t)
			if i <= 0 {
				return
			}
			line := t[:i]
			t = t[i+2:]
			if j := indexColonSpace(line); j > 0 && !yield(line[:j], line[j+2:]) {
				return
			}
		}
	}
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

func indexColonSpace(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == ':' && b[i+1] == ' ' {
			return i
		}
	}
	return -1
}

// writeTrailers ends the stream with the trailer section t (fasthttp's
// lines), or with an empty DATA frame when it has no field to send.
func (st *h2nStream) writeTrailers(t []byte) {
	if countTrailers(t) == 0 {
		st.writeData(nil, true)
		return
	}
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.writable() != nil {
		return
	}
	c.encBuf.Reset()
	for k, v := range trailerLines(t) {
		if validTrailerName(k) {
			c.encField(k, v)
		}
	}
	c.appendHeaderBlock(st.id, c.encBuf.Bytes(), true)
	st.endQueued()
}

// writeFixed answers with status and body, as net/http's own answers.
func (st *h2nStream) writeFixed(status int, contentType string, body []byte) {
	c := st.c
	c.mu.Lock()
	if st.writable() != nil {
		c.mu.Unlock()
		return
	}
	c.encBuf.Reset()
	c.encStatus(status)
	if contentType != "" {
		c.encKV("content-type", contentType)
	}
	c.encKV("content-length", strconv.Itoa(len(body)))
	c.encKV("date", h2Date())
	c.appendHeaderBlock(st.id, c.encBuf.Bytes(), len(body) == 0)
	if len(body) == 0 {
		st.endQueued()
	}
	c.mu.Unlock()
	if len(body) > 0 {
		st.writeData(body, true)
	}
}

// relay writes an upstream answer read with net/http (forwardStd) to the
// stream: headers, the body as it is read, then the trailers.
func (st *h2nStream) relay(resp *http.Response) {
	defer resp.Body.Close()
	c := st.c
	hs := &st.hs
	hs.done = true
	hs.status = resp.StatusCode
	head := st.ctx.Request.Header.IsHead()
	noBody := head || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	header := func() {
		c.encBuf.Reset()
		c.encStatus(resp.StatusCode)
		for k, vs := range resp.Header {
			if h2Forbidden[k] {
				continue
			}
			for _, v := range vs {
				c.encField(h2s2b(k), h2s2b(v))
			}
		}
		if _, ok := resp.Header["Date"]; !ok {
			c.encKV("date", h2Date())
		}
	}
	g := resp.Header.Get("Grpc-Status")
	defer func() {
		if g == "" {
			g = resp.Trailer.Get("Grpc-Status")
		}
		hs.grpcStatus = append(hs.grpcStatus[:0], g...)
	}()
	if noBody {
		st.sendHeaders(header, true)
		return
	}
	// The header waits for the first bytes, as on net/http: an answer
	// whose body ends at once (gRPC's trailers-only) ends on it.
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	sent := false
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if !sent {
				if !st.sendHeaders(header, false) {
					return
				}
				sent = true
			}
			if st.writeData(buf[:n], false) != nil {
				return
			}
			hs.bytes += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			st.reset(http2.ErrCodeInternal)
			return
		}
	}
	if !sent {
		end := relayTrailerCount(resp.Trailer) == 0
		if !st.sendHeaders(header, end) || end {
			return
		}
	}
	st.relayTrailers(resp.Trailer)
}

func relayTrailerCount(t http.Header) int {
	n := 0
	for k, vs := range t {
		if httpguts.ValidTrailerHeader(k) {
			n += len(vs)
		}
	}
	return n
}

func (st *h2nStream) relayTrailers(t http.Header) {
	if relayTrailerCount(t) == 0 {
		st.writeData(nil, true)
		return
	}
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.writable() != nil {
		return
	}
	c.encBuf.Reset()
	for k, vs := range t {
		if !httpguts.ValidTrailerHeader(k) {
			continue
		}
		for _, v := range vs {
			c.encField(h2s2b(k), h2s2b(v))
		}
	}
	c.appendHeaderBlock(st.id, c.encBuf.Bytes(), true)
	st.endQueued()
}
