package resolver

import (
	"testing"

	"github.com/netmon/netmon/capture"
)

// BenchmarkTLSHello parses a ClientHello from Go's TLS client in one
// record, as the learner does for a flow's first segment.
func BenchmarkTLSHello(b *testing.B) {
	rec := goClientHello(b, "www.example.com")
	var scratch []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, st := tlsHello(rec, &scratch, 16<<10); st != found {
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
		if _, st := httpHost(req); st != found {
			b.Fatal("no name")
		}
	}
}

// BenchmarkQUICInitial reads the SNI of a 1200-byte v1 Initial: with the
// connection's keys to derive (a new connection), and with its keys
// already derived (its second Initial).
func BenchmarkQUICInitial(b *testing.B) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	pkt := quicInitial(b, initialOpts{version: quicV1, dcid: dcid, pnLen: 2,
		frames: cryptoFrame(0, clientHello(helloOpts{sni: "www.example.com"})), padTo: 1160})
	l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
	b.Run("new-keys", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			var st quicState
			if _, s := l.quicDatagram(&st, pkt, 16<<10); s != found {
				b.Fatal("no name")
			}
		}
	})
	b.Run("known-keys", func(b *testing.B) {
		var st quicState
		l.quicDatagram(&st, pkt, 16<<10)
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			st.crypto.buf = st.crypto.buf[:0]
			if _, s := l.quicDatagram(&st, pkt, 16<<10); s != found {
				b.Fatal("no name")
			}
		}
	})
}

// BenchmarkLearnNamedFlow is the learner's cost per packet of flows that
// already have their name: a table lookup and a pointer set. It must not
// allocate.
func BenchmarkLearnNamedFlow(b *testing.B) {
	l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
	const flows = 64
	for i := range flows {
		l.Learn(batch(seg(0, dev, web, devPrt+uint16(i), 443, syn, 0, nil),
			seg(1, dev, web, devPrt+uint16(i), 443, ack, 1, records(clientHello(helloOpts{sni: "bench.example"})))))
	}
	bt := capture.NewBatch()
	for i := range capture.BatchSize {
		port := devPrt + uint16(i%flows)
		if i%4 == 0 {
			bt.Packets = append(bt.Packets, seg(2, dev, web, port, 443, ack, 1000, nil))
		} else {
			bt.Packets = append(bt.Packets, seg(2, web, dev, 443, port, ack, 1000, nil))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Learn(bt)
	}
	if bt.Packets[0].Name == nil {
		b.Fatal("not named")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*capture.BatchSize), "ns/packet")
}

// BenchmarkLearnNewFlow is the learner's cost of a new TLS connection:
// SYN, SYN-ACK, ACK and a one-segment ClientHello, a name already known.
func BenchmarkLearnNewFlow(b *testing.B) {
	l := NewLearner(LearnerConfig{}, NewTable(TableConfig{}))
	hello := goClientHello(b, "www.example.com")
	bt := batch(seg(0, dev, web, 0, 443, syn, 0, nil), seg(1, web, dev, 443, 0, synack, 0, nil),
		seg(2, dev, web, 0, 443, ack, 1, nil), seg(3, dev, web, 0, 443, ack, 1, hello))
	b.ReportAllocs()
	port := uint16(1024)
	for b.Loop() {
		port++
		for i := range bt.Packets {
			p := &bt.Packets[i]
			p.Name, p.Flow = nil, 0
			if p.SrcPort == 443 {
				p.DstPort = port
			} else {
				p.SrcPort = port
			}
		}
		l.Learn(bt)
	}
}
