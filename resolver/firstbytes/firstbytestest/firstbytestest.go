// Package firstbytestest builds the first bytes of flows for tests: TLS
// ClientHellos and the records that carry them, QUIC Initial packets
// protected as a client protects them, Google QUIC CHLOs; and it reads
// real first bytes out of the shared captures to seed fuzz targets with.
// It follows the RFCs on its own, without package firstbytes, so that the
// parsers are checked against an independent writer.
package firstbytestest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/capture/capturetest"
)

// HelloOpts describes a ClientHello built by ClientHello.
type HelloOpts struct {
	SNI  string // no server_name extension when empty
	ECH  bool   // an encrypted_client_hello extension (outer)
	ESNI bool   // a draft encrypted_server_name extension
	Pad  int    // bytes of padding extension, to make the message large
}

// TLS constants (RFC 8446, RFC 6066, the ECH and ESNI drafts).
const (
	tlsRecordHandshake  = 0x16
	tlsClientHello      = 1
	tlsExtServerName    = 0x0000
	tlsExtECH           = 0xfe0d
	tlsExtESNI          = 0xffce
	tlsServerNameHostNm = 0
)

// ClientHello builds a TLS 1.3 ClientHello handshake message (type,
// length, body) the way browsers lay it out.
func ClientHello(o HelloOpts) []byte {
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
			if o.SNI != "" {
				ext(tlsExtServerName, func(b *cryptobyte.Builder) {
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						b.AddUint8(tlsServerNameHostNm)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(o.SNI)) })
					})
				})
			}
			ext(0x002b, func(b *cryptobyte.Builder) { // supported_versions
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x0304); b.AddUint16(0x0303) })
			})
			if o.ECH {
				ext(tlsExtECH, func(b *cryptobyte.Builder) { b.AddUint8(0); b.AddBytes(make([]byte, 200)) })
			}
			if o.ESNI {
				ext(tlsExtESNI, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 100)) })
			}
			if o.Pad > 0 {
				ext(0x0015, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, o.Pad)) })
			}
		})
	})
	return b.BytesOrPanic()
}

