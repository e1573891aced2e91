package classify

import (
	"net/netip"
	"testing"

	"github.com/netmon/netmon/capture"
)

// BenchmarkClassify is the resolve stage's cost per packet: which end of a
// packet is the remote service.
func BenchmarkClassify(b *testing.B) {
	c := New(Deps{})
	bt := capture.NewBatch()
	client := netip.MustParseAddr("192.168.1.23")
	for i := range capture.BatchSize {
		remote := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		p := capture.Packet{Src: client, Dst: remote, SrcPort: 50000, DstPort: 443, Proto: capture.ProtoTCP}
		if i%2 == 1 {
			p.Src, p.Dst, p.SrcPort, p.DstPort = remote, client, 443, 50000
		}
		bt.Packets = append(bt.Packets, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(bt)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*capture.BatchSize), "ns/packet")
}
