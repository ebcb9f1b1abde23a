package http1

// A strict HTTP/1.1 reader (RFC 9112) for both ends of the proxy: the
// backend frames what the proxy forwards with it, and the client frames
// the proxy's responses with it. It accepts only what a conforming sender
// writes: CRLF line ends and no other CR or LF, token field names,
// field values without control bytes, one Content-Length or chunked
// (never both), hexadecimal chunk sizes. Anything else is a malformed
// message: the proxy wrote bytes a strict peer could frame otherwise.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errIncomplete is the end of input inside a message.
var errIncomplete = errors.New("incomplete message")

// malformed is a message a strict reader cannot frame.
type malformed struct{ why string }

func (m *malformed) Error() string { return "malformed: " + m.why }

func bad(format string, args ...any) error { return &malformed{fmt.Sprintf(format, args...)} }

// message is one HTTP/1.1 message as a strict reader frames it.
type message struct {
	start  string      // request line or status line, without CRLF
	fields [][2]string // name (as sent), value (without surrounding OWS)
	body   []byte      // decoded (chunked framing removed)
	raw    []byte      // every byte read for it
}

func (m *message) values(name string) []string {
	var out []string
	for _, f := range m.fields {
		if strings.EqualFold(f[0], name) {
			out = append(out, f[1])
		}
	}
	return out
}

// reader reads strict messages, recording every byte it consumes.
type reader struct {
	br  *bufio.Reader
	raw bytes.Buffer
}

// line reads one CRLF-terminated line. io.EOF before any byte is a clean
// end; EOF later is errIncomplete.
func (r *reader) line(first bool) (string, error) {
	s, err := r.br.ReadString('\n')
	r.raw.WriteString(s)
	if err != nil {
		if first && s == "" && err == io.EOF {
			return "", io.EOF
		}
		if err == io.EOF {
			return "", errIncomplete
		}
		return "", err
	}
	if !strings.HasSuffix(s, "\r\n") {
		return "", bad("bare LF in %q", s)
	}
	s = s[:len(s)-2]
	if strings.ContainsAny(s, "\r\n") {
		return "", bad("bare CR in %q", s)
	}
	return s, nil
}

// head reads a start line and the header block.
func (r *reader) head() (*message, error) {
	r.raw.Reset()
	start, err := r.line(true)
	if err != nil {
		return nil, err
	}
	m := &message{start: start}
	fields, err := r.fields()
	m.fields = fields
	return m, err
}

func (r *reader) fields() ([][2]string, error) {
	var out [][2]string
	for {
		l, err := r.line(false)
		if err != nil {
			return out, err
		}
		if l == "" {
			return out, nil
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" {
			return out, bad("field line without a name: %q", l)
		}
		for _, c := range []byte(name) {
			if !httpguts.IsTokenRune(rune(c)) {
				return out, bad("field name %q is not a token", name)
			}
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return out, bad("field value %q has a control byte", value)
		}
		out = append(out, [2]string{name, value})
	}
}

// framing reads the message's Content-Length and Transfer-Encoding: n
// bytes (n >= 0), chunked, or neither (n == -1).
func framing(m *message) (n int64, chunked bool, err error) {
	cls, tes := m.values("Content-Length"), m.values("Transfer-Encoding")
	switch {
	case len(cls) > 0 && len(tes) > 0:
		return 0, false, bad("both Content-Length and Transfer-Encoding")
	case len(cls) > 1:
		return 0, false, bad("%d Content-Length lines", len(cls))
	case len(tes) > 1:
		return 0, false, bad("%d Transfer-Encoding lines", len(tes))
	case len(tes) == 1:
		if !strings.EqualFold(tes[0], "chunked") {
			return 0, false, bad("Transfer-Encoding %q", tes[0])
		}
		return 0, true, nil
	case len(cls) == 1:
		v := cls[0]
		if v == "" || strings.Trim(v, "0123456789") != "" {
			return 0, false, bad("Content-Length %q", v)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, bad("Content-Length %q", v)
		}
		return n, false, nil
	}
	return -1, false, nil
}

