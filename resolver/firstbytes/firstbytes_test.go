package firstbytes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/hkdf"

	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
)

func TestTLSHello(t *testing.T) {
	big := fbt.ClientHello(fbt.HelloOpts{SNI: "big.example", Pad: 9000})
	tests := []struct {
		name   string
		stream []byte
		sni    string
		outer  bool
		st     Status
	}{
		{"one record", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "www.example.com"})), "www.example.com", false, Found},
		{"Go's crypto/tls", fbt.GoClientHello(t, "go.example"), "go.example", false, Found},
		{"split over records", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "split.example"}), 3, 50, 7), "split.example", false, Found},
		{"header split over records", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "hdr.example"}), 1, 2), "hdr.example", false, Found},
		{"ECH outer name", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "public.example", ECH: true})), "public.example", true, Found},
		{"ESNI beside SNI", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "cover.example", ESNI: true})), "cover.example", true, Found},
		{"no SNI", fbt.Records(fbt.ClientHello(fbt.HelloOpts{})), "", false, NoName},
		{"larger than a record", fbt.Records(big, 16384), "big.example", false, Found},
		{"cut in the first record", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "cut.example"}))[:40], "", false, NeedMore},
		{"cut before the second record", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "cut.example"}), 30)[:35], "", false, NeedMore},
		{"record header only", []byte{0x16, 3, 1}, "", false, NeedMore},
		{"application data", []byte{0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5}, "", false, NoName},
		{"not a ClientHello", fbt.Records([]byte{2, 0, 0, 4, 3, 3, 0, 0}), "", false, NoName},
		{"SSL 2 style", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, "", false, NoName},
		{"empty record", []byte{0x16, 3, 1, 0, 0}, "", false, NoName},
		{"garbled body", fbt.Records([]byte{1, 0, 0, 6, 3, 3, 9, 9, 9, 9}), "", false, NoName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scratch []byte
			info, st := TLS(tt.stream, &scratch, 16<<10)
			if st != tt.st || string(info.SNI) != tt.sni || (st == Found && info.Outer != tt.outer) {
				t.Errorf("TLS = %q outer %v status %d, want %q outer %v status %d",
					info.SNI, info.Outer, st, tt.sni, tt.outer, tt.st)
			}
		})
	}
	// A ClientHello beyond the limit cannot be buffered: given up, whatever follows.
	var scratch []byte
	if _, st := TLS(fbt.Records(big), &scratch, 4096); st != NoName {
		t.Errorf("ClientHello over the limit: status %d, want NoName", st)
	}
}

