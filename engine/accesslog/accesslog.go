// Package accesslog writes Traefik's access log (--accessLog): the common,
// genericCLF and json formats with Traefik's field names, filters and
// field modes.
//
// A line is formatted in the request's goroutine into a pooled buffer and
// appended to the logger's pending buffer under a short lock; a flusher
// goroutine (Run) writes pending lines to the file. Requests never wait
// for the file: when the pending buffer is full (the disk is slower than
// the traffic), lines are dropped and counted, and the count is reported
// in the log. The file is reopened on Reopen (SIGUSR1), for logrotate.
package accesslog

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Config is the static accessLog configuration.
type Config struct {
	FilePath      string // empty: standard output
	Format        string // "common" (default), "genericCLF", "json"
	BufferingSize int64  // lines held in memory before writing (default 4096 here; see Logger)
	Filters       Filters
	Fields        Fields
}

// Filters keep only some lines: any filter that matches keeps the line;
// with none set, every line is kept.
type Filters struct {
	StatusCodes   []string // "200", "300-302"
	RetryAttempts bool
	MinDuration   time.Duration
}

// Fields are the json format's field modes.
type Fields struct {
	DefaultMode string            // "keep" (default) or "drop"
	Names       map[string]string // field -> keep, drop, redact
	Headers     HeaderFields
}

// HeaderFields are the modes of header fields (request_X, origin_X,
// downstream_X).
type HeaderFields struct {
	DefaultMode string            // "drop" (default), "keep", "redact"
	Names       map[string]string // header name -> mode
}

// FieldNames are Traefik's access-log field names.
var FieldNames = []string{"StartUTC", "StartLocal", "Duration", "RouterName", "ServiceName", "ServiceURL",
	"ServiceAddr", "ClientAddr", "ClientHost", "ClientPort", "ClientUsername", "RequestAddr", "RequestHost",
	"RequestPort", "RequestMethod", "RequestPath", "RequestProtocol", "RequestScheme", "RequestContentSize",
	"RequestCount", "OriginDuration", "OriginContentSize", "OriginStatus", "DownstreamStatus",
	"DownstreamContentSize", "GzipRatio", "Overhead", "RetryAttempts", "TLSVersion", "TLSCipher",
	"TLSClientSubject", "TraceId", "SpanId", "trace_id", "span_id"}

// Header is one header line of a record.
type Header struct{ Name, Value []byte }

// Record is what one request logs. The engine fills it (slices are
// copied into the record's own buffers) and hands it to Log.
type Record struct {
	Start                 time.Time
	Duration              time.Duration
	RouterName            string
	ServiceName           string
	ServiceURL            string
	ServiceAddr           string
	Client                netip.AddrPort
	ClientUsername        []byte
	RequestHost           []byte // the Host, with its port if any
	RequestMethod         []byte
	RequestPath           []byte // the request target as received
	RequestProtocol       string // "HTTP/1.1", "HTTP/2.0"
	RequestScheme         string // "http", "https"
	RequestContentSize    int64
	OriginStatus          int
	OriginContentSize     int64
	OriginDuration        time.Duration
	DownstreamStatus      int
	DownstreamContentSize int64
	RetryAttempts         int
	TLSVersion, TLSCipher string
	// TraceID and SpanID are the request's trace and entry point span
	// when it is traced (zero otherwise).
	TraceID           [16]byte
	SpanID            [8]byte
	RequestHeaders    []Header
	OriginHeaders     []Header
	DownstreamHeaders []Header

	buf []byte // backing store of the copied slices
}

// Reset empties r for reuse, keeping its buffers.
func (r *Record) Reset() {
	buf, rh, oh, dh := r.buf[:0], r.RequestHeaders[:0], r.OriginHeaders[:0], r.DownstreamHeaders[:0]
	*r = Record{buf: buf, RequestHeaders: rh, OriginHeaders: oh, DownstreamHeaders: dh}
}

// Copy returns a copy of b held by the record until its next Reset.
func (r *Record) Copy(b []byte) []byte {
	start := len(r.buf)
	r.buf = append(r.buf, b...)
	return r.buf[start:len(r.buf):len(r.buf)]
}

