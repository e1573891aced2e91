package firstbytes

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/hkdf"
)

// A QUIC client's Initial packets (RFC 9000 §17.2.2) carry its TLS
// ClientHello in CRYPTO frames, encrypted with keys that anyone can derive
// from the packet's Destination Connection ID and a salt fixed by the
// version (RFC 9001 §5.2, RFC 9369 §3.3). Reading the SNI therefore takes:
// derive the keys, remove header protection, open the AEAD, gather the
// CRYPTO frames (a ClientHello with post-quantum key shares spans several
// Initials, whose frames may come in any order), then parse the
// ClientHello like one sent over TCP.

// quicSuite is what differs between the versions netmon reads.
type quicSuite struct {
	name    string
	salt    []byte
	labels  [3]string // HKDF-Expand-Label labels of key, iv and hp
	initial byte      // long-header packet type of Initial
	crypto  uint64    // frame type of CRYPTO: 0x06, but 0x08 in Google's T05x
	// chlo: the crypto stream holds a Google QUIC CHLO message rather
	// than a TLS ClientHello (Q050 encrypts its Initial, Q046 and older
	// do not).
	chlo bool
}

var (
	labelsV1 = [3]string{"quic key", "quic iv", "quic hp"}
	labelsV2 = [3]string{"quicv2 key", "quicv2 iv", "quicv2 hp"}

	suiteV1 = quicSuite{name: "v1", labels: labelsV1, crypto: 0x06,
		salt: []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}}
	suiteV2 = quicSuite{name: "v2", labels: labelsV2, initial: 1, crypto: 0x06,
		salt: []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}}
	suiteDraft29 = quicSuite{name: "draft-29", labels: labelsV1, crypto: 0x06,
		salt: []byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}}
	suiteDraft23 = quicSuite{name: "draft-23", labels: labelsV1, crypto: 0x06,
		salt: []byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}}
	suiteDraft22 = quicSuite{name: "draft-22", labels: labelsV1, crypto: 0x06,
		salt: []byte{0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a}}
	suiteQ050 = quicSuite{name: "Q050", labels: labelsV1, chlo: true,
		salt: []byte{0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94, 0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0, 0xd3, 0xb5, 0x6b, 0x45}}
	suiteT050 = quicSuite{name: "T050", labels: labelsV1, crypto: 0x08,
		salt: []byte{0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c, 0x60, 0x48, 0x83, 0x10}}
	suiteT051 = quicSuite{name: "T051", labels: labelsV1, crypto: 0x08,
		salt: []byte{0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d}}
)

// QUIC versions with a suite of their own.
const (
	quicV1   = 0x00000001
	quicV2   = 0x6b3343cf
	quicQ050 = 0x51303530 // "Q050"
	quicT050 = 0x54303530 // "T050"
	quicT051 = 0x54303531 // "T051"
)

// unknownSuites are tried, in order, on the Initial of a version netmon
// does not know (a reserved 0x?a?a?a?a one that forces version
// negotiation, an experiment): clients protect such Initials with the keys
// of a version they do speak, and the AEAD tag rejects a wrong guess.
var unknownSuites = []*quicSuite{&suiteV1, &suiteDraft29, &suiteDraft23}

// quicSuiteFor returns the suite of version, or, with known false,
// version 1's: the packet layout to read an unknown version's Initial with.
func quicSuiteFor(version uint32) (*quicSuite, bool) {
	switch version {
	case quicV1:
		return &suiteV1, true
	case quicV2:
		return &suiteV2, true
	case quicQ050:
		return &suiteQ050, true
	case quicT050:
		return &suiteT050, true
	case quicT051:
		return &suiteT051, true
	case 0xfaceb001: // Facebook mvfst, draft-22 based
		return &suiteDraft22, true
	case 0xfaceb002, 0xfaceb00e: // mvfst draft-27 based, and its experimental version
		return &suiteDraft23, true
	}
	if version>>8 == 0xff0000 { // IETF drafts
		switch d := version & 0xff; {
		case d >= 33 && d <= 34:
			return &suiteV1, true
		case d >= 29 && d <= 32:
			return &suiteDraft29, true
		case d >= 23 && d <= 28:
			return &suiteDraft23, true
		case d == 22:
			return &suiteDraft22, true
		}
	}
	return &suiteV1, false
}

// quicKeys are the client Initial keys of one connection.
type quicKeys struct {
	suite   *quicSuite
	dcid    [20]byte
	dcidLen uint8
	aead    cipher.AEAD
	hp      cipher.Block
	iv      [12]byte
}

