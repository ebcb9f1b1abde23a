package tlshello

// An independent reading of the TLS bytes on both sides of a handshake's
// first flight, written from RFC 8446 (§4.1.2 ClientHello, §4.1.3
// ServerHello, §4.2 extensions), RFC 6066 §3 (server_name) and RFC 7301
// (ALPN), with cryptobyte as the only help: what the client offered, and
// what the server answered in clear.

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

const (
	recordHandshake = 22
	recordCCS       = 20
	recordAlert     = 21
	recordAppData   = 23

	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
)

// hello is what a ClientHello offers.
type hello struct {
	sni      string // the first host_name of server_name ("" without)
	alpn     []string
	alpnSent bool
	versions []uint16 // supported_versions (nil without the extension)
	suites   []uint16
	exts     []uint16 // extension types, in order
}

// parseHello reads the ClientHello the input starts with: the first
// handshake message carried by the leading handshake records.
func parseHello(input []byte) (*hello, error) {
	msg, err := firstHandshake(input)
	if err != nil {
		return nil, err
	}
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) || typ != 1 {
		return nil, errors.New("not a ClientHello")
	}
	var vers uint16
	var random, sessionID, suites, compression cryptobyte.String
	if !body.ReadUint16(&vers) || !body.ReadBytes((*[]byte)(&random), 32) ||
		!body.ReadUint8LengthPrefixed(&sessionID) || !body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&compression) {
		return nil, errors.New("short ClientHello")
	}
	h := &hello{}
	for !suites.Empty() {
		var id uint16
		if !suites.ReadUint16(&id) {
			return nil, errors.New("odd cipher suite list")
		}
		h.suites = append(h.suites, id)
	}
	if body.Empty() {
		return h, nil // no extensions
	}
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return nil, errors.New("bad extensions block")
	}
	seen := map[uint16]bool{}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, errors.New("bad extension")
		}
		h.exts = append(h.exts, typ)
		if seen[typ] {
			continue // the first one counts
		}
		seen[typ] = true
		switch typ {
		case extServerName:
			var list cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) {
				return nil, errors.New("bad server_name")
			}
			for !list.Empty() {
				var nameType uint8
				var name cryptobyte.String
				if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
					return nil, errors.New("bad server_name entry")
				}
				if nameType == 0 && h.sni == "" {
					h.sni = string(name)
				}
			}
		case extALPN:
			var list cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) {
				return nil, errors.New("bad ALPN")
			}
			h.alpnSent = true
			for !list.Empty() {
				var proto cryptobyte.String
				if !list.ReadUint8LengthPrefixed(&proto) {
					return nil, errors.New("bad ALPN entry")
				}
				h.alpn = append(h.alpn, string(proto))
			}
		case extSupportedVersions:
			var list cryptobyte.String
			if !data.ReadUint8LengthPrefixed(&list) {
				return nil, errors.New("bad supported_versions")
			}
			h.versions = []uint16{}
			for !list.Empty() {
				var v uint16
				if !list.ReadUint16(&v) {
					return nil, errors.New("odd supported_versions")
				}
				h.versions = append(h.versions, v)
			}
		}
	}
	return h, nil
}

// firstHandshake reassembles the first handshake message from the
// handshake records input starts with.
func firstHandshake(input []byte) ([]byte, error) {
	var hs []byte
	for {
		if len(hs) >= 4 {
			if n := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])); len(hs) >= n {
				return hs[:n], nil
			}
		}
		typ, _, frag, rest, err := nextRecord(input)
		if err != nil {
			return nil, err
		}
		if typ != recordHandshake {
			return nil, fmt.Errorf("record type %d before the hello ends", typ)
		}
		hs, input = append(hs, frag...), rest
	}
}

// nextRecord splits off the first TLS record.
func nextRecord(b []byte) (typ uint8, vers uint16, frag, rest []byte, err error) {
	if len(b) < 5 {
		return 0, 0, nil, nil, errors.New("truncated record header")
	}
	n := int(b[3])<<8 | int(b[4])
	if len(b) < 5+n {
		return 0, 0, nil, nil, errors.New("truncated record")
	}
	return b[0], uint16(b[1])<<8 | uint16(b[2]), b[5 : 5+n], b[5+n:], nil
}

// flight is what the server sent, read in clear.
type flight struct {
	records     []uint8  // record types, in order
	alert       []byte   // the first alert (level, description) sent in clear
	serverHello bool     // a ServerHello (or HelloRetryRequest) came
	retry       bool     // it was a HelloRetryRequest
	version     uint16   // negotiated: supported_versions, else legacy_version
	alpn        string   // the ALPN the ServerHello selected (TLS 1.2: in clear)
	leaf        []byte   // the first certificate of a clear Certificate message (TLS 1.2)
	messages    []uint8  // clear handshake message types
	raw         []byte   // what was read
	problems    []string // what a strict reader refuses
}

// hrrRandom marks a HelloRetryRequest (RFC 8446 §4.1.3).
var hrrRandom = []byte{0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C}

