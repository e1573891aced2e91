package resolver

import (
	"testing"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
)

// BenchmarkLearnNamedFlow is the learner's cost per packet of flows that
// already have their name: a table lookup and a pointer set. It must not
// allocate.
func BenchmarkLearnNamedFlow(b *testing.B) {
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	const flows = 64
	for i := range flows {
		l.Learn(batch(seg(0, dev, web, devPrt+uint16(i), 443, syn, 0, nil),
			seg(1, dev, web, devPrt+uint16(i), 443, ack, 1, fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "bench.example"})))))
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
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	hello := fbt.GoClientHello(b, "www.example.com")
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