// deriveQUICKeys derives the client Initial keys for dcid (RFC 9001 §5.2).
func deriveQUICKeys(s *quicSuite, dcid []byte) (*quicKeys, error) {
	initial := hkdf.Extract(sha256.New, dcid, s.salt)
	client, err := expandLabel(initial, "client in", sha256.Size)
	if err != nil {
		return nil, err
	}
	key, err := expandLabel(client, s.labels[0], 16)
	if err != nil {
		return nil, err
	}
	iv, err := expandLabel(client, s.labels[1], 12)
	if err != nil {
		return nil, err
	}
	hpKey, err := expandLabel(client, s.labels[2], 16)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	hp, err := aes.NewCipher(hpKey)
	if err != nil {
		return nil, err
	}
	k := &quicKeys{suite: s, aead: aead, hp: hp}
	k.dcidLen = uint8(copy(k.dcid[:], dcid))
	copy(k.iv[:], iv)
	return k, nil
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context (RFC
// 8446 §7.1), which QUIC uses for its Initial secrets.
func expandLabel(secret []byte, label string, n int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint16(uint16(n))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddBytes([]byte("tls13 "))
		b.AddBytes([]byte(label))
	})
	b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
	info, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, secret, info), out); err != nil {
		return nil, err
	}
	return out, nil
}

// QUICFlow is a QUIC flow's progress toward its ClientHello, kept between
// its datagrams.
type QUICFlow struct {
	keys   *quicKeys
	crypto Stream // the CRYPTO stream from offset 0
	tries  uint8  // Initials that failed to open
}

// Crypto returns the CRYPTO stream gathered so far.
func (f *QUICFlow) Crypto() *Stream { return &f.crypto }

// QUIC reads the Initial packets of QUIC clients. It holds the scratch
// space that opening a packet needs, so that reading one allocates
// nothing; one QUIC serves one goroutine.
type QUIC struct {
	pkt   []byte // a packet with its header protection removed
	plain []byte // a decrypted payload
	// mask and nonce live here: on the stack they would escape through
	// the cipher interfaces, an allocation per packet.
	mask  [16]byte
	nonce [12]byte
}

// QUICCounts is what the packets of one datagram were, for the caller to
// count.
type QUICCounts struct {
	Initials       int // Initial packets decrypted (and gQUIC CHLO packets read)
	Undecryptable  int // long-header packets that could not be parsed or opened
	Skipped        int // packets that cannot carry a ClientHello: 0-RTT, Handshake, short header, version negotiation
	UnknownVersion int // Initials of an unknown version that opened with version 1 keys
}

// maxQUICTries bounds the Initials of one flow that may fail to open
// before the flow is given up: a few lost or foreign packets are normal,
// a stream of them is not QUIC.
const maxQUICTries = 4

