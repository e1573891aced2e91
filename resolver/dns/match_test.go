package dns

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
)

// queryPacket is the client's query that udpPacket's response answers.
func queryPacket(ts time.Time, id uint16) capture.Packet {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		panic(err)
	}
	if err := b.Question(dnsmessage.Question{Name: mustName("a.example"), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}); err != nil {
		panic(err)
	}
	msg, err := b.Finish()
	if err != nil {
		panic(err)
	}
	return capture.Packet{TS: ts, Src: client, Dst: server, SrcPort: 50000, DstPort: 53, Proto: capture.ProtoUDP, Payload: msg}
}

func withID(id uint16) msgOpt { return func(h *dnsmessage.Header) { h.ID = id } }

// TestDNSMatch checks which responses each mode learns from, and that
// every response not learned from is counted as unmatched.
func TestDNSMatch(t *testing.T) {
	answer := func(ts time.Time, id uint16) capture.Packet {
		return udpPacket(ts, response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")}, withID(id)))
	}
	otherServer := func(p capture.Packet) capture.Packet { p.Src = netip.MustParseAddr("203.0.113.66"); return p }
	otherPort := func(p capture.Packet) capture.Packet { p.DstPort = 50001; return p }
	tests := []struct {
		name           string
		mode           Match
		packets        []capture.Packet
		learn          bool
		matched, unmat uint64
	}{
		{"auto: answers only", MatchAuto, []capture.Packet{answer(t0, 1)}, true, 0, 0},
		{"auto: matching answer", MatchAuto, []capture.Packet{queryPacket(t0, 7), answer(t0, 7)}, true, 1, 0},
		{"auto: wrong ID", MatchAuto, []capture.Packet{queryPacket(t0, 7), answer(t0, 8)}, false, 0, 1},
		{"auto: other server", MatchAuto, []capture.Packet{queryPacket(t0, 7), otherServer(answer(t0, 7))}, false, 0, 1},
		{"auto: other client port", MatchAuto, []capture.Packet{queryPacket(t0, 7), otherPort(answer(t0, 7))}, false, 0, 1},
		{"auto: too late", MatchAuto, []capture.Packet{queryPacket(t0, 7), answer(t0.Add(time.Minute), 7)}, false, 0, 1},
		{"auto: second answer", MatchAuto, []capture.Packet{queryPacket(t0, 7), answer(t0, 7), otherServer(answer(t0, 7))}, true, 1, 1},
		{"on: answers only", MatchOn, []capture.Packet{answer(t0, 1)}, false, 0, 1},
		{"on: matching answer", MatchOn, []capture.Packet{queryPacket(t0, 7), answer(t0, 7)}, true, 1, 0},
		{"off: wrong ID", MatchOff, []capture.Packet{queryPacket(t0, 7), answer(t0, 8)}, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := att.New(att.NewClock())
			l := newReader(tab, func(c *Config) { c.Match = tt.mode })
			l.learn(batch(tt.packets...))
			if got := len(att.Learned(tab)) > 0; got != tt.learn {
				t.Errorf("learned = %v, want %v", got, tt.learn)
			}
			s := l.Stats()
			if s.Matched != tt.matched || s.Unmatched != tt.unmat {
				t.Errorf("Matched, Unmatched = %d, %d; want %d, %d", s.Matched, s.Unmatched, tt.matched, tt.unmat)
			}
		})
	}
}

// TestDNSMatchTCP checks that a response over TCP, which a blind sender
// cannot forge, needs no query.
func TestDNSMatchTCP(t *testing.T) {
	tab := att.New(att.NewClock())
	l := newReader(tab, func(c *Config) { c.Match = MatchOn })
	msg := response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})
	seg := capture.Packet{TS: t0, Src: server, Dst: client, SrcPort: 53, DstPort: 50000, Proto: capture.ProtoTCP,
		TCPFlags: 0x18, Seq: 1000, Payload: append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)}
	l.learn(batch(seg))
	if got := att.Learned(tab); len(got) != 1 {
		t.Errorf("learned %v from a TCP answer, want one record", got)
	}
	if s := l.Stats(); s.Unmatched != 0 {
		t.Errorf("Unmatched = %d, want 0", s.Unmatched)
	}
}

