package firstbytes

import (
	"bytes"
	"testing"

	"github.com/netmon/netmon/capture"
	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
)

// FuzzTLS feeds arbitrary bytes to the ClientHello parser as a TLS client
// stream (FuzzFlowTCP in package resolver feeds them through a learner).
func FuzzTLS(f *testing.F) {
	f.Add(fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "www.example.com"})))
	f.Add(fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "ech.example", ECH: true}), 10, 100))
	f.Add(fbt.GoClientHello(f, "go.example"))
	for _, p := range fbt.SharedPayloads(f, 200, func(p *capture.Packet) bool { return p.Proto == capture.ProtoTCP && p.Payload[0] == 0x16 }) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		var scratch []byte
		info, st := TLS(stream, &scratch, 4096)
		if st == Found && (len(info.SNI) == 0 || len(info.SNI) > len(stream)) {
			t.Errorf("found a name of %d bytes in a %d-byte stream", len(info.SNI), len(stream))
		}
		if len(scratch) > len(stream) {
			t.Errorf("joined %d bytes from a %d-byte stream", len(scratch), len(stream))
		}
	})
}

// FuzzHTTP feeds arbitrary bytes as the head of an HTTP request.
func FuzzHTTP(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n"))
	f.Add([]byte("CONNECT apache.org:443 HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET http://u@h.example/p HTTP/1.0\n\n"))
	for _, p := range fbt.SharedPayloads(f, 100, func(p *capture.Packet) bool {
		return p.Proto == capture.ProtoTCP && 'A' <= p.Payload[0] && p.Payload[0] <= 'Z'
	}) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		req, st := HTTP(stream)
		if st == Found && (len(req.Host) == 0 || !bytes.Contains(stream, req.Host)) {
			t.Errorf("found %q, not in the stream", req.Host)
		}
		if st != Found && req.Host != nil {
			t.Errorf("status %d with a host %q", st, req.Host)
		}
	})
}

// FuzzQUIC feeds two arbitrary datagrams as a QUIC client's first ones.
func FuzzQUIC(f *testing.F) {
	for _, seed := range fbt.QUICSeeds(f) {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var q QUIC
		var st QUICFlow
		for _, d := range [][]byte{a, b} {
			if len(d) == 0 {
				continue
			}
			info, s, _ := q.Datagram(&st, d, 4096)
			if s == Found && len(info.SNI) == 0 {
				t.Error("found an empty name")
			}
			if n := st.crypto.Held(); n > 4096 {
				t.Errorf("%d CRYPTO bytes held, bound 4096", n)
			}
		}
	})
}
