package resolver

import (
	"encoding/binary"

	"golang.org/x/crypto/cryptobyte"
)

// status is what a first-bytes parser concluded from the bytes so far.
type status uint8

const (
	// needMore: the bytes are a valid beginning; more may bring a name.
	needMore status = iota
	// found: the name is there.
	found
	// noName: the message is complete without a name, or the bytes are
	// not this protocol. More bytes would not change that.
	noName
)

// TLS constants (RFC 8446).
const (
	tlsRecordHandshake  = 0x16
	tlsClientHello      = 1
	tlsExtServerName    = 0x0000
	tlsExtECH           = 0xfe0d // encrypted_client_hello (RFC 9849 drafts)
	tlsExtESNI          = 0xffce // encrypted_server_name (draft-ietf-tls-esni-0x)
	tlsMaxRecord        = 1<<14 + 2048
	tlsServerNameHostNm = 0
)

// helloInfo is what netmon reads from a ClientHello.
type helloInfo struct {
	sni   []byte // the server_name host name, aliasing the message; nil if absent
	outer bool   // an ECH or ESNI extension was present: sni is the public name
}

// tlsHello finds the first handshake message in a TLS client stream that
// may span several records, and parses it as a ClientHello. When the
// message lies in one record (the usual case) it is read in place; a
// message split over records is joined in *scratch. limit bounds the
// message: one larger cannot be buffered and is given up.
func tlsHello(stream []byte, scratch *[]byte, limit int) (helloInfo, status) {
	var hs []byte
	joined := false
	for off := 0; ; {
		if len(stream)-off < 5 {
			return helloInfo{}, needMore
		}
		h := stream[off : off+5]
		if h[0] != tlsRecordHandshake || h[1] != 3 {
			return helloInfo{}, noName
		}
		n := int(binary.BigEndian.Uint16(h[3:]))
		if n == 0 || n > tlsMaxRecord {
			return helloInfo{}, noName
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
				return helloInfo{}, noName
			}
			need := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
			if need > limit {
				return helloInfo{}, noName
			}
			if len(hs) >= need {
				info, ok := parseClientHello(hs[4:need])
				if !ok || info.sni == nil {
					return info, noName
				}
				return info, found
			}
		}
		if partial {
			return helloInfo{}, needMore
		}
		off += 5 + n
	}
}

// parseClientHello reads the body of a ClientHello (RFC 8446 §4.1.2; the
// TLS 1.2 form is the same up to the extensions). It reports false when
// the body is malformed.
func parseClientHello(body []byte) (helloInfo, bool) {
	var info helloInfo
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
			if info.sni != nil {
				return info, false // a repeated extension is a protocol error
			}
			name, ok := serverName(data)
			if !ok {
				return info, false
			}
			info.sni = name
		case tlsExtECH, tlsExtESNI:
			info.outer = true
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
