package dns

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
	"github.com/netmon/netmon/resolver/source"
)

// frame puts each message behind its two-byte length, as DNS over TCP does.
func frame(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

func tcpPacket(ts time.Time, flags uint8, seq uint32, payload []byte) capture.Packet {
	return capture.Packet{TS: ts, WireLen: uint32(54 + len(payload)), Src: server, Dst: client,
		SrcPort: 53, DstPort: 40000, Proto: capture.ProtoTCP, TCPFlags: flags | 0x10, Seq: seq, Payload: payload}
}

// split cuts b at the given offsets.
func split(b []byte, at ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, a := range at {
		out = append(out, b[prev:a])
		prev = a
	}
	return append(out, b[prev:])
}

func TestLearnTCP(t *testing.T) {
	m1 := response("one.example", []dnsmessage.Resource{rrA("one.example", "198.51.100.1")})
	m2 := response("two.example", []dnsmessage.Resource{rrCNAME("two.example", "cdn.example"), rrAAAA("cdn.example", "2001:db8::2")})
	both := frame(m1, m2)
	one := frame(m1)
	thirds := split(one, 1, len(one)/2) // the first cut splits the length prefix
	const isn = 0xFFFFFF00              // sequence numbers wrap during the stream
	want1 := []source.Record{att.DNSRec(t0, "198.51.100.1", "one.example")}
	want2 := []source.Record{att.DNSRec(t0, "198.51.100.1", "one.example"), att.DNSRec(t0, "2001:db8::2", "two.example")}

	seqs := func(parts [][]byte) []uint32 {
		out := make([]uint32, len(parts))
		s := uint32(isn + 1)
		for i, p := range parts {
			out[i] = s
			s += uint32(len(p))
		}
		return out
	}
	s3 := seqs(thirds)

	tests := []struct {
		name  string
		pkts  []capture.Packet
		want  []source.Record
		stats Stats
		flows int
	}{
		{
			name: "two messages in one segment",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, isn+1, both),
			},
			want:  want2,
			stats: Stats{Packets: 2, Messages: 2, Addresses: 2},
			flows: 1,
		},
		{
			name: "one message over three segments",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, 0, s3[1], thirds[1]),
				tcpPacket(t0, 0, s3[2], thirds[2]),
			},
			want:  want1,
			stats: Stats{Packets: 4, Messages: 1, Addresses: 1},
			flows: 1,
		},
		{
			name: "out of order",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[2], thirds[2]),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, 0, s3[1], thirds[1]),
			},
			want:  want1,
			stats: Stats{Packets: 4, Messages: 1, Addresses: 1, TCPOutOfOrder: 1},
			flows: 1,
		},
		{
			name: "retransmissions, whole and overlapping",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, 0, s3[2], thirds[2]),
				tcpPacket(t0, 0, s3[2], thirds[2]),
				tcpPacket(t0, 0, s3[0], one[:len(one)-3]), // overlaps the held tail
				tcpPacket(t0, 0, s3[0], one),
			},
			want:  want1,
			stats: Stats{Packets: 7, Messages: 1, Addresses: 1, TCPOutOfOrder: 1, TCPRetransmits: 3},
			flows: 1,
		},
		{
			name: "picked up without the handshake, closed by FIN",
			pkts: []capture.Packet{
				tcpPacket(t0, 0, 5000, both[:10]),
				tcpPacket(t0, 0, 5010, both[10:]),
				tcpPacket(t0, tcpFIN, 5000+uint32(len(both)), nil),
			},
			want:  want2,
			stats: Stats{Packets: 3, Messages: 2, Addresses: 2},
		},
		{
			name: "data on the SYN (TCP Fast Open)",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, one),
			},
			want:  want1,
			stats: Stats{Packets: 1, Messages: 1, Addresses: 1},
			flows: 1,
		},
		{
			name: "retransmitted SYN keeps the stream",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[1], thirds[1]),
				tcpPacket(t0, 0, s3[2], thirds[2]),
			},
			want:  want1,
			stats: Stats{Packets: 5, Messages: 1, Addresses: 1},
			flows: 1,
		},
		{
			name: "new connection on the same ports drops the old partial message",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, tcpSYN, 7000, nil),
				tcpPacket(t0, 0, 7001, one),
			},
			want:  want1,
			stats: Stats{Packets: 4, Messages: 1, Addresses: 1},
			flows: 1,
		},
		{
			name: "bare ACK of an unknown stream keeps nothing",
			pkts: []capture.Packet{
				tcpPacket(t0, 0, 77, nil),
			},
			stats: Stats{Packets: 1},
		},
		{
			// The bytes after the RST start mid-message; they wait as the
			// stream picked up anew and teach nothing.
			name: "RST drops the partial message",
			pkts: []capture.Packet{
				tcpPacket(t0, tcpSYN, isn, nil),
				tcpPacket(t0, 0, s3[0], thirds[0]),
				tcpPacket(t0, tcpRST, s3[1], nil),
				tcpPacket(t0, 0, s3[1], thirds[1]),
				tcpPacket(t0, 0, s3[2], thirds[2]),
			},
			stats: Stats{Packets: 5},
			flows: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := att.New(att.NewClock())
			l := newReader(tab)
			l.learn(batch(tt.pkts...))
			if diff := cmp.Diff(att.Learned(tab), tt.want, cmpOpts); diff != "" {
				t.Errorf("records (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(l.Stats(), tt.stats, cmpOpts); diff != "" {
				t.Errorf("stats (-got +want):\n%s", diff)
			}
			if len(l.flows) != tt.flows {
				t.Errorf("%d streams kept, want %d", len(l.flows), tt.flows)
			}
		})
	}
}