// Datagram reads the long-header packets of one client datagram of flow
// st. It returns the ClientHello's name once the CRYPTO frames gathered so
// far hold all of it, and what the datagram's packets were. limit bounds
// the ClientHello: one larger cannot be buffered and is given up.
func (q *QUIC) Datagram(st *QUICFlow, dgram []byte, limit int) (h Hello, s Status, c QUICCounts) {
	for first := true; len(dgram) > 0; first = false {
		if !first && (dgram[0]&0x80 == 0 || len(dgram) < 7 || binary.BigEndian.Uint32(dgram[1:5]) == 0) {
			// What follows the long-header packets is a 1-RTT packet or
			// padding: nothing more to read in this datagram.
			break
		}
		if dgram[0]&0x80 == 0 {
			// Google QUIC up to Q043 has a public header whose flags say
			// a version follows the 8-byte connection ID.
			if len(dgram) > 13 && dgram[0]&0x09 == 0x09 && gquicClear(binary.BigEndian.Uint32(dgram[9:13])) {
				c.Initials++
				h, s = gquicCHLO(dgram)
				return h, s, c
			}
			// A short header: the handshake is over, or this is not QUIC.
			c.Skipped++
			return Hello{}, NoName, c
		}
		if len(dgram) < 7 {
			c.Undecryptable++
			return Hello{}, NoName, c
		}
		version := binary.BigEndian.Uint32(dgram[1:5])
		if version == 0 {
			c.Skipped++ // version negotiation
			return Hello{}, NoName, c
		}
		if gquicClear(version) {
			c.Initials++
			h, s = gquicCHLO(dgram)
			return h, s, c
		}
		suite, known := quicSuiteFor(version)
		pkt, rest, pnOff, isInitial, ok := quicPacket(dgram, suite)
		if !ok {
			c.Undecryptable++
			if !first {
				break // a damaged packet after good ones: keep what they gave
			}
			return Hello{}, NoName, c
		}
		dgram = rest
		if !isInitial {
			c.Skipped++ // 0-RTT or Handshake coalesced after the Initial
			continue
		}
		suites := unknownSuites
		if known {
			var one [1]*quicSuite
			one[0] = suite
			suites = one[:]
		}
		plain, opened, ok := q.openInitial(st, suites, pkt, pnOff)
		if !ok {
			c.Undecryptable++
			if st.tries++; st.tries >= maxQUICTries {
				return Hello{}, NoName, c
			}
			continue
		}
		c.Initials++
		if !known {
			c.UnknownVersion++
		}
		if opened.chlo {
			// Q050 frames are Google's own; the CHLO they carry is found
			// by its tag, as in the clear versions.
			if h, s = gquicCHLO(plain); s == Found {
				return h, s, c
			}
			continue
		}
		if !cryptoFrames(plain, opened.crypto, &st.crypto, limit) {
			return Hello{}, NoName, c
		}
	}
	b := st.crypto.buf
	if len(b) < 4 {
		return Hello{}, NeedMore, c
	}
	if b[0] != tlsClientHello {
		return Hello{}, NoName, c
	}
	need := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
	if need > limit {
		return Hello{}, NoName, c
	}
	if len(b) < need {
		return Hello{}, NeedMore, c
	}
	info, ok := parseClientHello(b[4:need])
	if !ok || info.SNI == nil {
		return info, NoName, c
	}
	return info, Found, c
}

// quicPacket splits the first long-header packet off a datagram (RFC 9000
// §17.2). pnOff is the offset of the protected packet number.
func quicPacket(b []byte, s *quicSuite) (pkt, rest []byte, pnOff int, initial, ok bool) {
	c := cryptobyte.String(b[5:])
	var dcid, scid []byte
	if !c.ReadUint8LengthPrefixed((*cryptobyte.String)(&dcid)) || len(dcid) > 20 ||
		!c.ReadUint8LengthPrefixed((*cryptobyte.String)(&scid)) || len(scid) > 20 {
		return nil, nil, 0, false, false
	}
	typ := b[0] >> 4 & 3
	if typ == (s.initial+3)&3 {
		return nil, nil, 0, false, false // Retry: sent by servers only, and without a length
	}
	initial = typ == s.initial
	if initial {
		var token uint64
		if !readVarint(&c, &token) || token > uint64(len(c)) || !c.Skip(int(token)) {
			return nil, nil, 0, false, false
		}
	}
	var length uint64
	if !readVarint(&c, &length) || length > uint64(len(c)) {
		return nil, nil, 0, false, false
	}
	pnOff = len(b) - len(c)
	end := pnOff + int(length)
	return b[:end], b[end:], pnOff, initial, true
}

// openInitial removes header protection and decrypts one Initial packet
// (RFC 9001 §5.3-5.4) into q's scratch, with the keys of the
// first of suites that opens it. It tries the flow's keys first: a client
// keeps the keys of its first Initial even after the server's reply
// changes the DCID it sends.
func (q *QUIC) openInitial(st *QUICFlow, suites []*quicSuite, pkt []byte, pnOff int) ([]byte, *quicSuite, bool) {
	if len(pkt) < pnOff+4+16 {
		return nil, nil, false
	}
	dcid := pkt[6 : 6+int(pkt[5])]
	if k := st.keys; k != nil && slices.Contains(suites, k.suite) {
		if plain, ok := q.unprotect(k, pkt, pnOff); ok {
			return plain, k.suite, true
		}
		if bytes.Equal(k.dcid[:k.dcidLen], dcid) {
			return nil, nil, false // the keys of this very DCID failed
		}
	}
	for _, s := range suites {
		k, err := deriveQUICKeys(s, dcid)
		if err != nil {
			return nil, nil, false
		}
		if plain, ok := q.unprotect(k, pkt, pnOff); ok {
			st.keys = k
			return plain, s, true
		}
	}
	return nil, nil, false
}