// AppendString returns, as a string held by the record until its next
// Reset, what fill appends to the record's buffer: a field built from
// parts without allocating once the buffer has grown. The string must not
// be kept past the Reset.
func (r *Record) AppendString(fill func([]byte) []byte) string {
	start := len(r.buf)
	r.buf = fill(r.buf)
	b := r.buf[start:]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Logger writes records. It is safe for concurrent use.
type Logger struct {
	cfg     Config
	json    bool
	clf     bool // genericCLF
	codes   [][2]int
	log     *slog.Logger
	count   atomic.Uint64 // RequestCount
	dropped atomic.Uint64

	mu      sync.Mutex
	pending []byte
	lines   int64
	out     io.WriteCloser
	wake    chan struct{}
	reopen  chan chan error
}

// New opens the log's file (created if missing, appended to).
func New(cfg Config, log *slog.Logger) (*Logger, error) {
	l := &Logger{cfg: cfg, log: log, wake: make(chan struct{}, 1), reopen: make(chan chan error)}
	switch strings.ToLower(cfg.Format) {
	case "", "common":
	case "genericclf":
		l.clf = true
	case "json":
		l.json = true
	default:
		return nil, fmt.Errorf("accessLog.format %q: one of common, genericCLF, json", cfg.Format)
	}
	if l.cfg.BufferingSize <= 0 {
		l.cfg.BufferingSize = 4096
	}
	for _, c := range cfg.Filters.StatusCodes {
		lo, hi, isRange := strings.Cut(c, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a > b {
			return nil, fmt.Errorf("accessLog.filters.statusCodes: %q is not a code or a range", c)
		}
		l.codes = append(l.codes, [2]int{a, b})
	}
	for _, m := range []string{cfg.Fields.DefaultMode, cfg.Fields.Headers.DefaultMode} {
		if err := checkMode(m); err != nil {
			return nil, err
		}
	}
	for _, names := range []map[string]string{cfg.Fields.Names, cfg.Fields.Headers.Names} {
		for k, m := range names {
			if err := checkMode(m); err != nil || m == "" {
				return nil, fmt.Errorf("accessLog.fields: %s: mode %q: one of keep, drop, redact", k, m)
			}
		}
	}
	out, err := l.open()
	if err != nil {
		return nil, err
	}
	l.out = out
	return l, nil
}

func checkMode(m string) error {
	switch strings.ToLower(m) {
	case "", "keep", "drop", "redact":
		return nil
	}
	return fmt.Errorf("accessLog.fields: mode %q: one of keep, drop, redact", m)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (l *Logger) open() (io.WriteCloser, error) {
	if l.cfg.FilePath == "" {
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(l.cfg.FilePath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o664)
	if err != nil {
		return nil, fmt.Errorf("accessLog.filePath: %w", err)
	}
	return f, nil
}

// Keep tells whether a line with these values passes the filters
// (Traefik's keepAccessLog). The engine asks before filling a record.
func (l *Logger) Keep(status, retries int, d time.Duration) bool {
	f := l.cfg.Filters
	if len(l.codes) == 0 && !f.RetryAttempts && f.MinDuration == 0 {
		return true
	}
	for _, c := range l.codes {
		if status >= c[0] && status <= c[1] {
			return true
		}
	}
	if f.RetryAttempts && retries > 0 {
		return true
	}
	return f.MinDuration > 0 && d > f.MinDuration
}

// WantsHeader tells whether header name is logged (for the engine to
// copy): Referer and User-Agent always for the CLF formats; in json, per
// the header modes.
func (l *Logger) WantsHeader(name string) bool {
	if !l.json {
		return strings.EqualFold(name, "Referer") || strings.EqualFold(name, "User-Agent")
	}
	return l.headerMode(name) != "drop"
}

// JSON tells the json format.
func (l *Logger) JSON() bool { return l.json }

// HeadersConfigured tells whether json logs any header at all.
func (l *Logger) HeadersConfigured() bool {
	if !l.json {
		return true
	}
	if m := strings.ToLower(l.cfg.Fields.Headers.DefaultMode); m == "keep" || m == "redact" {
		return true
	}
	for _, m := range l.cfg.Fields.Headers.Names {
		if strings.ToLower(m) != "drop" {
			return true
		}
	}
	return false
}

func (l *Logger) headerMode(name string) string {
	for k, m := range l.cfg.Fields.Headers.Names {
		if strings.EqualFold(k, name) {
			return strings.ToLower(m)
		}
	}
	if m := strings.ToLower(l.cfg.Fields.Headers.DefaultMode); m != "" {
		return m
	}
	return "drop"
}

func (l *Logger) fieldMode(name string) string {
	if m, ok := l.cfg.Fields.Names[name]; ok {
		return strings.ToLower(m)
	}
	if m := strings.ToLower(l.cfg.Fields.DefaultMode); m != "" {
		return m
	}
	return "keep"
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Log formats r and queues the line; it never blocks on the file.
func (l *Logger) Log(r *Record) {
	n := l.count.Add(1)
	bp := linePool.Get().(*[]byte)
	line := (*bp)[:0]
	if l.json {
		line = l.appendJSON(line, r, n)
	} else {
		line = l.appendCLF(line, r, n)
	}
	l.mu.Lock()
	if l.lines >= l.cfg.BufferingSize {
		l.mu.Unlock()
		l.dropped.Add(1)
	} else {
		l.pending = append(l.pending, line...)
		l.lines++
		full := l.lines >= l.cfg.BufferingSize/2
		l.mu.Unlock()
		if full {
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
	*bp = line
	linePool.Put(bp)
}

const clfTime = "02/Jan/2006:15:04:05 -0700"

func (l *Logger) appendCLF(b []byte, r *Record, n uint64) []byte {
	b = appendOr(b, clientHost(r), "-")
	b = append(b, " - "...)
	b = appendOr(b, r.ClientUsername, "-")
	b = append(b, " ["...)
	b = r.Start.UTC().AppendFormat(b, clfTime)
	b = append(b, "] \""...)
	b = appendOr(b, r.RequestMethod, "-")
	b = append(b, ' ')
	b = appendOr(b, r.RequestPath, "-")
	b = append(b, ' ')
	b = appendOr(b, []byte(r.RequestProtocol), "-")
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(r.DownstreamStatus), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.DownstreamContentSize, 10)
	b = append(b, ' ')
	b = appendQuoted(b, headerValue(r.RequestHeaders, "Referer"))
	b = append(b, ' ')
	b = appendQuoted(b, headerValue(r.RequestHeaders, "User-Agent"))
	if !l.clf {
		b = append(b, ' ')
		b = strconv.AppendUint(b, n, 10)
		b = append(b, ' ')
		b = appendQuoted(b, []byte(r.RouterName))
		b = append(b, ' ')
		b = appendQuoted(b, []byte(r.ServiceURL))
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.Duration.Milliseconds(), 10)
		b = append(b, "ms"...)
	}
	return append(b, '\n')
}

func clientHost(r *Record) []byte {
	if !r.Client.IsValid() {
		return nil
	}
	var a [64]byte
	return r.Client.Addr().AppendTo(a[:0])
}

func appendOr(b, v []byte, def string) []byte {
	if len(v) == 0 {
		return append(b, def...)
	}
	return append(b, v...)
}

// appendQuoted is toLogEntry with quotes: `"-"` for an empty value,
// inner quotes escaped.
func appendQuoted(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, `"-"`...)
	}
	b = append(b, '"')
	for _, c := range v {
		if c == '"' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

func headerValue(hs []Header, name string) []byte {
	for _, h := range hs {
		if strings.EqualFold(string(h.Name), name) {
			return h.Value
		}
	}
	return nil
}

// appendJSON writes the json format: Traefik's field names, sorted, with
// logrus's level, msg and time, as Traefik writes them.
func (l *Logger) appendJSON(b []byte, r *Record, n uint64) []byte {
	m := map[string]any{
		"StartUTC":              r.Start.UTC().Format(time.RFC3339Nano),
		"StartLocal":            r.Start.Local().Format(time.RFC3339Nano),
		"Duration":              int64(r.Duration),
		"RouterName":            r.RouterName,
		"ServiceName":           r.ServiceName,
		"ServiceURL":            r.ServiceURL,
		"ServiceAddr":           r.ServiceAddr,
		"ClientUsername":        orDash(r.ClientUsername),
		"RequestHost":           hostOnly(r.RequestHost),
		"RequestPort":           portOf(r.RequestHost, r.RequestScheme),
		"RequestAddr":           string(r.RequestHost),
		"RequestMethod":         string(r.RequestMethod),
		"RequestPath":           string(r.RequestPath),
		"RequestProtocol":       r.RequestProtocol,
		"RequestScheme":         r.RequestScheme,
		"RequestContentSize":    r.RequestContentSize,
		"RequestCount":          n,
		"OriginStatus":          r.OriginStatus,
		"OriginContentSize":     r.OriginContentSize,
		"OriginDuration":        int64(r.OriginDuration),
		"DownstreamStatus":      r.DownstreamStatus,
		"DownstreamContentSize": r.DownstreamContentSize,
		"Overhead":              int64(r.Duration - r.OriginDuration),
		"RetryAttempts":         r.RetryAttempts,
		"level":                 "info",
		"msg":                   "",
		"time":                  time.Now().Format(time.RFC3339),
	}
	if r.Client.IsValid() {
		m["ClientAddr"] = r.Client.String()
		m["ClientHost"] = r.Client.Addr().String()
		m["ClientPort"] = strconv.Itoa(int(r.Client.Port()))
	}
	if r.TLSVersion != "" {
		m["TLSVersion"], m["TLSCipher"] = r.TLSVersion, r.TLSCipher
	}
	if r.TraceID != [16]byte{} && r.SpanID != [8]byte{} {
		// Traefik writes both spellings: TraceId and SpanId (deprecated)
		// and OpenTelemetry's trace_id and span_id.
		tid, sid := hex.EncodeToString(r.TraceID[:]), hex.EncodeToString(r.SpanID[:])
		m["TraceId"], m["SpanId"], m["trace_id"], m["span_id"] = tid, sid, tid, sid
	}
	if r.RouterName == "" {
		delete(m, "RouterName")
		delete(m, "ServiceName")
		delete(m, "ServiceURL")
		delete(m, "ServiceAddr")
		delete(m, "OriginStatus")
		delete(m, "OriginContentSize")
		delete(m, "OriginDuration")
	}
	for k := range m {
		switch k {
		case "level", "msg", "time":
			continue
		}
		switch l.fieldMode(k) {
		case "drop":
			delete(m, k)
		case "redact":
			m[k] = "REDACTED"
		}
	}
	for _, set := range []struct {
		prefix string
		hs     []Header
	}{{"request_", r.RequestHeaders}, {"origin_", r.OriginHeaders}, {"downstream_", r.DownstreamHeaders}} {
		for _, h := range set.hs {
			switch l.headerMode(string(h.Name)) {
			case "keep":
				m[set.prefix+string(h.Name)] = string(h.Value)
			case "redact":
				m[set.prefix+string(h.Name)] = "REDACTED"
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(m[k])
		b = append(append(append(b, kj...), ':'), vj...)
	}
	return append(b, "}\n"...)
}

func orDash(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

func hostOnly(h []byte) string {
	s := string(h)
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "]") {
		return strings.Trim(s[:i], "[]")
	}
	return strings.Trim(s, "[]")
}

func portOf(h []byte, scheme string) string {
	s := string(h)
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "]") {
		return s[i+1:]
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// Run writes pending lines until ctx is done, then flushes and closes.
func (l *Logger) Run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var spare []byte
	for {
		select {
		case <-ctx.Done():
			spare = l.flush(spare)
			l.mu.Lock()
			l.out.Close()
			l.mu.Unlock()
			return
		case <-t.C:
		case <-l.wake:
		case done := <-l.reopen:
			spare = l.flush(spare)
			out, err := l.open()
			if err == nil {
				l.mu.Lock()
				old := l.out
				l.out = out
				l.mu.Unlock()
				old.Close()
			}
			done <- err
			continue
		}
		spare = l.flush(spare)
	}
}

// flush writes what is pending, outside the lock.
func (l *Logger) flush(spare []byte) []byte {
	l.mu.Lock()
	buf := l.pending
	l.pending, l.lines = spare[:0], 0
	out := l.out
	l.mu.Unlock()
	if d := l.dropped.Swap(0); d > 0 && l.log != nil {
		l.log.Warn("access log lines dropped: the log file is slower than the traffic", "lines", d)
	}
	if len(buf) > 0 {
		if _, err := out.Write(buf); err != nil && l.log != nil {
			l.log.Error("writing the access log", "err", err)
		}
	}
	return buf
}

// Reopen reopens the log file (after logrotate moved it), once pending
// lines are written to the old one. It needs Run.
func (l *Logger) Reopen() error {
	done := make(chan error, 1)
	l.reopen <- done
	return <-done
}
