package firstbytes

import (
	"testing"

	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
)

// BenchmarkTLSHello parses a ClientHello from Go's TLS client in one
// record, as the learner (package resolver) does for a flow's first segment.
func BenchmarkTLSHello(b *testing.B) {
	rec := fbt.GoClientHello(b, "www.example.com")
	var scratch []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, st := TLS(rec, &scratch, 16<<10); st != Found {
			b.Fatal("no name")
		}
	}
}

// BenchmarkHTTPHost reads the Host of a browser-like request head.
func BenchmarkHTTPHost(b *testing.B) {
	req := []byte("GET /index.html HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n" +
		"Connection: keep-alive\r\nHost: www.example.com\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, st := HTTP(req); st != Found {
			b.Fatal("no name")
		}
	}
}

// BenchmarkQUICInitial reads the SNI of a 1200-byte v1 Initial: with the
// connection's keys to derive (a new connection), and with its keys
// already derived (its second Initial).
func BenchmarkQUICInitial(b *testing.B) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	pkt := fbt.QUICInitial(b, fbt.InitialOpts{Version: quicV1, DCID: dcid, PNLen: 2,
		Frames: fbt.CryptoFrame(0, fbt.ClientHello(fbt.HelloOpts{SNI: "www.example.com"})), PadTo: 1160})
	var q QUIC
	b.Run("new-keys", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			var st QUICFlow
			if _, s, _ := q.Datagram(&st, pkt, 16<<10); s != Found {
				b.Fatal("no name")
			}
		}
	})
	b.Run("known-keys", func(b *testing.B) {
		var st QUICFlow
		q.Datagram(&st, pkt, 16<<10)
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			st.crypto.buf = st.crypto.buf[:0]
			if _, s, _ := q.Datagram(&st, pkt, 16<<10); s != Found {
				b.Fatal("no name")
			}
		}
	})
}