func TestHTTPHost(t *testing.T) {
	tests := []struct {
		req     string
		host    string
		proxied bool
		st      Status
	}{
		{"GET / HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n", "www.example.com", false, Found},
		{"POST /x HTTP/1.1\r\nUser-Agent: a\r\nhOsT:   api.example.com:8080  \r\n\r\n", "api.example.com", false, Found},
		{"GET / HTTP/1.0\nHost: bare-lf.example\n\n", "bare-lf.example", false, Found},
		{"PROPFIND /dav HTTP/1.1\r\nHost: dav.example\r\n", "dav.example", false, Found},
		{"GET http://proxied.example:8080/path?q HTTP/1.1\r\nHost: other.example\r\n\r\n", "proxied.example", true, Found},
		{"GET http://user:pw@cred.example/ HTTP/1.1\r\n\r\n", "cred.example", true, Found},
		{"CONNECT apache.org:443 HTTP/1.1\r\nHost: apache.org:443\r\n\r\n", "apache.org", true, Found},
		{"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "2001:db8::1", false, Found},
		{"GET / HTTP/1.1\r\nHost: 23.246.11.145\r\n\r\n", "23.246.11.145", false, Found},
		{"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "", false, NoName},
		{"GET / HTTP/1.1\r\nHost:\r\n\r\n", "", false, NoName},
		{"GET / HTTP/1.1\r\nUser-Agent: split", "", false, NeedMore},
		{"GET /very/long/pa", "", false, NeedMore},
		{"GE", "", false, NeedMore},
		{"SSH-2.0-OpenSSH_9.6\r\n", "", false, NoName},
		{"get / HTTP/1.1\r\nHost: lower.example\r\n\r\n", "", false, NoName},
		{"GET / SPDY/3\r\nHost: x.example\r\n\r\n", "", false, NoName},
		{"\x16\x03\x01", "", false, NoName},
	}
	for _, tt := range tests {
		req, st := HTTP([]byte(tt.req))
		if st != tt.st || string(req.Host) != tt.host || req.Proxied != tt.proxied {
			t.Errorf("HTTP(%q) = %q proxied %v status %d, want %q %v %d", tt.req, req.Host, req.Proxied, st, tt.host, tt.proxied, tt.st)
		}
	}
}

func TestHostName(t *testing.T) {
	for raw, want := range map[string]string{
		"WWW.Example.COM.":       "www.example.com",
		"under_score.example":    "under_score.example",
		"xn--bcher-kva.example":  "xn--bcher-kva.example",
		"23.246.11.145":          "",
		"2001:db8::1":            "",
		"host:8443":              "",
		"":                       "",
		".":                      "",
		"..":                     "", // found by FuzzHTTP: normalised to "." before
		".example.com":           "",
		"a..example.com":         "",
		"0..":                    "", // found by FuzzHTTP: normalised to "0." before
		"example.com..":          "",
		"a b":                    "",
		"a\x00b":                 "",
		"caf\xc3\xa9.example":    "",
		strings.Repeat("a", 254): "",
		"1.2.3":                  "1.2.3", // not an address: a (strange) name
	} {
		got, ok := HostName(nil, []byte(raw))
		if !ok {
			got = nil
		}
		if string(got) != want {
			t.Errorf("HostName(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}

// RFC 9001 A.2 and RFC 9369 A.2: the client Initial of the examples,
// whose CRYPTO frame holds a ClientHello for example.com.
const rfcCryptoFrame = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868" +
	"04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578" +
	"616d706c652e636f6dff01000100000a00080006001d00170018001000070005" +
	"04616c706e000500050100000000003300260024001d00209370b2c9caa47fba" +
	"baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400" +
	"0d0010000e0403050306030203080408050806002d00020101001c0002400100" +
	"3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000" +
	"75300901100f088394c8f03e51570806048000ffff"

func hkdfExtract(ikm, salt []byte) []byte { return hkdf.Extract(sha256.New, ikm, salt) }

// TestQUICInitialRFCVectors checks the key schedule, header protection
// and AEAD against the RFCs' worked examples: the test's own protection
// (the inverse of the parser's) must give the RFC's bytes, and the parser
// must read example.com back.
func TestQUICInitialRFCVectors(t *testing.T) {
	dcid := mustHex(t, "8394c8f03e515708")
	for _, tt := range []struct {
		version        uint32
		key, iv, hp    string
		prefix, suffix string
	}{
		{quicV1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2",
			"c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11",
			"e221af44860018ab0856972e194cd934"},
		{quicV2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9",
			"d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485",
			"a18b2faa745b6fe189cf772a9f84cbfc"},
	} {
		s, known := quicSuiteFor(tt.version)
		if !known {
			t.Fatalf("%#x unknown", tt.version)
		}
		client, _ := expandLabel(hkdfExtract(dcid, s.salt), "client in", 32)
		for i, want := range []string{tt.key, tt.iv, tt.hp} {
			got, _ := expandLabel(client, s.labels[i], len(want)/2)
			if hex.EncodeToString(got) != want {
				t.Errorf("%s %s = %x, want %s", s.name, s.labels[i], got, want)
			}
		}
		pkt := fbt.QUICInitial(t, fbt.InitialOpts{Version: tt.version, DCID: dcid, PN: 2, PNLen: 4,
			Frames: mustHex(t, rfcCryptoFrame), PadTo: 1162})
		if len(pkt) != 1200 || hex.EncodeToString(pkt[:32]) != tt.prefix || hex.EncodeToString(pkt[len(pkt)-16:]) != tt.suffix {
			t.Errorf("%s: protected packet (%d bytes) starts %x ends %x, want %s … %s",
				s.name, len(pkt), pkt[:32], pkt[len(pkt)-16:], tt.prefix, tt.suffix)
		}
		var q QUIC
		info, st, _ := q.Datagram(&QUICFlow{}, pkt, 16<<10)
		if st != Found || string(info.SNI) != "example.com" {
			t.Errorf("%s: read %q status %d, want example.com", s.name, info.SNI, st)
		}
	}
}

func TestQUICDatagrams(t *testing.T) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	hello := fbt.ClientHello(fbt.HelloOpts{SNI: "quic.example", Pad: 1500}) // two Initials' worth, as with ML-KEM shares
	first, second := hello[:1000], hello[1000:]
	v1 := func(pn uint32, frames ...[]byte) []byte {
		return fbt.QUICInitial(t, fbt.InitialOpts{Version: quicV1, DCID: dcid, PN: pn, PNLen: 2, Frames: bytes.Join(frames, nil), PadTo: 1150})
	}
	handshake := func() []byte {
		// A Handshake packet coalesced after an Initial: skipped by its length.
		p := []byte{0xe1, 0, 0, 0, 1, 8}
		p = append(p, dcid...)
		p = append(p, 0, 0x40, 40)
		return append(p, make([]byte, 40)...)
	}
	tests := []struct {
		name   string
		dgram  [][]byte
		sni    string
		st     Status
		counts QUICCounts
	}{
		{"one Initial", [][]byte{v1(0, fbt.CryptoFrame(0, hello[:300]), fbt.CryptoFrame(300, hello[300:]))}, "quic.example", Found,
			QUICCounts{Initials: 1}},
		{"two Initials", [][]byte{v1(0, fbt.CryptoFrame(0, first)), v1(1, fbt.CryptoFrame(1000, second))}, "quic.example", Found,
			QUICCounts{Initials: 2}},
		{"two Initials, out of order", [][]byte{v1(1, fbt.CryptoFrame(1000, second)), v1(0, fbt.CryptoFrame(0, first))}, "quic.example", Found,
			QUICCounts{Initials: 2}},
		{"frames shuffled, with PING and ACK", [][]byte{v1(0, []byte{0x01}, fbt.CryptoFrame(500, first[500:]), []byte{0x02, 0, 0, 0, 0},
			fbt.CryptoFrame(0, first[:500])), v1(1, fbt.CryptoFrame(1000, second))}, "quic.example", Found,
			QUICCounts{Initials: 2}},
		{"coalesced with a Handshake packet", [][]byte{append(v1(0, fbt.CryptoFrame(0, first)), handshake()...), v1(1, fbt.CryptoFrame(1000, second))},
			"quic.example", Found, QUICCounts{Initials: 2, Skipped: 1}},
		{"padded after the Initial", [][]byte{append(v1(0, fbt.CryptoFrame(0, hello)), make([]byte, 30)...)}, "quic.example", Found,
			QUICCounts{Initials: 1}},
		{"first half only", [][]byte{v1(0, fbt.CryptoFrame(0, first))}, "", NeedMore, QUICCounts{Initials: 1}},
		{"v2", [][]byte{fbt.QUICInitial(t, fbt.InitialOpts{Version: quicV2, DCID: dcid, PNLen: 1, Frames: fbt.CryptoFrame(0, hello), PadTo: 1200})},
			"quic.example", Found, QUICCounts{Initials: 1}},
		{"draft-29", [][]byte{fbt.QUICInitial(t, fbt.InitialOpts{Version: 0xff00001d, DCID: dcid, PNLen: 1, Frames: fbt.CryptoFrame(0, hello), PadTo: 1200})},
			"quic.example", Found, QUICCounts{Initials: 1}},
		{"reserved version with v1 keys", [][]byte{fbt.QUICInitial(t, fbt.InitialOpts{Version: 0x1a2a3a4a, DCID: dcid, PNLen: 1,
			Frames: fbt.CryptoFrame(0, hello), PadTo: 1200, KeysOf: fbt.QUICv1})}, "quic.example", Found,
			QUICCounts{Initials: 1, UnknownVersion: 1}},
		{"T050's own CRYPTO frame type", [][]byte{fbt.QUICInitial(t, fbt.InitialOpts{Version: quicT050, DCID: dcid, PNLen: 1,
			Frames: append([]byte{0x08}, fbt.CryptoFrame(0, hello)[1:]...), PadTo: 1200})}, "quic.example", Found,
			QUICCounts{Initials: 1}},
		{"gQUIC Q043 in the clear", [][]byte{fbt.GQUICQ043(map[string]string{"PAD\x00": "----", "SNI\x00": "gquic.example", "VER\x00": "Q043"})},
			"gquic.example", Found, QUICCounts{Initials: 1}},
		{"gQUIC without SNI", [][]byte{fbt.GQUICQ043(map[string]string{"VER\x00": "Q043"})}, "", NoName, QUICCounts{Initials: 1}},
		{"no SNI", [][]byte{v1(0, fbt.CryptoFrame(0, fbt.ClientHello(fbt.HelloOpts{})))}, "", NoName, QUICCounts{Initials: 1}},
		{"short header", [][]byte{{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9}}, "", NoName, QUICCounts{Skipped: 1}},
		{"version negotiation", [][]byte{{0x80, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 1}}, "", NoName,
			QUICCounts{Skipped: 1}},
		{"tampered", [][]byte{func() []byte { p := v1(0, fbt.CryptoFrame(0, hello)); p[100] ^= 1; return p }()}, "", NeedMore,
			QUICCounts{Undecryptable: 1}},
		{"truncated header", [][]byte{{0xc0, 0, 0, 0, 1, 20, 1}}, "", NoName, QUICCounts{Undecryptable: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q QUIC
			var st QUICFlow
			var info Hello
			var s Status
			var counts QUICCounts
			for _, d := range tt.dgram {
				var c QUICCounts
				info, s, c = q.Datagram(&st, d, 16<<10)
				counts.Initials += c.Initials
				counts.Undecryptable += c.Undecryptable
				counts.Skipped += c.Skipped
				counts.UnknownVersion += c.UnknownVersion
			}
			if s != tt.st || string(info.SNI) != tt.sni {
				t.Errorf("read %q status %d, want %q status %d", info.SNI, s, tt.sni, tt.st)
			}
			if d := cmp.Diff(tt.counts, counts); d != "" {
				t.Errorf("counts (-want +got):\n%s", d)
			}
		})
	}
}

// After the server's first reply, a client sends its next Initials to the
// server's connection ID, still under the keys of its first DCID.
func TestQUICKeysKeptAcrossDCIDs(t *testing.T) {
	hello := fbt.ClientHello(fbt.HelloOpts{SNI: "keys.example", Pad: 1500})
	first := fbt.QUICInitial(t, fbt.InitialOpts{Version: fbt.QUICv1, DCID: []byte{1, 1, 1, 1, 1, 1, 1, 1}, PNLen: 1,
		Frames: fbt.CryptoFrame(0, hello[:1000]), PadTo: 1150})
	second := fbt.QUICInitial(t, fbt.InitialOpts{Version: fbt.QUICv1, DCID: []byte{9, 9, 9, 9}, PN: 1, PNLen: 1,
		Frames: fbt.CryptoFrame(1000, hello[1000:]), PadTo: 1150, KeysDCID: []byte{1, 1, 1, 1, 1, 1, 1, 1}})
	var q QUIC
	var st QUICFlow
	if _, s, _ := q.Datagram(&st, first, 16<<10); s != NeedMore {
		t.Fatalf("first Initial: status %d", s)
	}
	if info, s, _ := q.Datagram(&st, second, 16<<10); s != Found || string(info.SNI) != "keys.example" {
		t.Errorf("second Initial: %q status %d", info.SNI, s)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
