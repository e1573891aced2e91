package resolver

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/netmon/netmon/capture"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
)

// TestCraftedHTTPFlow gives the learner a request head whose header line
// never ends: the flow is given up at FlowBytes, counted as unnamed.
func TestCraftedHTTPFlow(t *testing.T) {
	head := append([]byte("GET / HTTP/1.1\r\nX-Long: "), bytes.Repeat([]byte{'a'}, 20000)...)
	l := newLearner(att.New(att.NewClock()))
	remote := netip.MustParseAddr("198.51.100.80")
	pk := func(flags uint8, seq uint32, p []byte) capture.Packet {
		return capture.Packet{TS: t0, Src: client, Dst: remote, SrcPort: 40000, DstPort: 80, Proto: capture.ProtoTCP,
			TCPFlags: flags, Seq: seq, Payload: p}
	}
	ps := []capture.Packet{pk(0x02, 0, nil)}
	for off := 0; off < len(head); off += 1000 {
		ps = append(ps, pk(0x18, uint32(1+off), head[off:min(off+1000, len(head))]))
	}
	l.Learn(batch(ps...))
	if s := l.Stats(); s.FlowsUnnamed != 1 || s.NamesHTTP != 0 {
		t.Errorf("FlowsUnnamed, NamesHTTP = %d, %d; want 1, 0", s.FlowsUnnamed, s.NamesHTTP)
	}
}