// TestDNSMatchBounded floods queries: the pending ones stay within
// Queries (the oldest evicted, counted), and past QueryClients clients
// every client's responses must match.
func TestDNSMatchBounded(t *testing.T) {
	tab := att.New(att.NewClock())
	l := newReader(tab, func(c *Config) { c.Queries = 64; c.QueryClients = 8 })
	var ps []capture.Packet
	for i := range 1000 {
		q := queryPacket(t0, uint16(i))
		q.Src = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		ps = append(ps, q)
	}
	l.learn(batch(ps...))
	if n := len(l.q.pending); n > 64 {
		t.Errorf("%d queries pending, want at most 64", n)
	}
	s := l.Stats()
	if s.Queries != 1000 || s.QueriesEvicted != 1000-64 {
		t.Errorf("Queries, QueriesEvicted = %d, %d; want 1000, %d", s.Queries, s.QueriesEvicted, 1000-64)
	}
	// client (192.168.1.23) never sent a query, but the client set
	// overflowed: its unmatched answer is not believed.
	l.learn(batch(udpPacket(t0, response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")}))))
	if got := att.Learned(tab); len(got) != 0 {
		t.Errorf("learned %v from an unmatched answer past QueryClients", got)
	}
	if s := l.Stats(); s.Unmatched != 1 {
		t.Errorf("Unmatched = %d, want 1", s.Unmatched)
	}
	// Queries expire on packet time.
	l.learn(batch(queryPacket(t0.Add(time.Hour), 1)))
	if s := l.Stats(); s.QueriesExpired != 64 || len(l.q.pending) != 1 {
		t.Errorf("QueriesExpired = %d, pending %d; want 64, 1", s.QueriesExpired, len(l.q.pending))
	}
}

func TestParseDNSMatch(t *testing.T) {
	for _, s := range []string{"auto", "on", "off"} {
		m, err := ParseMatch(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMatch(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMatch("yes"); err == nil {
		t.Error("ParseMatch(yes) did not fail")
	}
}

// The ring of pending queries starts small and grows as the traffic needs
// it, up to Queries, keeping its order (oldest first out) across a wrap.
func TestDNSMatchRingGrows(t *testing.T) {
	tab := att.New(att.NewClock())
	l := newReader(tab, func(c *Config) { c.Queries = 600; c.QueryTimeout = 10 * time.Second })
	var ps []capture.Packet
	for i := range 200 {
		ps = append(ps, queryPacket(t0, uint16(i)))
	}
	l.learn(batch(ps...))
	if n := len(l.q.ring); n != 256 {
		t.Errorf("ring of %d after 200 queries, want 256", n)
	}
	// They expire; the next 300 wrap around the ring and grow it.
	t1 := t0.Add(11 * time.Second)
	ps = ps[:0]
	for i := range 300 {
		ps = append(ps, queryPacket(t1.Add(time.Duration(i)*time.Millisecond), uint16(1000+i)))
	}
	l.learn(batch(ps...))
	if n, h := len(l.q.ring), l.q.n; n != 512 || h != 300 {
		t.Errorf("ring of %d holding %d, want 512 holding 300", n, h)
	}
	// The oldest go first: 151 of the 300 are past the timeout.
	l.learn(batch(queryPacket(t1.Add(10*time.Second+150*time.Millisecond+time.Millisecond/2), 5000)))
	if s := l.Stats(); s.QueriesExpired != 200+151 || s.QueriesEvicted != 0 || len(l.q.pending) != 150 {
		t.Errorf("QueriesExpired %d, QueriesEvicted %d, pending %d; want 351, 0, 150", s.QueriesExpired, s.QueriesEvicted, len(l.q.pending))
	}
	if n := len(l.q.ring); n != 512 {
		t.Errorf("ring of %d, want 512 (never past Queries)", n)
	}
}
