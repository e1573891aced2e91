package resolver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/hkdf"
)

func TestTLSHello(t *testing.T) {
	big := clientHello(helloOpts{sni: "big.example", pad: 9000})
	tests := []struct {
		name   string
		stream []byte
		sni    string
		outer  bool
		st     status
	}{
		{"one record", records(clientHello(helloOpts{sni: "www.example.com"})), "www.example.com", false, found},
		{"Go's crypto/tls", goClientHello(t, "go.example"), "go.example", false, found},
		{"split over records", records(clientHello(helloOpts{sni: "split.example"}), 3, 50, 7), "split.example", false, found},
		{"header split over records", records(clientHello(helloOpts{sni: "hdr.example"}), 1, 2), "hdr.example", false, found},
		{"ECH outer name", records(clientHello(helloOpts{sni: "public.example", ech: true})), "public.example", true, found},
		{"ESNI beside SNI", records(clientHello(helloOpts{sni: "cover.example", esni: true})), "cover.example", true, found},
		{"no SNI", records(clientHello(helloOpts{})), "", false, noName},
		{"larger than a record", records(big, 16384), "big.example", false, found},
		{"cut in the first record", records(clientHello(helloOpts{sni: "cut.example"}))[:40], "", false, needMore},
		{"cut before the second record", records(clientHello(helloOpts{sni: "cut.example"}), 30)[:35], "", false, needMore},
		{"record header only", []byte{0x16, 3, 1}, "", false, needMore},
		{"application data", []byte{0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5}, "", false, noName},
		{"not a ClientHello", records([]byte{2, 0, 0, 4, 3, 3, 0, 0}), "", false, noName},
		{"SSL 2 style", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, "", false, noName},
		{"empty record", []byte{0x16, 3, 1, 0, 0}, "", false, noName},
		{"garbled body", records([]byte{1, 0, 0, 6, 3, 3, 9, 9, 9, 9}), "", false, noName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scratch []byte
			info, st := tlsHello(tt.stream, &scratch, 16<<10)
			if st != tt.st || string(info.sni) != tt.sni || (st == found && info.outer != tt.outer) {
				t.Errorf("tlsHello = %q outer %v status %d, want %q outer %v status %d",
					info.sni, info.outer, st, tt.sni, tt.outer, tt.st)
			}
		})
	}
	// A ClientHello beyond the limit cannot be buffered: given up, whatever follows.
	var scratch []byte
	if _, st := tlsHello(records(big), &scratch, 4096); st != noName {
		t.Errorf("ClientHello over the limit: status %d, want noName", st)
	}
}

