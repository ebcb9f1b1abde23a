package engine

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Go's server's constants (golang.org/x/net/http2/server.go).
const (
	h2PrefaceTimeout       = 10 * time.Second
	h2FirstSettingsTimeout = 2 * time.Second
	h2GoAwayTimeout        = 1 * time.Second // from GOAWAY (and the last stream) to close
	h2MaxQueuedControl     = 10000           // control frames owed to a client that does not read
	h2InitialWindow        = 65535
	h2MaxWindow            = 1<<31 - 1
	h2InflowMinRefresh     = 4 << 10
	// h2ReadBuffer buffers the reads of frames (a DATA payload larger
	// than it is read straight into the Framer's buffer).
	h2ReadBuffer = 4 << 10
	// h2MaxBuffered is how much a connection queues for the writer
	// before streams wait to add DATA (frames already queued are written
	// in one go).
	h2MaxBuffered = 256 << 10
	// h2KeepBuffer is the largest write buffer a connection with streams
	// keeps for the next round; an idle one keeps none.
	h2KeepBuffer = 32 << 10
)

var (
	errH2ClientGone   = errors.New("http2: client disconnected")
	errH2StreamClosed = errors.New("http2: stream closed")
	errH2BodyClosed   = errors.New("http2: request body closed by handler")
)

// h2GoAwayFlow is a connection-level flow control error found on a
// WINDOW_UPDATE (Go's goAwayFlowError): GOAWAY FLOW_CONTROL_ERROR, and
// frames are still read meanwhile.
type h2GoAwayFlow struct{}

func (h2GoAwayFlow) Error() string { return "connection flow control window overflow" }

// h2Inflow is Go's inflow: what the client may still send, and the
// credit read by the handler but not yet returned in WINDOW_UPDATE.
type h2Inflow struct{ avail, unsent int32 }

// add returns the credit n makes due (0 while under Go's threshold).
func (f *h2Inflow) add(n int) int32 {
	unsent := int64(f.unsent) + int64(n)
	if unsent+int64(f.avail) > h2MaxWindow {
		unsent = h2MaxWindow - int64(f.avail) // cannot happen with our windows; never overflow
	}
	f.unsent = int32(unsent)
	if f.unsent < h2InflowMinRefresh && f.unsent < f.avail {
		return 0
	}
	f.avail += f.unsent
	f.unsent = 0
	return int32(unsent)
}

func (f *h2Inflow) take(n uint32) bool {
	if n > uint32(f.avail) {
		return false
	}
	f.avail -= int32(n)
	return true
}

type h2State uint8

const (
	h2Idle h2State = iota
	h2Open
	h2HalfClosedRemote // END_STREAM received
	h2Closed
)

// h2nConn is one HTTP/2 connection.
type h2nConn struct {
	srv  *h2Server
	nc   net.Conn
	br   *bufio.Reader
	fr   *http2.Framer
	hdec *hpack.Decoder
	blk  h2Block // the header block being decoded (reader only)

	// Reader only.
	sawFirstSettings bool
	unackedSettings  int
	lastFrame        atomic.Int64 // unix ns of the last frame read, for the PING check

	mu                sync.Mutex
	cond              sync.Cond // senders waiting for window or buffer space
	waiters           int
	streams           map[uint32]*h2nStream
	openStreams       uint32
	curHandlers       uint32
	unstarted         []*h2nStream
	maxClientStreamID uint32
	sendWindow        int32 // connection-level window of what we may send
	peerInitWindow    int32
	peerMaxFrame      uint32
	inflow            h2Inflow

	enc     *hpack.Encoder
	encBuf  bytes.Buffer
	names   map[string]string // lower-case field names by fasthttp name
	vals    map[string]string // field values, interned for the encoder's table
	scratch [24]byte

	wbuf, spare   []byte
	wake          chan struct{}
	writerPending bool
	queuedControl int

	inGoAway   bool
	goAwayCode http2.ErrCode
	closeTimer *time.Timer
	closed     bool
	done       chan struct{}
	idleTimer  *time.Timer
	pingTimer  *time.Timer
	pingSent   bool
	pingData   [8]byte
}