// body reads a body of n bytes, chunked, or (untilEOF) to the end of input.
func (r *reader) body(m *message, n int64, chunked, untilEOF bool) error {
	switch {
	case chunked:
		for {
			l, err := r.line(false)
			if err != nil {
				return err
			}
			if l == "" || strings.Trim(strings.ToLower(l), "0123456789abcdef") != "" || len(l) > 15 {
				return bad("chunk size %q", l)
			}
			size, _ := strconv.ParseInt(l, 16, 64)
			if size == 0 {
				trailers, err := r.fields()
				m.fields = append(m.fields, trailers...)
				return err
			}
			if err := r.n(m, size); err != nil {
				return err
			}
			if l, err := r.line(false); err != nil || l != "" {
				if err == nil {
					err = bad("chunk data longer than its size")
				}
				return err
			}
		}
	case n >= 0:
		return r.n(m, n)
	case untilEOF:
		b, err := io.ReadAll(r.br)
		r.raw.Write(b)
		m.body = append(m.body, b...)
		return err
	}
	return nil
}

func (r *reader) n(m *message, n int64) error {
	var buf bytes.Buffer
	_, err := io.CopyN(&buf, r.br, n)
	r.raw.Write(buf.Bytes())
	m.body = append(m.body, buf.Bytes()...)
	if err == io.EOF {
		return errIncomplete
	}
	return err
}

// readRequest reads one request as a strict server does. With err ==
// errIncomplete, m holds what came before the end of input.
func (r *reader) readRequest() (*message, error) {
	m, err := r.head()
	if err == nil {
		err = checkRequestLine(m.start)
	}
	if err == nil {
		var n int64
		var chunked bool
		if n, chunked, err = framing(m); err == nil {
			err = r.body(m, n, chunked, false)
		}
	}
	if m != nil {
		m.raw = bytes.Clone(r.raw.Bytes())
	}
	return m, err
}

func checkRequestLine(l string) error {
	parts := strings.Split(l, " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return bad("request line %q", l)
	}
	for _, c := range []byte(parts[0]) {
		if !httpguts.IsTokenRune(rune(c)) {
			return bad("method %q", parts[0])
		}
	}
	// Bytes above 0x7f pass: net/http reads them in a target, and Traefik
	// forwards a query holding them as sent ("/?\x83"), as edgeroute does.
	for _, c := range []byte(parts[1]) {
		if c <= ' ' || c == 0x7f {
			return bad("request target %q", parts[1])
		}
	}
	if parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0" {
		return bad("version %q", parts[2])
	}
	return nil
}

// readResponse reads one response to a request with method (HEAD
// responses have no body).
func (r *reader) readResponse(method string) (m *message, status int, err error) {
	m, err = r.head()
	defer func() {
		if m != nil {
			m.raw = bytes.Clone(r.raw.Bytes())
		}
	}()
	if err != nil {
		return m, 0, err
	}
	proto, rest, _ := strings.Cut(m.start, " ")
	code, reason, ok := strings.Cut(rest, " ")
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" || !ok || len(code) != 3 || strings.Trim(code, "0123456789") != "" || code[0] == '0' {
		return m, 0, bad("status line %q", m.start)
	}
	for _, c := range []byte(reason) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return m, 0, bad("status line %q", m.start)
		}
	}
	status, _ = strconv.Atoi(code)
	n, chunked, err := framing(m)
	if err != nil {
		return m, status, err
	}
	if status < 200 || status == 204 || status == 304 || method == "HEAD" {
		return m, status, nil
	}
	return m, status, r.body(m, n, chunked, true)
}

// closes tells whether a response ends its connection.
func closes(m *message) bool {
	for _, v := range m.values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				return true
			}
		}
	}
	return strings.HasPrefix(m.start, "HTTP/1.0 ") && !keepAlive(m)
}

func keepAlive(m *message) bool {
	for _, v := range m.values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "keep-alive") {
				return true
			}
		}
	}
	return false
}
