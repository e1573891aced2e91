package dns

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
)

// TestCraftedDNS feeds messages built to hurt: each must be read without a
// panic, learn what it may, and be counted under its reason.
func TestCraftedDNS(t *testing.T) {
	// A name whose label holds a dot: dnsmessage cannot print it apart
	// from two labels, and refuses it.
	dotLabel := []byte{0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 'a', '.', 'b', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 203, 0, 113, 9}
	// An answer whose RDLENGTH claims more than the message holds.
	good := response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})
	lying := append(bytes.Clone(good), 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0xff, 0xff, 1, 2, 3, 4)
	binary.BigEndian.PutUint16(lying[6:], 2)
	// An A record of 5 bytes: dnsmessage would read the first 4.
	fiveByteA := append(bytes.Clone(good), 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 5, 1, 2, 3, 4, 5)
	binary.BigEndian.PutUint16(fiveByteA[6:], 2)
	// An answer count far above the records present.
	overcount := bytes.Clone(good)
	binary.BigEndian.PutUint16(overcount[6:], 0xffff)

	tests := []struct {
		name  string
		msg   []byte
		addrs int
		stats Stats
	}{
		{"label holding a dot", dotLabel, 0, Stats{Malformed: 1}},
		{"RDLENGTH past the end keeps the answer before", lying, 1, Stats{Addresses: 1, Truncated: 1}},
		{"A record of 5 bytes keeps the answer before", fiveByteA, 1, Stats{Addresses: 1, Truncated: 1}},
		{"answer count above the records", overcount, 1, Stats{Addresses: 1, Truncated: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := att.New(att.NewClock())
			l := newReader(tab)
			l.learn(batch(udpPacket(t0, tt.msg)))
			if got := att.Learned(tab); len(got) != tt.addrs {
				t.Errorf("learned %v, want %d records", got, tt.addrs)
			}
			s := l.Stats()
			tt.stats.Packets, tt.stats.Messages = 1, 1
			if diff := cmp.Diff(s, tt.stats, cmpOpts); diff != "" {
				t.Errorf("stats (-got +want):\n%s", diff)
			}
		})
	}
}

// TestLargestTCPMessage sends one 65,535-byte DNS message over TCP in
// 1,460-byte segments: thousands of answers, of which maxAnswers are read.
func TestLargestTCPMessage(t *testing.T) {
	var rs []dnsmessage.Resource
	for i := 0; ; i++ {
		rs = append(rs, rrA("big.example", netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}).String()))
		if len(response("big.example", rs)) > 65535-16 {
			rs = rs[:len(rs)-1]
			break
		}
	}
	msg := response("big.example", rs)
	// Pad with a TXT-free trailer up to the largest length the prefix allows.
	msg = append(msg, make([]byte, 65535-len(msg))...)
	stream := frame(msg)
	l := newReader(att.New(att.NewClock()))
	var ps []capture.Packet
	for off := 0; off < len(stream); off += 1460 {
		end := min(off+1460, len(stream))
		ps = append(ps, tcpPacket(t0, 0, uint32(1+off), stream[off:end]))
	}
	l.learn(batch(ps...))
	s := l.Stats()
	if len(rs) < 1000 || s.Messages != 1 || s.Addresses != maxAnswers || s.TooMany != 1 || s.TCPOverflow != 0 {
		t.Errorf("%d answers sent: Messages %d, Addresses %d, TooMany %d, TCPOverflow %d; want 1, %d, 1, 0",
			len(rs), s.Messages, s.Addresses, s.TooMany, s.TCPOverflow, maxAnswers)
	}
}
