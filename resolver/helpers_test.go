package resolver

import (
	"net/netip"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
)

// t0 is the packet and wall time tests start at.
var t0 = att.T0

var (
	client = netip.MustParseAddr("192.168.1.23")
)

func batch(ps ...capture.Packet) *capture.Batch {
	b := capture.NewBatch()
	b.Packets = append(b.Packets, ps...)
	return b
}

// Endpoints of the flows built in these tests.
var (
	dev    = netip.MustParseAddr("192.168.1.23")
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

// newLearner is a learner over tab with the default settings changed by
// set.
func newLearner(tab *addrtable.Table, set ...func(*Config)) *Learner {
	cfg := DefaultConfig()
	for _, s := range set {
		s(&cfg)
	}
	return New(cfg, Deps{Table: tab})
}

var cmpOpts = gocmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}
