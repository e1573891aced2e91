package resolver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmon/netmon/capture"
)

// sharedPayloads returns up to n payloads that the Decoder, as netmon
// runs it, copies from the shared captures and that keep says are wanted:
// real first bytes to seed the fuzz targets with. They are read at run
// time and never committed (see the captures' README).
func sharedPayloads(tb testing.TB, n int, keep func(p *capture.Packet) bool) [][]byte {
	tb.Helper()
	dir := sharedCaptures(tb)
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
			_ = capture.NewDecoder(capture.DecoderConfig{}).Run(context.Background(), src, ch)
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

// fuzzFlow feeds stream to a Learner as the first bytes of a TCP
// connection, cut into segments at the sizes cuts gives and with every
// other pair swapped, and checks what the learner made of it.
func fuzzFlow(t *testing.T, stream, cuts []byte) {
	l := NewLearner(LearnerConfig{FlowBytes: 4096, FlowBuffers: 4}, NewTable(TableConfig{}))
	// Beyond FlowBytes and maxPendingPackets the learner reads nothing
	// more; a larger input would only slow the fuzzer down.
	stream = stream[:min(len(stream), 8192)]
	ps := []capture.Packet{seg(0, dev, web, devPrt, 443, syn, 0, nil)}
	seq := uint32(1)
	for i := 0; len(stream) > 0; i++ {
		n := len(stream)
		if len(cuts) > 0 && i < 2*maxPendingPackets {
			n = min(n, int(cuts[i%len(cuts)])+1)
		}
		ps = append(ps, seg(1+i, dev, web, devPrt, 443, ack, seq, stream[:n]))
		seq += uint32(n)
		stream = stream[n:]
	}
	for i := 2; i < len(ps); i += 3 {
		ps[i-1], ps[i] = ps[i], ps[i-1]
	}
	ps = append(ps, seg(len(ps)+1, web, dev, 443, devPrt, ack, 1, nil))
	bt := batch(ps...)
	l.Learn(bt)
	for _, p := range bt.Packets {
		if p.Name == nil {
			continue
		}
		if n, ok := flowHostName(nil, []byte(p.Name.Domain)); !ok || string(n) != p.Name.Domain {
			t.Errorf("flow named %q, not a normalised host name", p.Name.Domain)
		}
	}
	if l.ft.buffering < 0 || l.ft.buffering > 4 {
		t.Errorf("%d flows buffering, bound 4", l.ft.buffering)
	}
	for _, f := range l.ft.entries {
		if f.first != nil && len(f.first.stream.buf)+f.first.stream.hbyte > 4096 {
			t.Errorf("%d bytes buffered, bound 4096", len(f.first.stream.buf)+f.first.stream.hbyte)
		}
	}
}

// FuzzTLS feeds arbitrary bytes as a TLS client stream: straight to the
// ClientHello parser, and through a Learner as segments out of order.
func FuzzTLS(f *testing.F) {
	f.Add(records(clientHello(helloOpts{sni: "www.example.com"})), []byte{7})
	f.Add(records(clientHello(helloOpts{sni: "ech.example", ech: true}), 10, 100), []byte{3, 200})
	f.Add(goClientHello(f, "go.example"), []byte{})
	for _, p := range sharedPayloads(f, 200, func(p *capture.Packet) bool { return p.Proto == capture.ProtoTCP && p.Payload[0] == 0x16 }) {
		f.Add(p, []byte{255})
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		var scratch []byte
		info, st := tlsHello(stream, &scratch, 4096)
		if st == found && (len(info.sni) == 0 || len(info.sni) > len(stream)) {
			t.Errorf("found a name of %d bytes in a %d-byte stream", len(info.sni), len(stream))
		}
		if len(scratch) > len(stream) {
			t.Errorf("joined %d bytes from a %d-byte stream", len(scratch), len(stream))
		}
		fuzzFlow(t, stream, cuts)
	})
}

// FuzzHTTP feeds arbitrary bytes as the head of an HTTP request.
func FuzzHTTP(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n"), []byte{5})
	f.Add([]byte("CONNECT apache.org:443 HTTP/1.1\r\n\r\n"), []byte{})
	f.Add([]byte("GET http://u@h.example/p HTTP/1.0\n\n"), []byte{1, 2})
	for _, p := range sharedPayloads(f, 100, func(p *capture.Packet) bool {
		return p.Proto == capture.ProtoTCP && 'A' <= p.Payload[0] && p.Payload[0] <= 'Z'
	}) {
		f.Add(p, []byte{9})
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		req, st := httpHost(stream)
		if st == found && (len(req.host) == 0 || !bytes.Contains(stream, req.host)) {
			t.Errorf("found %q, not in the stream", req.host)
		}
		if st != found && req.host != nil {
			t.Errorf("status %d with a host %q", st, req.host)
		}
		fuzzFlow(t, append([]byte(nil), stream...), cuts)
	})
}

// FuzzQUIC feeds two arbitrary datagrams as a QUIC client's first ones.
func FuzzQUIC(f *testing.F) {
	hello := clientHello(helloOpts{sni: "quic.example", pad: 1500})
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	f.Add(quicInitial(f, initialOpts{version: quicV1, dcid: dcid, pnLen: 2, frames: cryptoFrame(0, hello[:1000]), padTo: 1150}),
		quicInitial(f, initialOpts{version: quicV1, dcid: dcid, pn: 1, pnLen: 2, frames: cryptoFrame(1000, hello[1000:]), padTo: 1150}))
	f.Add(quicInitial(f, initialOpts{version: quicV2, dcid: dcid, pnLen: 1, frames: cryptoFrame(0, hello), padTo: 1200}), []byte{})
	f.Add(gquicQ043(map[string]string{"SNI\x00": "g.example"}), []byte{0x40})
	shared := sharedPayloads(f, 120, func(p *capture.Packet) bool { return p.Proto == capture.ProtoUDP && p.DstPort != 53 })
	for i, p := range shared {
		next := []byte{}
		if i+1 < len(shared) {
			next = shared[i+1]
		}
		f.Add(p, next)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
		var st quicState
		for _, d := range [][]byte{a, b} {
			if len(d) == 0 {
				continue
			}
			info, s := l.quicDatagram(&st, d, 4096)
			if s == found && len(info.sni) == 0 {
				t.Error("found an empty name")
			}
			if n := len(st.crypto.buf) + st.crypto.hbyte; n > 4096 {
				t.Errorf("%d CRYPTO bytes held, bound 4096", n)
			}
		}
		// The same datagrams through the flow table.
		bt := batch(dgram(0, dev, web, devPrt, 443, a), dgram(1, dev, web, devPrt, 443, b))
		NewLearner(LearnerConfig{}, NewTable(TableConfig{})).Learn(bt)
	})
}