// TestLearnTCPGap loses a segment for good: the stream gives the partial
// message up once too much waits behind the gap, and learns what follows.
func TestLearnTCPGap(t *testing.T) {
	tab := att.New(att.NewClock())
	l := newReader(tab)
	lost := frame(response("lost.example", []dnsmessage.Resource{rrA("lost.example", "198.51.100.66")}))
	var pkts []capture.Packet
	seq := uint32(1001)
	pkts = append(pkts, tcpPacket(t0, tcpSYN, 1000, nil), tcpPacket(t0, 0, seq, lost[:5]))
	seq += uint32(len(lost)) // the rest of lost never arrives
	for i := range maxHeldSegments + 1 {
		name := fmt.Sprintf("h%d.example", i)
		m := frame(response(name, []dnsmessage.Resource{rrA(name, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String())}))
		pkts = append(pkts, tcpPacket(t0, 0, seq, m))
		seq += uint32(len(m))
	}
	l.learn(batch(pkts...))
	s := l.Stats()
	if s.TCPGaps != 1 || s.Addresses != maxHeldSegments+1 {
		t.Errorf("TCPGaps, Addresses = %d, %d; want 1, %d", s.TCPGaps, s.Addresses, maxHeldSegments+1)
	}
	if f := l.flows[flowKey{server, client, 53, 40000}]; f == nil || len(f.held) != 0 || len(f.buf) != 0 {
		t.Errorf("stream after the gap: %+v, want empty and kept", f)
	}
}

func TestLearnTCPBounds(t *testing.T) {
	m := frame(response("one.example", []dnsmessage.Resource{rrA("one.example", "198.51.100.1")}))
	flow := func(port uint16, ts time.Time, p []byte) capture.Packet {
		pk := tcpPacket(ts, 0, 1, p)
		pk.DstPort = port
		return pk
	}
	t.Run("stream cap evicts the idlest", func(t *testing.T) {
		l := newReader(att.New(att.NewClock()), func(c *Config) { c.TCPFlows = 2 })
		l.learn(batch(
			flow(1, t0, m[:3]),
			flow(2, t0.Add(time.Second), m[:3]),
			flow(1, t0.Add(2*time.Second), nil), // a bare ACK keeps the stream alive
			flow(3, t0.Add(3*time.Second), m[:3]),
		))
		if s := l.Stats(); s.TCPEvicted != 1 {
			t.Errorf("TCPEvicted = %d, want 1", s.TCPEvicted)
		}
		if _, ok := l.flows[flowKey{server, client, 53, 2}]; ok {
			t.Errorf("stream 2 (idle longest) was kept")
		}
	})
	t.Run("idle streams expire on packet time", func(t *testing.T) {
		l := newReader(att.New(att.NewClock()), func(c *Config) { c.TCPIdle = 30 * time.Second })
		l.learn(batch(flow(1, t0, m[:3]), flow(2, t0.Add(20*time.Second), m[:3])))
		l.learn(batch(flow(3, t0.Add(45*time.Second), m[:3])))
		if s := l.Stats(); s.TCPIdle != 1 || len(l.flows) != 2 {
			t.Errorf("TCPIdle = %d with %d streams, want 1 with 2", s.TCPIdle, len(l.flows))
		}
	})
	t.Run("byte cap drops the stream", func(t *testing.T) {
		l := newReader(att.New(att.NewClock()), func(c *Config) { c.TCPFlowBytes = 100 })
		big := make([]byte, 150)
		binary.BigEndian.PutUint16(big, 1000)
		l.learn(batch(flow(1, t0, big)))
		if s := l.Stats(); s.TCPOverflow != 1 || len(l.flows) != 0 {
			t.Errorf("TCPOverflow = %d with %d streams, want 1 with 0", s.TCPOverflow, len(l.flows))
		}
	})
}