// readFlight reads a server's bytes as TLS records: every record whole,
// of a known type and version, within the size limits; the handshake
// messages before encryption starts parsed.
func readFlight(out []byte) *flight {
	f := &flight{raw: out}
	bad := func(format string, args ...any) { f.problems = append(f.problems, fmt.Sprintf(format, args...)) }
	var hs []byte
	clear := true // until the first encrypted record
	for rest := out; len(rest) > 0; {
		typ, vers, frag, next, err := nextRecord(rest)
		if err != nil {
			bad("%v after %d bytes", err, len(out)-len(rest))
			break
		}
		rest = next
		f.records = append(f.records, typ)
		if vers < 0x0301 || vers > 0x0303 {
			bad("record version %#04x", vers)
		}
		switch typ {
		case recordHandshake, recordAlert, recordCCS:
			if len(frag) > 1<<14 {
				bad("clear record of %d bytes", len(frag))
			}
		case recordAppData:
			if len(frag) > 1<<14+256 {
				bad("encrypted record of %d bytes", len(frag))
			}
			clear = false
		default:
			bad("record type %d", typ)
		}
		if !clear {
			continue
		}
		switch typ {
		case recordHandshake:
			hs = append(hs, frag...)
			hs = f.messagesOf(hs, bad)
		case recordAlert:
			if f.alert == nil {
				f.alert = bytes.Clone(frag)
			}
		}
	}
	if len(hs) > 0 && clear {
		bad("truncated handshake message")
	}
	return f
}

// messagesOf parses the complete handshake messages hs starts with and
// returns the rest.
func (f *flight) messagesOf(hs []byte, bad func(string, ...any)) []byte {
	for len(hs) >= 4 {
		n := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
		if len(hs) < n {
			break
		}
		msg := hs[:n]
		hs = hs[n:]
		f.messages = append(f.messages, msg[0])
		switch msg[0] {
		case 2:
			if err := f.serverHelloMsg(msg[4:]); err != nil {
				bad("ServerHello: %v", err)
			}
		case 11:
			if f.leaf == nil {
				s := cryptobyte.String(msg[4:])
				var list, cert cryptobyte.String
				if !s.ReadUint24LengthPrefixed(&list) || !list.ReadUint24LengthPrefixed(&cert) {
					bad("bad Certificate message")
				}
				f.leaf = bytes.Clone(cert)
			}
		}
	}
	return hs
}

func (f *flight) serverHelloMsg(body []byte) error {
	s := cryptobyte.String(body)
	var vers, suite uint16
	var random []byte
	var sessionID cryptobyte.String
	var compression uint8
	if !s.ReadUint16(&vers) || !s.ReadBytes(&random, 32) || !s.ReadUint8LengthPrefixed(&sessionID) ||
		!s.ReadUint16(&suite) || !s.ReadUint8(&compression) {
		return errors.New("short")
	}
	f.serverHello, f.version = true, vers
	f.retry = bytes.Equal(random, hrrRandom)
	if s.Empty() {
		return nil
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return errors.New("bad extensions block")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return errors.New("bad extension")
		}
		switch typ {
		case extSupportedVersions:
			if !data.ReadUint16(&f.version) {
				return errors.New("bad supported_versions")
			}
		case extALPN:
			var list, proto cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&proto) || !list.Empty() {
				return errors.New("bad ALPN")
			}
			f.alpn = string(proto)
		}
	}
	return nil
}

// helloSpec describes a hand-made ClientHello (seeds that crypto/tls
// clients never send).
type helloSpec struct {
	names     [][2]string // server_name entries: type ("0" host_name), name
	alpn      []string
	noALPN    bool
	tls13     bool // offer TLS 1.3 only (without a key share: a HelloRetryRequest)
	splitAt   int  // > 0: the message is split into two records there
	recordVer uint16
}

// build writes a TLS 1.2 ClientHello that crypto/tls's server accepts
// (ECDHE-ECDSA with P-256), with the given names and protocols.
func (sp helloSpec) build() []byte {
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32))
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0xc02b) // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
			b.AddUint16(0x1301) // TLS_AES_128_GCM_SHA256
		})
		b.AddUint8(1)
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			if len(sp.names) > 0 {
				b.AddUint16(extServerName)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						for _, n := range sp.names {
							typ := uint8(0)
							if n[0] != "0" {
								typ = 1
							}
							b.AddUint8(typ)
							b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(n[1])) })
						}
					})
				})
			}
			b.AddUint16(10) // supported_groups: secp256r1
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(23) })
			})
			b.AddUint16(11) // ec_point_formats: uncompressed
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			})
			b.AddUint16(13) // signature_algorithms: ecdsa_secp256r1_sha256
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0403) })
			})
			if !sp.noALPN {
				b.AddUint16(extALPN)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						for _, p := range sp.alpn {
							b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
						}
					})
				})
			}
			if sp.tls13 {
				b.AddUint16(extSupportedVersions)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0304) })
				})
				b.AddUint16(51) // key_share: none (the server asks again)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {})
				})
			}
		})
	})
	msg := b.BytesOrPanic()
	ver := sp.recordVer
	if ver == 0 {
		ver = 0x0301
	}
	parts := [][]byte{msg}
	if sp.splitAt > 0 && sp.splitAt < len(msg) {
		parts = [][]byte{msg[:sp.splitAt], msg[sp.splitAt:]}
	}
	var out []byte
	for _, p := range parts {
		out = append(out, recordHandshake, byte(ver>>8), byte(ver), byte(len(p)>>8), byte(len(p)))
		out = append(out, p...)
	}
	return out
}