func newH2Conn(s *h2Server, nc net.Conn) *h2nConn {
	c := &h2nConn{srv: s, nc: nc, streams: map[uint32]*h2nStream{},
		sendWindow: h2InitialWindow, peerInitWindow: h2InitialWindow, peerMaxFrame: 16384,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.cond.L = &c.mu
	c.br = bufio.NewReaderSize(nc, h2ReadBuffer)
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.SetMaxReadFrameSize(s.cfg.maxReadFrame)
	c.fr.SetReuseFrames()
	c.hdec = hpack.NewDecoder(s.cfg.maxDecoderTable, c.onField)
	c.hdec.SetMaxStringLength(int(s.cfg.maxHeaderList))
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.enc.SetMaxDynamicTableSizeLimit(s.cfg.maxEncoderTable)
	c.inflow.avail = h2InitialWindow
	return c
}

// serve is the connection's reading goroutine.
func (c *h2nConn) serve() {
	defer c.srv.forget(c)
	defer c.close()
	go c.writeLoop()
	cfg := &c.srv.cfg
	c.mu.Lock()
	c.wbuf = appendSettings(c.wbuf,
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: cfg.maxReadFrame},
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: cfg.maxStreams},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cfg.maxHeaderList},
		http2.Setting{ID: http2.SettingHeaderTableSize, Val: cfg.maxDecoderTable},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(cfg.streamWindow)})
	c.unackedSettings++
	if diff := cfg.connWindow - h2InitialWindow; diff > 0 {
		c.sendWindowUpdate(nil, int(diff))
	}
	c.kick()
	c.mu.Unlock()

	c.nc.SetReadDeadline(time.Now().Add(h2PrefaceTimeout))
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.br, preface[:]); err != nil || string(preface[:]) != http2.ClientPreface {
		return
	}
	// The first frame (SETTINGS) is due within Go's 2 s.
	c.nc.SetReadDeadline(time.Now().Add(h2FirstSettingsTimeout))
	c.lastFrame.Store(time.Now().UnixNano())
	c.mu.Lock()
	if cfg.idleTimeout > 0 {
		c.idleTimer = time.AfterFunc(cfg.idleTimeout, c.onIdle)
	}
	if cfg.pingAfter > 0 {
		c.pingTimer = time.AfterFunc(cfg.pingAfter, c.onPingTimer)
	}
	c.mu.Unlock()
	first := true
	for {
		f, err := c.fr.ReadFrame()
		if first {
			first = false
			c.nc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.mu.Lock()
				c.resetStream(se)
				c.mu.Unlock()
				continue
			}
			var ce http2.ConnectionError
			switch {
			case errors.Is(err, http2.ErrFrameTooLarge):
				c.fatal(http2.ErrCodeFrameSize)
			case errors.As(err, &ce):
				c.fatal(http2.ErrCode(ce))
			default:
				return // the client is gone, or sent garbage
			}
			// Go's reader stops at an error of the framer: wait for
			// GOAWAY to be written and the close timer.
			<-c.done
			return
		}
		c.lastFrame.Store(time.Now().UnixNano())
		if !c.process(f) {
			return
		}
	}
}

// fatal sends GOAWAY with code (the reader has stopped).
func (c *h2nConn) fatal(code http2.ErrCode) {
	c.mu.Lock()
	c.goAway(code)
	c.mu.Unlock()
}

