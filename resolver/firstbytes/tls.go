package firstbytes

import (
	"encoding/binary"

	"golang.org/x/crypto/cryptobyte"
)

// HandshakeRecord is the first byte of a TLS stream that begins with a
// handshake (RFC 8446 §5.1): what a ClientHello starts with.
const HandshakeRecord = 0x16

// TLS constants (RFC 8446).
const (
	tlsClientHello      = 1
	tlsExtServerName    = 0x0000
	tlsExtECH           = 0xfe0d // encrypted_client_hello (RFC 9849 drafts)
	tlsExtESNI          = 0xffce // encrypted_server_name (draft-ietf-tls-esni-0x)
	tlsMaxRecord        = 1<<14 + 2048
	tlsServerNameHostNm = 0
)

// Hello is what netmon reads from a ClientHello.
type Hello struct {
	SNI   []byte // the server_name host name, aliasing the message; nil if absent
	Outer bool   // an ECH or ESNI extension was present: SNI is the public name
}

// TLS finds the first handshake message in a TLS client stream that
// may span several records, and parses it as a ClientHello. When the
// message lies in one record (the usual case) it is read in place; a
// message split over records is joined in *scratch. limit bounds the
// message: one larger cannot be buffered and is given up.
func TLS(stream []byte, scratch *[]byte, limit int) (Hello, Status) {
	var hs []byte
	joined := false
	for off := 0; ; {
		if len(stream)-off < 5 {
			return Hello{}, NeedMore
		}
		h := stream[off : off+5]
		if h[0] != HandshakeRecord || h[1] != 3 {
			return Hello{}, NoName
		}
		n := int(binary.BigEndian.Uint16(h[3:]))
		if n == 0 || n > tlsMaxRecord {
			return Hello{}, NoName
		}
		frag := stream[off+5:]
		partial := len(frag) < n
		if !partial {
			frag = frag[:n]
		}
		switch {
		case hs == nil && !joined:
			hs = frag
		default:
			if !joined {
				*scratch = append((*scratch)[:0], hs...)
				joined = true
			}
			*scratch = append(*scratch, frag...)
			hs = *scratch
		}
		if len(hs) >= 4 {
			if hs[0] != tlsClientHello {
				return Hello{}, NoName
			}
			need := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
			if need > limit {
				return Hello{}, NoName
			}
			if len(hs) >= need {
				info, ok := parseClientHello(hs[4:need])
				if !ok || info.SNI == nil {
					return info, NoName
				}
				return info, Found
			}
		}
		if partial {
			return Hello{}, NeedMore
		}
		off += 5 + n
	}
}

// parseClientHello reads the body of a ClientHello (RFC 8446 §4.1.2; the
// TLS 1.2 form is the same up to the extensions). It reports false when
// the body is malformed.
func parseClientHello(body []byte) (Hello, bool) {
	var info Hello
	s := cryptobyte.String(body)
	var version uint16
	var random, sessionID, suites, compression cryptobyte.String
	if !s.ReadUint16(&version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sessionID) || !s.ReadUint16LengthPrefixed(&suites) ||
		!s.ReadUint8LengthPrefixed(&compression) {
		return info, false
	}
	if s.Empty() {
		return info, true // no extensions, so no name (SSL 3.0 style)
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return info, false
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return info, false
		}
		switch typ {
		case tlsExtServerName:
			if info.SNI != nil {
				return info, false // a repeated extension is a protocol error
			}
			name, ok := serverName(data)
			if !ok {
				return info, false
			}
			info.SNI = name
		case tlsExtECH, tlsExtESNI:
			info.Outer = true
		}
	}
	return info, true
}

// serverName returns the first host_name of a server_name extension
// (RFC 6066 §3).
func serverName(data cryptobyte.String) ([]byte, bool) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
		return nil, false
	}
	for !list.Empty() {
		var typ uint8
		var name cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return nil, false
		}
		if typ == tlsServerNameHostNm && len(name) > 0 {
			return name, true
		}
	}
	return nil, true
}