func TestHTTPHost(t *testing.T) {
	tests := []struct {
		req     string
		host    string
		proxied bool
		st      status
	}{
		{"GET / HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n", "www.example.com", false, found},
		{"POST /x HTTP/1.1\r\nUser-Agent: a\r\nhOsT:   api.example.com:8080  \r\n\r\n", "api.example.com", false, found},
		{"GET / HTTP/1.0\nHost: bare-lf.example\n\n", "bare-lf.example", false, found},
		{"PROPFIND /dav HTTP/1.1\r\nHost: dav.example\r\n", "dav.example", false, found},
		{"GET http://proxied.example:8080/path?q HTTP/1.1\r\nHost: other.example\r\n\r\n", "proxied.example", true, found},
		{"GET http://user:pw@cred.example/ HTTP/1.1\r\n\r\n", "cred.example", true, found},
		{"CONNECT apache.org:443 HTTP/1.1\r\nHost: apache.org:443\r\n\r\n", "apache.org", true, found},
		{"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "2001:db8::1", false, found},
		{"GET / HTTP/1.1\r\nHost: 23.246.11.145\r\n\r\n", "23.246.11.145", false, found},
		{"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "", false, noName},
		{"GET / HTTP/1.1\r\nHost:\r\n\r\n", "", false, noName},
		{"GET / HTTP/1.1\r\nUser-Agent: split", "", false, needMore},
		{"GET /very/long/pa", "", false, needMore},
		{"GE", "", false, needMore},
		{"SSH-2.0-OpenSSH_9.6\r\n", "", false, noName},
		{"get / HTTP/1.1\r\nHost: lower.example\r\n\r\n", "", false, noName},
		{"GET / SPDY/3\r\nHost: x.example\r\n\r\n", "", false, noName},
		{"\x16\x03\x01", "", false, noName},
	}
	for _, tt := range tests {
		req, st := httpHost([]byte(tt.req))
		if st != tt.st || string(req.host) != tt.host || req.proxied != tt.proxied {
			t.Errorf("httpHost(%q) = %q proxied %v status %d, want %q %v %d", tt.req, req.host, req.proxied, st, tt.host, tt.proxied, tt.st)
		}
	}
}

func TestFlowHostName(t *testing.T) {
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
		got, ok := flowHostName(nil, []byte(raw))
		if !ok {
			got = nil
		}
		if string(got) != want {
			t.Errorf("flowHostName(%q) = %q, %v; want %q", raw, got, ok, want)
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
		pkt := quicInitial(t, initialOpts{version: tt.version, dcid: dcid, pn: 2, pnLen: 4,
			frames: mustHex(t, rfcCryptoFrame), padTo: 1162})
		if len(pkt) != 1200 || hex.EncodeToString(pkt[:32]) != tt.prefix || hex.EncodeToString(pkt[len(pkt)-16:]) != tt.suffix {
			t.Errorf("%s: protected packet (%d bytes) starts %x ends %x, want %s … %s",
				s.name, len(pkt), pkt[:32], pkt[len(pkt)-16:], tt.prefix, tt.suffix)
		}
		l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
		info, st := l.quicDatagram(&quicState{}, pkt, 16<<10)
		if st != found || string(info.sni) != "example.com" {
			t.Errorf("%s: read %q status %d, want example.com", s.name, info.sni, st)
		}
	}
}

func TestQUICDatagrams(t *testing.T) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	hello := clientHello(helloOpts{sni: "quic.example", pad: 1500}) // two Initials' worth, as with ML-KEM shares
	first, second := hello[:1000], hello[1000:]
	v1 := func(pn uint32, frames ...[]byte) []byte {
		return quicInitial(t, initialOpts{version: quicV1, dcid: dcid, pn: pn, pnLen: 2, frames: bytes.Join(frames, nil), padTo: 1150})
	}
	handshake := func() []byte {
		// A Handshake packet coalesced after an Initial: skipped by its length.
		p := []byte{0xe1, 0, 0, 0, 1, 8}
		p = append(p, dcid...)
		p = append(p, 0, 0x40, 40)
		return append(p, make([]byte, 40)...)
	}
	tests := []struct {
		name  string
		dgram [][]byte
		sni   string
		st    status
		stats LearnerStats
	}{
		{"one Initial", [][]byte{v1(0, cryptoFrame(0, hello[:300]), cryptoFrame(300, hello[300:]))}, "quic.example", found,
			LearnerStats{QUICInitials: 1}},
		{"two Initials", [][]byte{v1(0, cryptoFrame(0, first)), v1(1, cryptoFrame(1000, second))}, "quic.example", found,
			LearnerStats{QUICInitials: 2}},
		{"two Initials, out of order", [][]byte{v1(1, cryptoFrame(1000, second)), v1(0, cryptoFrame(0, first))}, "quic.example", found,
			LearnerStats{QUICInitials: 2}},
		{"frames shuffled, with PING and ACK", [][]byte{v1(0, []byte{0x01}, cryptoFrame(500, first[500:]), []byte{0x02, 0, 0, 0, 0},
			cryptoFrame(0, first[:500])), v1(1, cryptoFrame(1000, second))}, "quic.example", found,
			LearnerStats{QUICInitials: 2}},
		{"coalesced with a Handshake packet", [][]byte{append(v1(0, cryptoFrame(0, first)), handshake()...), v1(1, cryptoFrame(1000, second))},
			"quic.example", found, LearnerStats{QUICInitials: 2, QUICSkipped: 1}},
		{"padded after the Initial", [][]byte{append(v1(0, cryptoFrame(0, hello)), make([]byte, 30)...)}, "quic.example", found,
			LearnerStats{QUICInitials: 1}},
		{"first half only", [][]byte{v1(0, cryptoFrame(0, first))}, "", needMore, LearnerStats{QUICInitials: 1}},
		{"v2", [][]byte{quicInitial(t, initialOpts{version: quicV2, dcid: dcid, pnLen: 1, frames: cryptoFrame(0, hello), padTo: 1200})},
			"quic.example", found, LearnerStats{QUICInitials: 1}},
		{"draft-29", [][]byte{quicInitial(t, initialOpts{version: 0xff00001d, dcid: dcid, pnLen: 1, frames: cryptoFrame(0, hello), padTo: 1200})},
			"quic.example", found, LearnerStats{QUICInitials: 1}},
		{"reserved version with v1 keys", [][]byte{quicInitial(t, initialOpts{version: 0x1a2a3a4a, dcid: dcid, pnLen: 1,
			frames: cryptoFrame(0, hello), padTo: 1200, suite: &suiteV1})}, "quic.example", found,
			LearnerStats{QUICInitials: 1, QUICUnknownVersion: 1}},
		{"T050's own CRYPTO frame type", [][]byte{quicInitial(t, initialOpts{version: quicT050, dcid: dcid, pnLen: 1,
			frames: append([]byte{0x08}, cryptoFrame(0, hello)[1:]...), padTo: 1200})}, "quic.example", found,
			LearnerStats{QUICInitials: 1}},
		{"gQUIC Q043 in the clear", [][]byte{gquicQ043(map[string]string{"PAD\x00": "----", "SNI\x00": "gquic.example", "VER\x00": "Q043"})},
			"gquic.example", found, LearnerStats{QUICInitials: 1}},
		{"gQUIC without SNI", [][]byte{gquicQ043(map[string]string{"VER\x00": "Q043"})}, "", noName, LearnerStats{QUICInitials: 1}},
		{"no SNI", [][]byte{v1(0, cryptoFrame(0, clientHello(helloOpts{})))}, "", noName, LearnerStats{QUICInitials: 1}},
		{"short header", [][]byte{{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9}}, "", noName, LearnerStats{QUICSkipped: 1}},
		{"version negotiation", [][]byte{{0x80, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 1}}, "", noName,
			LearnerStats{QUICSkipped: 1}},
		{"tampered", [][]byte{func() []byte { p := v1(0, cryptoFrame(0, hello)); p[100] ^= 1; return p }()}, "", needMore,
			LearnerStats{QUICUndecryptable: 1}},
		{"truncated header", [][]byte{{0xc0, 0, 0, 0, 1, 20, 1}}, "", noName, LearnerStats{QUICUndecryptable: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
			var st quicState
			var info helloInfo
			var s status
			for _, d := range tt.dgram {
				info, s = l.quicDatagram(&st, d, 16<<10)
			}
			if s != tt.st || string(info.sni) != tt.sni {
				t.Errorf("read %q status %d, want %q status %d", info.sni, s, tt.sni, tt.st)
			}
			if d := cmp.Diff(tt.stats, l.Stats()); d != "" {
				t.Errorf("stats (-want +got):\n%s", d)
			}
		})
	}
}

// After the server's first reply, a client sends its next Initials to the
// server's connection ID, still under the keys of its first DCID.
func TestQUICKeysKeptAcrossDCIDs(t *testing.T) {
	hello := clientHello(helloOpts{sni: "keys.example", pad: 1500})
	first := quicInitial(t, initialOpts{version: quicV1, dcid: []byte{1, 1, 1, 1, 1, 1, 1, 1}, pnLen: 1,
		frames: cryptoFrame(0, hello[:1000]), padTo: 1150})
	k, _ := deriveQUICKeys(&suiteV1, []byte{1, 1, 1, 1, 1, 1, 1, 1})
	second := quicInitial(t, initialOpts{version: quicV1, dcid: []byte{9, 9, 9, 9}, pn: 1, pnLen: 1,
		frames: cryptoFrame(1000, hello[1000:]), padTo: 1150, suite: &suiteV1})
	// Re-protect the second packet with the first DCID's keys.
	second = reprotect(t, second, k)
	l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
	var st quicState
	if _, s := l.quicDatagram(&st, first, 16<<10); s != needMore {
		t.Fatalf("first Initial: status %d", s)
	}
	if info, s := l.quicDatagram(&st, second, 16<<10); s != found || string(info.sni) != "keys.example" {
		t.Errorf("second Initial: %q status %d", info.sni, s)
	}
}

// reprotect decrypts pkt with the keys of its own DCID and protects it
// again with k.
func reprotect(t *testing.T, pkt []byte, k *quicKeys) []byte {
	t.Helper()
	l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
	var st quicState
	_, _, pnOff, _, ok := quicPacket(pkt, &suiteV1)
	if !ok {
		t.Fatal("not a packet")
	}
	plain, _, ok := l.openInitial(&st, []*quicSuite{&suiteV1}, pkt, pnOff)
	if !ok {
		t.Fatal("does not open")
	}
	hdr := append([]byte(nil), l.qpkt[:pnOff+1]...)
	nonce := k.iv
	nonce[11] ^= hdr[pnOff]
	sealed := k.aead.Seal(nil, nonce[:], plain, hdr)
	var mask [16]byte
	k.hp.Encrypt(mask[:], sealed[3:19])
	hdr[0] ^= mask[0] & 0x0f
	hdr[pnOff] ^= mask[1]
	return append(hdr, sealed...)
}