func (q *QUIC) unprotect(k *quicKeys, protected []byte, pnOff int) ([]byte, bool) {
	pkt := append(q.pkt[:0], protected...)
	q.pkt = pkt
	mask := q.mask[:]
	k.hp.Encrypt(mask, pkt[pnOff+4:pnOff+4+aes.BlockSize])
	pkt[0] ^= mask[0] & 0x0f
	pnLen := int(pkt[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		pkt[pnOff+i] ^= mask[1+i]
		pn = pn<<8 | uint64(pkt[pnOff+i])
	}
	q.nonce = k.iv
	for i := range 8 {
		q.nonce[11-i] ^= byte(pn >> (8 * i))
	}
	hdr := pkt[:pnOff+pnLen]
	plain, err := k.aead.Open(q.plain[:0], q.nonce[:], pkt[pnOff+pnLen:], hdr)
	if err != nil {
		return nil, false
	}
	q.plain = plain
	return plain, true
}

// cryptoFrames adds the CRYPTO frames of a decrypted Initial payload to
// crypto (RFC 9000 §19). An Initial may hold only PADDING, PING, ACK,
// CRYPTO and CONNECTION_CLOSE; anything else ends the packet. It reports
// false when the stream cannot be held.
func cryptoFrames(p []byte, cryptoType uint64, crypto *Stream, limit int) bool {
	s := cryptobyte.String(p)
	for !s.Empty() {
		var typ uint64
		if !readVarint(&s, &typ) {
			return true
		}
		switch typ {
		case 0x00, 0x01: // PADDING, PING
		case 0x02, 0x03: // ACK, ACK with ECN counts
			var largest, delay, n, first uint64
			if !readVarint(&s, &largest) || !readVarint(&s, &delay) || !readVarint(&s, &n) || !readVarint(&s, &first) {
				return true
			}
			for i := uint64(0); i < n; i++ {
				var gap, r uint64
				if !readVarint(&s, &gap) || !readVarint(&s, &r) {
					return true
				}
			}
			if typ == 0x03 {
				var e uint64
				if !readVarint(&s, &e) || !readVarint(&s, &e) || !readVarint(&s, &e) {
					return true
				}
			}
		case cryptoType: // CRYPTO
			var off, n uint64
			var data []byte
			if !readVarint(&s, &off) || !readVarint(&s, &n) || n > uint64(len(s)) || !s.ReadBytes(&data, int(n)) {
				return true
			}
			if off >= uint64(limit) {
				continue // beyond what a ClientHello netmon reads can reach
			}
			if !crypto.Add(int(off), data, limit) {
				return false
			}
		default: // CONNECTION_CLOSE, or a frame an Initial may not carry
			return true
		}
	}
	return true
}

// readVarint reads a QUIC variable-length integer (RFC 9000 §16).
func readVarint(s *cryptobyte.String, v *uint64) bool {
	var b uint8
	if !s.ReadUint8(&b) {
		return false
	}
	n := 1 << (b >> 6)
	x := uint64(b & 0x3f)
	for i := 1; i < n; i++ {
		if !s.ReadUint8(&b) {
			return false
		}
		x = x<<8 | uint64(b)
	}
	*v = x
	return true
}

// gquicClear reports whether version is a Google QUIC version older than
// Q050, whose handshake travels unencrypted ("Q043", "Q046"...).
func gquicClear(version uint32) bool {
	return version>>16 == 'Q'<<8|'0' && version < quicQ050 &&
		'0' <= byte(version>>8) && byte(version>>8) <= '9' && '0' <= byte(version) && byte(version) <= '9'
}

// gquicCHLO finds the client hello of Google QUIC (a "CHLO" tag-value
// message) in b and reads its SNI tag. The message sits in a stream frame
// after a header and a hash whose layout changed with every version, so
// it is found by its tag and then checked field by field.
func gquicCHLO(b []byte) (Hello, Status) {
	i := bytes.Index(b, []byte("CHLO"))
	if i < 0 {
		return Hello{}, NoName
	}
	m := b[i+4:]
	if len(m) < 4 {
		return Hello{}, NoName
	}
	n := int(binary.LittleEndian.Uint16(m))
	table := m[4:]
	if n == 0 || n > 128 || len(table) < 8*n {
		return Hello{}, NoName
	}
	values := table[8*n:]
	var start uint32
	for j := range n {
		tag := table[8*j : 8*j+4]
		end := binary.LittleEndian.Uint32(table[8*j+4:])
		if end < start || end > uint32(len(values)) {
			return Hello{}, NoName
		}
		if string(tag) == "SNI\x00" && end > start {
			return Hello{SNI: values[start:end]}, Found
		}
		start = end
	}
	return Hello{}, NoName
}