// Records frames a handshake message as TLS records whose fragments have
// the given sizes; the last record takes the rest.
func Records(msg []byte, sizes ...int) []byte {
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

// GoClientHello returns the first record Go's own TLS client sends for
// sni: a real-world ClientHello, not one laid out by this test.
func GoClientHello(t testing.TB, sni string) []byte {
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

// appendVarint appends v as a QUIC variable-length integer (RFC 9000 §16).
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

// CryptoFrame is a QUIC CRYPTO frame carrying data at off.
func CryptoFrame(off int, data []byte) []byte {
	b := appendVarint([]byte{0x06}, uint64(off))
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// QUIC versions whose Initials QUICInitial protects.
const (
	QUICv1      = 0x00000001
	QUICv2      = 0x6b3343cf
	QUICDraft29 = 0xff00001d
	QUICT050    = 0x54303530 // Google's T050: v1's layout, its own salt, CRYPTO frames of type 0x08
)

// quicSalts are the Initial salts (RFC 9001 §5.2, RFC 9369 §3.3.1,
// draft-ietf-quic-tls-29 §5.2, Chromium for T050).
var quicSalts = map[uint32]string{
	QUICv1:      "38762cf7f55934b34d179ae6a4c80cadccbb7f0a",
	QUICv2:      "0dede3def700a6db819381be6e269dcbf9bd2ed9",
	QUICDraft29: "afbfec289993d24c9e9786f19c6111e04390a899",
	QUICT050:    "7ff579e5acd072915580304c43a2367c60488310",
}

// InitialOpts describes a client Initial built by QUICInitial.
type InitialOpts struct {
	Version uint32
	DCID    []byte
	PN      uint32
	PNLen   int
	Frames  []byte
	PadTo   int // pad the payload with PADDING frames to this length
	// KeysOf protects the packet with the Initial keys of this version
	// (one of the constants above) instead of Version's own: what a client
	// does for a version it does not know. KeysDCID derives them from this
	// connection ID instead of DCID: a client keeps its first keys after
	// the server changes the DCID it sends to.
	KeysOf   uint32
	KeysDCID []byte
}

// QUICInitial protects a client Initial the way a client does (RFC 9001
// §5): AEAD over the payload with the header as associated data, then
// header protection.
func QUICInitial(t testing.TB, o InitialOpts) []byte {
	t.Helper()
	keysOf, dcid := o.Version, o.DCID
	if o.KeysOf != 0 {
		keysOf = o.KeysOf
	}
	if o.KeysDCID != nil {
		dcid = o.KeysDCID
	}
	aead, hp, iv := initialKeys(t, keysOf, dcid)
	payload := append([]byte(nil), o.Frames...)
	for len(payload) < o.PadTo {
		payload = append(payload, 0)
	}
	var initial byte // long-header packet type of Initial: 0, but 1 in v2 (RFC 9369 §3.2)
	if o.Version == QUICv2 {
		initial = 1
	}
	hdr := []byte{0xc0 | initial<<4 | byte(o.PNLen-1)}
	hdr = binary.BigEndian.AppendUint32(hdr, o.Version)
	hdr = append(hdr, byte(len(o.DCID)))
	hdr = append(hdr, o.DCID...)
	hdr = append(hdr, 0, 0) // no SCID, no token
	hdr = binary.BigEndian.AppendUint16(hdr, 0x4000|uint16(o.PNLen+len(payload)+16))
	pnOff := len(hdr)
	for i := o.PNLen - 1; i >= 0; i-- {
		hdr = append(hdr, byte(o.PN>>(8*i)))
	}
	nonce := iv
	for i := range 8 {
		nonce[11-i] ^= byte(uint64(o.PN) >> (8 * i))
	}
	sealed := aead.Seal(nil, nonce[:], payload, hdr)
	var mask [16]byte
	hp.Encrypt(mask[:], sealed[4-o.PNLen:4-o.PNLen+16])
	hdr[0] ^= mask[0] & 0x0f
	for i := range o.PNLen {
		hdr[pnOff+i] ^= mask[1+i]
	}
	return append(hdr, sealed...)
}

// initialKeys derives a client's Initial keys for dcid (RFC 9001 §5.2).
func initialKeys(t testing.TB, version uint32, dcid []byte) (cipher.AEAD, cipher.Block, [12]byte) {
	t.Helper()
	salt, ok := quicSalts[version]
	if !ok {
		t.Fatalf("no Initial salt for QUIC version %#x", version)
	}
	label := "quic "
	if version == QUICv2 {
		label = "quicv2 "
	}
	saltBytes, _ := hex.DecodeString(salt)
	initial, err := hkdf.Extract(sha256.New, dcid, saltBytes)
	if err != nil {
		t.Fatal(err)
	}
	client := expandLabel(t, initial, "client in", sha256.Size)
	block, err := aes.NewCipher(expandLabel(t, client, label+"key", 16))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	hp, err := aes.NewCipher(expandLabel(t, client, label+"hp", 16))
	if err != nil {
		t.Fatal(err)
	}
	var iv [12]byte
	copy(iv[:], expandLabel(t, client, label+"iv", 12))
	return aead, hp, iv
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context (RFC
// 8446 §7.1).
func expandLabel(t testing.TB, secret []byte, label string, n int) []byte {
	t.Helper()
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len("tls13 "+label)))
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// GQUICQ043 builds a Google QUIC Q043 client packet holding a CHLO with the
// given tags, in the clear as Q043 sends it.
func GQUICQ043(tags map[string]string) []byte {
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

// SharedPayloads returns up to n payloads that the Decoder, as netmon
// runs it, copies from the shared captures and that keep says are wanted:
// real first bytes to seed the fuzz targets with. They are read at run
// time and never committed (see the captures' README); without the
// captures the test is skipped, as capturetest.Dir says.
func SharedPayloads(tb testing.TB, n int, keep func(p *capture.Packet) bool) [][]byte {
	tb.Helper()
	dir := capturetest.Dir(tb)
	files, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	seen := make(map[string]bool)
	for _, f := range files {
		if f.IsDir() || !(strings.HasSuffix(f.Name(), ".pcap") || strings.HasSuffix(f.Name(), ".pcapng")) {
			continue
		}
		src, err := capture.OpenFile(filepath.Join(dir, f.Name()), "")
		if err != nil {
			continue // a capture the Decoder refuses has nothing to give
		}
		ch := make(chan *capture.Batch, 4)
		go func() {
			_ = capture.NewDecoder(capture.DefaultDecoderConfig()).Run(context.Background(), src, ch)
			close(ch)
		}()
		for b := range ch {
			for i := range b.Packets {
				p := &b.Packets[i]
				if len(out) < n && len(p.Payload) > 0 && keep(p) && !seen[string(p.Payload)] {
					seen[string(p.Payload)] = true
					out = append(out, bytes.Clone(p.Payload))
				}
			}
			b.Release()
		}
		src.Close()
	}
	return out
}

// QUICSeeds returns pairs of datagrams to seed QUIC fuzz targets with: a
// ClientHello over two v1 Initials, one v2 Initial, a gQUIC Q043 CHLO, and
// the shared captures' UDP payloads other than DNS, each with the next.
func QUICSeeds(tb testing.TB) [][2][]byte {
	tb.Helper()
	hello := ClientHello(HelloOpts{SNI: "quic.example", Pad: 1500})
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	seeds := [][2][]byte{
		{QUICInitial(tb, InitialOpts{Version: QUICv1, DCID: dcid, PNLen: 2, Frames: CryptoFrame(0, hello[:1000]), PadTo: 1150}),
			QUICInitial(tb, InitialOpts{Version: QUICv1, DCID: dcid, PN: 1, PNLen: 2, Frames: CryptoFrame(1000, hello[1000:]), PadTo: 1150})},
		{QUICInitial(tb, InitialOpts{Version: QUICv2, DCID: dcid, PNLen: 1, Frames: CryptoFrame(0, hello), PadTo: 1200}), {}},
		{GQUICQ043(map[string]string{"SNI\x00": "g.example"}), {0x40}},
	}
	shared := SharedPayloads(tb, 120, func(p *capture.Packet) bool { return p.Proto == capture.ProtoUDP && p.DstPort != 53 })
	for i, p := range shared {
		next := []byte{}
		if i+1 < len(shared) {
			next = shared[i+1]
		}
		seeds = append(seeds, [2][]byte{p, next})
	}
	return seeds
}