// process handles one frame, and what it says is wrong, as Go's
// processFrameFromReader; false ends the connection.
func (c *h2nConn) process(f http2.Frame) bool {
	err := c.processFrame(f)
	if err == nil {
		c.mu.Lock()
		over := c.queuedControl > h2MaxQueuedControl
		c.mu.Unlock()
		return !over
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev := err.(type) {
	case http2.StreamError:
		c.resetStream(ev)
	case h2GoAwayFlow:
		c.goAway(http2.ErrCodeFlowControl)
	case http2.ConnectionError:
		if id := f.Header().StreamID; id > c.maxClientStreamID {
			c.maxClientStreamID = id
		}
		c.goAway(http2.ErrCode(ev))
	default:
		return false
	}
	return c.queuedControl <= h2MaxQueuedControl
}

func (c *h2nConn) processFrame(f http2.Frame) error {
	if !c.sawFirstSettings {
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sawFirstSettings = true
	}
	// After a GOAWAY with an error, every frame is dropped; after a
	// graceful one, those of streams it did not cover. Header blocks are
	// still decoded (the HPACK state is the connection's), and DATA still
	// returns its connection-level credit.
	c.mu.Lock()
	if c.inGoAway && (c.goAwayCode != http2.ErrCodeNo || f.Header().StreamID > c.maxClientStreamID) {
		defer c.mu.Unlock()
		switch f := f.(type) {
		case *http2.DataFrame:
			if !c.inflow.take(f.Length) {
				return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
			}
			c.sendWindowUpdate(nil, int(f.Length))
		case *http2.HeadersFrame:
			c.mu.Unlock()
			_, err := c.readHeaderBlock(f, nil, h2Discard, false)
			c.mu.Lock()
			if _, ok := err.(http2.ConnectionError); ok {
				return err
			}
		}
		return nil
	}
	c.mu.Unlock()
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.HeadersFrame:
		return c.processHeaders(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		return c.processPing(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.goAway(http2.ErrCodeNo)
		c.mu.Unlock()
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		return nil // unknown frame types are ignored
	}
}

// state is the state of stream id (RFC 9113 §5.1): idle streams are
// those above every ID the client has used.
func (c *h2nConn) state(id uint32) (h2State, *h2nStream) {
	if st, ok := c.streams[id]; ok {
		return st.state, st
	}
	if id%2 == 1 && id <= c.maxClientStreamID {
		return h2Closed, nil
	}
	return h2Idle, nil
}

func (c *h2nConn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		c.unackedSettings--
		if c.unackedSettings < 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	if f.NumSettings() > 100 || f.HasDuplicates() {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := f.ForeachSetting(c.processSetting); err != nil {
		return err
	}
	c.wbuf = appendFrameHeader(c.wbuf, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
	c.queuedControl++
	c.kick()
	return nil
}

func (c *h2nConn) processSetting(s http2.Setting) error {
	if err := s.Valid(); err != nil {
		return err
	}
	switch s.ID {
	case http2.SettingHeaderTableSize:
		c.enc.SetMaxDynamicTableSize(s.Val)
	case http2.SettingInitialWindowSize:
		growth := int64(s.Val) - int64(c.peerInitWindow)
		for _, st := range c.streams {
			if int64(st.sendWindow)+growth > h2MaxWindow {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
		}
		for _, st := range c.streams {
			st.sendWindow += int32(growth)
		}
		c.peerInitWindow = int32(s.Val)
		c.wakeSenders()
	case http2.SettingMaxFrameSize:
		c.peerMaxFrame = s.Val
	}
	return nil
}

func (c *h2nConn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID != 0 {
		state, st := c.state(f.StreamID)
		if state == h2Idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if st == nil {
			return nil // a closed stream
		}
		if int64(st.sendWindow)+int64(f.Increment) > h2MaxWindow {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
		}
		st.sendWindow += int32(f.Increment)
	} else {
		if int64(c.sendWindow)+int64(f.Increment) > h2MaxWindow {
			return h2GoAwayFlow{}
		}
		c.sendWindow += int32(f.Increment)
	}
	c.wakeSenders()
	return nil
}

func (c *h2nConn) processPing(f *http2.PingFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.IsAck() {
		if c.pingSent && c.pingData == f.Data {
			c.pingSent = false
			c.pingTimer.Reset(c.srv.cfg.pingAfter)
		}
		return nil
	}
	if f.StreamID != 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.wbuf = appendFrameHeader(c.wbuf, 8, http2.FramePing, http2.FlagPingAck, 0)
	c.wbuf = append(c.wbuf, f.Data[:]...)
	c.queuedControl++
	c.kick()
	return nil
}

func (c *h2nConn) processReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	state, st := c.state(f.StreamID)
	if state == h2Idle {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st != nil {
		c.closeStream(st, errH2StreamClosed)
	}
	return nil
}

func (c *h2nConn) processData(f *http2.DataFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := f.StreamID
	data := f.Data()
	state, st := c.state(id)
	if id == 0 || state == h2Idle {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st == nil || state != h2Open || st.gotTrailers || st.resetQueued {
		// Not for a stream that takes DATA: keep the connection's flow
		// control, return its credit, and reset the stream.
		if !c.inflow.take(f.Length) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		c.sendWindowUpdate(nil, int(f.Length))
		if st != nil && st.resetQueued {
			return nil
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	b := &st.body
	if st.declLen != -1 && st.gotLen+int64(len(data)) > st.declLen {
		if !c.inflow.take(f.Length) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		c.sendWindowUpdate(nil, int(f.Length))
		b.fail(errH2TooMuchBody)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if f.Length > 0 {
		if f.Length > uint32(c.inflow.avail) || f.Length > uint32(st.inflow.avail) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		c.inflow.avail -= int32(f.Length)
		st.inflow.avail -= int32(f.Length)
		if len(data) > 0 {
			st.gotLen += int64(len(data))
			if b.err != nil { // the handler closed the body: only the connection's credit comes back
				c.sendWindowUpdate(nil, int(f.Length))
				return nil
			}
			b.push(data)
		}
		// Also without padding: credit held back returns once the
		// window has shrunk below it (Go's way).
		pad := int(f.Length) - len(data)
		c.sendWindowUpdate(nil, pad)
		c.sendWindowUpdate(st, pad)
	}
	if f.StreamEnded() {
		c.endStream(st)
	}
	return nil
}

var errH2TooMuchBody = errors.New("http2: request body larger than its Content-Length")

// endStream is the END_STREAM of a request (on DATA or trailers).
func (c *h2nConn) endStream(st *h2nStream) {
	if st.declLen != -1 && st.declLen != st.gotLen {
		st.body.fail(errH2ShortBody)
	} else if st.body.err == nil {
		st.body.err = io.EOF
		st.body.cond.Signal()
	}
	st.state = h2HalfClosedRemote
}

var errH2ShortBody = errors.New("http2: request body shorter than its Content-Length")

// resetStream queues RST_STREAM for se and closes its stream.
func (c *h2nConn) resetStream(se http2.StreamError) {
	c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameRSTStream, 0, se.StreamID)
	c.wbuf = append(c.wbuf, byte(se.Code>>24), byte(se.Code>>16), byte(se.Code>>8), byte(se.Code))
	c.queuedControl++
	c.kick()
	if st, ok := c.streams[se.StreamID]; ok {
		st.resetQueued = true
		c.closeStream(st, errH2StreamClosed)
	}
}

// closeStream ends st: out of the table, its body and writes failing.
func (c *h2nConn) closeStream(st *h2nStream, err error) {
	if st.state == h2Closed {
		return
	}
	st.state = h2Closed
	for _, t := range []*time.Timer{st.readTimer, st.writeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	delete(c.streams, st.id)
	st.inTable = false
	c.openStreams--
	if len(c.streams) == 0 && c.idleTimer != nil && !c.closed {
		c.idleTimer.Reset(c.srv.cfg.idleTimeout)
	}
	st.body.fail(err)
	if st.cancel != nil {
		st.cancel()
	}
	c.wakeSenders()
	c.maybeClose()
	c.release(st)
}

// goAway queues GOAWAY (Go sends one; a later error only changes the
// code it goes by).
func (c *h2nConn) goAway(code http2.ErrCode) {
	if c.inGoAway {
		if c.goAwayCode == http2.ErrCodeNo {
			c.goAwayCode = code
		}
		c.maybeClose()
		return
	}
	c.inGoAway, c.goAwayCode = true, code
	id := c.maxClientStreamID
	c.wbuf = appendFrameHeader(c.wbuf, 8, http2.FrameGoAway, 0, 0)
	c.wbuf = append(c.wbuf, byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id),
		byte(code>>24), byte(code>>16), byte(code>>8), byte(code))
	c.queuedControl++
	c.kick()
	c.maybeClose()
}

// maybeClose arms the close timer once GOAWAY is out: at once after an
// error, after the last stream after a graceful one.
func (c *h2nConn) maybeClose() {
	if c.inGoAway && c.closeTimer == nil && !c.closed && (c.goAwayCode != http2.ErrCodeNo || c.openStreams == 0) {
		c.closeTimer = time.AfterFunc(h2GoAwayTimeout, c.close)
	}
}

// shutdown is the server's graceful shutdown of the connection.
func (c *h2nConn) shutdown() {
	c.mu.Lock()
	c.goAway(http2.ErrCodeNo)
	c.mu.Unlock()
}

func (c *h2nConn) onIdle() {
	c.mu.Lock()
	if len(c.streams) == 0 {
		c.goAway(http2.ErrCodeNo)
	}
	c.mu.Unlock()
}

// onPingTimer is Go's health check: a PING after pingAfter without a
// frame, and the connection closed if its ACK does not come within
// pingTimeout.
func (c *h2nConn) onPingTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.pingSent {
		c.srv.log.Debug("http2: timeout waiting for PING response", "remote", c.nc.RemoteAddr())
		c.closeLocked()
		return
	}
	pingAt := time.Unix(0, c.lastFrame.Load()).Add(c.srv.cfg.pingAfter)
	if now := time.Now(); pingAt.After(now) {
		c.pingTimer.Reset(pingAt.Sub(now))
		return
	}
	c.pingSent = true
	rand.Read(c.pingData[:])
	c.wbuf = appendFrameHeader(c.wbuf, 8, http2.FramePing, 0, 0)
	c.wbuf = append(c.wbuf, c.pingData[:]...)
	c.kick()
	c.pingTimer.Reset(c.srv.cfg.pingTimeout)
}

func (c *h2nConn) close() {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
}

func (c *h2nConn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	c.nc.Close()
	for _, t := range []*time.Timer{c.idleTimer, c.pingTimer, c.closeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	for _, st := range c.streams {
		c.closeStream(st, errH2ClientGone)
	}
	for i, st := range c.unstarted {
		c.unstarted[i] = nil
		st.handlerRef = false
		c.release(st)
	}
	c.unstarted = nil
	c.cond.Broadcast()
}

// sendWindowUpdate returns n bytes of credit on st (nil: the
// connection), in a WINDOW_UPDATE once Go's threshold is reached.
func (c *h2nConn) sendWindowUpdate(st *h2nStream, n int) {
	if n < 0 {
		return
	}
	var id uint32
	var send int32
	if st == nil {
		send = c.inflow.add(n)
	} else {
		id, send = st.id, st.inflow.add(n)
	}
	if send == 0 {
		return
	}
	c.wbuf = appendFrameHeader(c.wbuf, 4, http2.FrameWindowUpdate, 0, id)
	c.wbuf = append(c.wbuf, byte(send>>24)&0x7f, byte(send>>16), byte(send>>8), byte(send))
	if st == nil {
		c.queuedControl++
	}
	c.kick()
}

func (c *h2nConn) wakeSenders() {
	if c.waiters > 0 {
		c.cond.Broadcast()
	}
}

// kick wakes the writer for what was queued (called with mu held).
func (c *h2nConn) kick() {
	if !c.writerPending {
		c.writerPending = true
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// writeLoop writes what the connection queued. It lets the goroutines
// that are ready run first, so that the frames of streams answered
// together leave in one write.
func (c *h2nConn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		runtime.Gosched()
		c.mu.Lock()
		for len(c.wbuf) > 0 && !c.closed {
			buf := c.wbuf
			c.wbuf, c.spare = c.spare[:0], nil
			c.queuedControl = 0
			c.mu.Unlock()
			err := c.write(buf)
			c.mu.Lock()
			if cap(buf) <= h2KeepBuffer && len(c.streams) > 0 {
				c.spare = buf[:0]
			}
			if err != nil {
				c.closeLocked()
				break
			}
			c.wakeSenders()
		}
		c.writerPending = false
		c.mu.Unlock()
	}
}

// write writes buf to the socket; with a write-byte timeout, each write
// that makes progress extends the deadline, one that makes none for that
// long fails (Go's bufferedWriterTimeout).
func (c *h2nConn) write(buf []byte) error {
	t := c.srv.cfg.writeByteTimeout
	if t <= 0 {
		_, err := c.nc.Write(buf)
		return err
	}
	defer c.nc.SetWriteDeadline(time.Time{})
	for {
		c.nc.SetWriteDeadline(time.Now().Add(t))
		n, err := c.nc.Write(buf)
		buf = buf[n:]
		if len(buf) == 0 || n == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
}

// Frame writing (RFC 9113 §4.1).

func appendFrameHeader(b []byte, length int, t http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

func appendSettings(b []byte, settings ...http2.Setting) []byte {
	b = appendFrameHeader(b, 6*len(settings), http2.FrameSettings, 0, 0)
	for _, s := range settings {
		b = append(b, byte(s.ID>>8), byte(s.ID), byte(s.Val>>24), byte(s.Val>>16), byte(s.Val>>8), byte(s.Val))
	}
	return b
}

// appendHeaderBlock queues block as HEADERS and CONTINUATION frames of
// at most the client's frame size.
func (c *h2nConn) appendHeaderBlock(id uint32, block []byte, endStream bool) {
	t := http2.FrameHeaders
	for {
		n := min(len(block), int(c.peerMaxFrame))
		var flags http2.Flags
		if n == len(block) {
			flags |= http2.FlagHeadersEndHeaders
		}
		if t == http2.FrameHeaders && endStream {
			flags |= http2.FlagHeadersEndStream
		}
		c.wbuf = appendFrameHeader(c.wbuf, n, t, flags, id)
		c.wbuf = append(c.wbuf, block[:n]...)
		block = block[n:]
		if len(block) == 0 {
			break
		}
		t = http2.FrameContinuation
	}
	c.kick()
}
