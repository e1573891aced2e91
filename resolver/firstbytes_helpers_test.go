package resolver

import (
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/netmon/netmon/capture"
)

// helloOpts describes a ClientHello built by clientHello.
type helloOpts struct {
	sni  string // no server_name extension when empty
	ech  bool   // an encrypted_client_hello extension (outer)
	esni bool   // a draft encrypted_server_name extension
	pad  int    // bytes of padding extension, to make the message large
}

// clientHello builds a TLS 1.3 ClientHello handshake message (type,
// length, body) the way browsers lay it out.
func clientHello(o helloOpts) []byte {
	var b cryptobyte.Builder
	b.AddUint8(tlsClientHello)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32)) // random
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f} {
				b.AddUint16(s)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			ext := func(typ uint16, body func(*cryptobyte.Builder)) {
				b.AddUint16(typ)
				b.AddUint16LengthPrefixed(body)
			}
			ext(0x0a0a, func(*cryptobyte.Builder) {}) // GREASE
			if o.sni != "" {
				ext(tlsExtServerName, func(b *cryptobyte.Builder) {
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						b.AddUint8(tlsServerNameHostNm)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(o.sni)) })
					})
				})
			}
			ext(0x002b, func(b *cryptobyte.Builder) { // supported_versions
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0304); b.AddUint16(0x0303) })
			})
			if o.ech {
				ext(tlsExtECH, func(b *cryptobyte.Builder) { b.AddUint8(0); b.AddBytes(make([]byte, 200)) })
			}
			if o.esni {
				ext(tlsExtESNI, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 100)) })
			}
			if o.pad > 0 {
				ext(0x0015, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, o.pad)) })
			}
		})
	})
	return b.BytesOrPanic()
}

// records frames a handshake message as TLS records whose fragments have
// the given sizes; the last record takes the rest.
func records(msg []byte, sizes ...int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := len(msg)
		if len(sizes) > 0 {
			n, sizes = min(sizes[0], len(msg)), sizes[1:]
		}
		out = append(out, tlsRecordHandshake, 3, 1)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// goClientHello returns the first record Go's own TLS client sends for
// sni: a real-world ClientHello, not one laid out by this test.
func goClientHello(t testing.TB, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
		c.Close()
	}()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000)
	}
	return binary.BigEndian.AppendUint64(b, v|0xc000000000000000)
}

// cryptoFrame is a QUIC CRYPTO frame carrying data at off.
func cryptoFrame(off int, data []byte) []byte {
	b := appendVarint([]byte{0x06}, uint64(off))
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// initialOpts describes a client Initial built by quicInitial.
type initialOpts struct {
	version uint32
	dcid    []byte
	pn      uint32
	pnLen   int
	frames  []byte
	padTo   int        // pad the payload with PADDING frames to this length
	suite   *quicSuite // keys to protect with; the version's own when nil
}

// quicInitial protects a client Initial the way a client does (RFC 9001
// §5): AEAD over the payload with the header as associated data, then
// header protection. It is the inverse of Learner.openInitial.
func quicInitial(t testing.TB, o initialOpts) []byte {
	t.Helper()
	s := o.suite
	if s == nil {
		s, _ = quicSuiteFor(o.version)
	}
	k, err := deriveQUICKeys(s, o.dcid)
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte(nil), o.frames...)
	for len(payload) < o.padTo {
		payload = append(payload, 0)
	}
	hdr := []byte{0xc0 | s.initial<<4 | byte(o.pnLen-1)}
	hdr = binary.BigEndian.AppendUint32(hdr, o.version)
	hdr = append(hdr, byte(len(o.dcid)))
	hdr = append(hdr, o.dcid...)
	hdr = append(hdr, 0, 0) // no SCID, no token
	hdr = binary.BigEndian.AppendUint16(hdr, 0x4000|uint16(o.pnLen+len(payload)+16))
	pnOff := len(hdr)
	for i := o.pnLen - 1; i >= 0; i-- {
		hdr = append(hdr, byte(o.pn>>(8*i)))
	}
	nonce := k.iv
	for i := range 8 {
		nonce[11-i] ^= byte(uint64(o.pn) >> (8 * i))
	}
	sealed := k.aead.Seal(nil, nonce[:], payload, hdr)
	var mask [16]byte
	k.hp.Encrypt(mask[:], sealed[4-o.pnLen:4-o.pnLen+16])
	hdr[0] ^= mask[0] & 0x0f
	for i := range o.pnLen {
		hdr[pnOff+i] ^= mask[1+i]
	}
	return append(hdr, sealed...)
}

// gquicQ043 builds a Google QUIC Q043 client packet holding a CHLO with the
// given tags, in the clear as Q043 sends it.
func gquicQ043(tags map[string]string) []byte {
	names := []string{"PAD\x00", "SNI\x00", "VER\x00"}
	var table, values []byte
	n := 0
	for _, tag := range names {
		v, ok := tags[tag]
		if !ok {
			continue
		}
		values = append(values, v...)
		table = append(table, tag...)
		table = binary.LittleEndian.AppendUint32(table, uint32(len(values)))
		n++
	}
	msg := []byte("CHLO")
	msg = binary.LittleEndian.AppendUint16(msg, uint16(n))
	msg = append(msg, 0, 0)
	msg = append(append(msg, table...), values...)
	p := []byte{0x0d, 1, 2, 3, 4, 5, 6, 7, 8, 'Q', '0', '4', '3', 1}
	p = append(p, make([]byte, 12)...) // message authentication hash
	p = append(p, 0xa0, 0x01)          // stream frame on stream 1
	p = binary.BigEndian.AppendUint16(p, uint16(len(msg)))
	return append(p, msg...)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Endpoints of the flows built in these tests.
var (
	dev    = netip.MustParseAddr("192.168.1.23")
	dev2   = netip.MustParseAddr("192.168.1.24")
	web    = netip.MustParseAddr("198.51.100.7")
	web6   = netip.MustParseAddr("2001:db8:1::7")
	dev6   = netip.MustParseAddr("2001:db8::23")
	devPrt = uint16(50000)
)

// seg builds a TCP packet; ms is packet time in milliseconds after t0.
func seg(ms int, src, dst netip.Addr, sport, dport uint16, flags uint8, seq uint32, payload []byte) capture.Packet {
	return capture.Packet{TS: t0.Add(time.Duration(ms) * time.Millisecond), WireLen: uint32(54 + len(payload)),
		Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: capture.ProtoTCP, TCPFlags: flags, Seq: seq,
		Payload: payload}
}

// dgram builds a UDP packet.
func dgram(ms int, src, dst netip.Addr, sport, dport uint16, payload []byte) capture.Packet {
	return capture.Packet{TS: t0.Add(time.Duration(ms) * time.Millisecond), WireLen: uint32(42 + len(payload)),
		Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: capture.ProtoUDP, Payload: payload}
}
