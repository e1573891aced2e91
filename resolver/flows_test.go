package resolver

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// marks is what the learn stage set on one packet.
type marks struct {
	Pending bool   // Flow set, no name yet
	Named   string // Name.Domain, "-" for a name with an empty domain
	Brought bool   // Flow and Name both set: this packet brought the name
}

func marksOf(b *capture.Batch) []marks {
	var out []marks
	for _, p := range b.Packets {
		var m marks
		switch {
		case p.Name != nil && p.Flow != 0:
			m.Brought = true
			m.Named = p.Name.Domain
		case p.Name != nil:
			m.Named = p.Name.Domain
		case p.Flow != 0:
			m.Pending = true
		}
		if m.Named == "" && p.Name != nil {
			m.Named = "-"
		}
		out = append(out, m)
	}
	return out
}

const (
	syn    = tcpSYN
	synack = tcpSYN | tcpACK
	ack    = tcpACK
	fin    = tcpFIN | tcpACK
)

// A TLS connection: the handshake waits for the name, the ClientHello
// (split over two segments that arrive out of order, one of them twice)
// brings it, and every later packet both ways carries it.
func TestFlowNamedByClientHello(t *testing.T) {
	rec := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "Split.Example.COM", Pad: 600}))
	a, b := rec[:400], rec[400:]
	const isn = 1000
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{Now: func() time.Time { return t0 }})
	l := newLearner(tab)
	bt := batch(
		seg(0, dev, web, devPrt, 443, syn, isn, nil),
		seg(10, web, dev, 443, devPrt, synack, 7000, nil),
		seg(20, dev, web, devPrt, 443, ack, isn+1, nil),
		seg(21, dev, web, devPrt, 443, ack, isn+1+400, b), // the second part first
		seg(22, dev, web, devPrt, 443, ack, isn+1+400, b), // and again
		seg(23, dev, web, devPrt, 443, ack, isn+1, a),
		seg(40, web, dev, 443, devPrt, ack, 7001, nil),
		seg(50, dev, web, devPrt, 443, fin, isn+1+uint32(len(rec)), nil),
	)
	l.Learn(bt)
	want := []marks{{Pending: true}, {Pending: true}, {Pending: true}, {Pending: true}, {Pending: true},
		{Named: "split.example.com", Brought: true}, {Named: "split.example.com"}, {Named: "split.example.com"}}
	if d := cmp.Diff(want, marksOf(bt)); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
	if id := bt.Packets[0].Flow; id == 0 || bt.Packets[5].Flow != id {
		t.Errorf("flow ids %d and %d, want the same nonzero id", id, bt.Packets[5].Flow)
	}
	n := bt.Packets[5].Name
	if n.Source != source.SNI || n.Outer || n.Nickname != "" {
		t.Errorf("name %+v, want plain SNI", *n)
	}
	if d := cmp.Diff([]source.Record{{TS: t0.Add(23 * time.Millisecond), Addr: web, Domain: "split.example.com", Source: source.SNI}},
		att.Learned(tab), cmpOpts); d != "" {
		t.Errorf("table (-want +got):\n%s", d)
	}
	if s := l.Stats(); s.Flows != 1 || s.NamesSNI != 1 {
		t.Errorf("stats %+v, want one flow named by SNI", s)
	}
	// A retransmitted SYN is the same connection.
	bt1 := batch(seg(55, dev, web, devPrt, 443, syn, isn, nil))
	l.Learn(bt1)
	if bt1.Packets[0].Name != n {
		t.Errorf("a retransmitted SYN lost the flow's name")
	}
	// The same ports reused by a new connection: it names itself afresh.
	bt3 := batch(seg(1_000, dev, web, devPrt, 443, syn, 90_000, nil), seg(1_010, dev, web, devPrt, 443, ack, 90_001,
		fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "reused.example"}))))
	l.Learn(bt3)
	if d := cmp.Diff([]marks{{Pending: true}, {Named: "reused.example", Brought: true}}, marksOf(bt3)); d != "" {
		t.Errorf("reused ports (-want +got):\n%s", d)
	}
	// A second connection to the same name shares the name's value.
	bt2 := batch(seg(100, dev, web, devPrt+1, 443, syn, 1, nil), seg(110, dev, web, devPrt+1, 443, ack, 2,
		fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "split.example.com"}))))
	l.Learn(bt2)
	if bt2.Packets[1].Name != n {
		t.Errorf("second flow's name %p, want the shared %p", bt2.Packets[1].Name, n)
	}
}

// A capture that starts at the ClientHello (no SYN), over IPv6; and HTTP
// whose request head spans two segments.
func TestFlowWithoutHandshake(t *testing.T) {
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	req := []byte("GET /index.html HTTP/1.1\r\nUser-Agent: test\r\nHost: www.example.org\r\n\r\n")
	bt := batch(
		seg(0, dev6, web6, devPrt, 443, ack, 5, fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "v6.example"}))),
		seg(1, web6, dev6, 443, devPrt, ack, 9, nil),
		seg(2, dev, web, devPrt, 80, ack, 100, req[:30]),
		seg(3, web, dev, 80, devPrt, ack, 9, nil),
		seg(4, dev, web, devPrt, 80, ack, 130, req[30:]),
	)
	l.Learn(bt)
	want := []marks{{Named: "v6.example", Brought: true}, {Named: "v6.example"}, {Pending: true}, {Pending: true},
		{Named: "www.example.org", Brought: true}}
	if d := cmp.Diff(want, marksOf(bt)); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
}

// What a flow's first bytes may hold besides a usable name.
func TestFlowUnnamed(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		port    uint16
		want    marks // of the packet after the first bytes
		table   int   // records the table learns
		stats   func(Stats) uint64
	}{
		{"no SNI", fbt.Records(fbt.ClientHello(fbt.HelloOpts{})), 443, marks{}, 0, func(s Stats) uint64 { return s.FlowsUnnamed }},
		{"SNI is an address", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "52.114.250.152"})), 443, marks{}, 0,
			func(s Stats) uint64 { return s.FlowLiterals }},
		{"Host is an address", []byte("GET / HTTP/1.1\r\nHost: 23.246.11.145\r\n\r\n"), 80, marks{}, 0,
			func(s Stats) uint64 { return s.FlowLiterals }},
		{"not TLS or HTTP", []byte{0, 1, 2, 3}, 443, marks{}, 0, func(s Stats) uint64 { return s.FlowsUnnamed }},
		{"a proxy request names the flow, not the address", []byte("CONNECT apache.org:443 HTTP/1.1\r\n\r\n"), 80,
			marks{Named: "apache.org"}, 0, func(s Stats) uint64 { return s.NamesProxied }},
		{"ECH: the outer name", fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "cover.example", ECH: true})), 443,
			marks{Named: "cover.example"}, 1, func(s Stats) uint64 { return s.NamesOuter }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
			l := newLearner(tab)
			bt := batch(seg(0, dev, web, devPrt, tt.port, syn, 0, nil), seg(1, dev, web, devPrt, tt.port, ack, 1, tt.payload),
				seg(2, web, dev, tt.port, devPrt, ack, 1, nil))
			l.Learn(bt)
			if d := cmp.Diff(tt.want, marksOf(bt)[2]); d != "" {
				t.Errorf("marks after the first bytes (-want +got):\n%s", d)
			}
			if n := len(tab.Drain(nil)); n != tt.table {
				t.Errorf("table learned %d records, want %d", n, tt.table)
			}
			if n := tt.stats(l.Stats()); n != 1 {
				t.Errorf("counter = %d, want 1: %+v", n, l.Stats())
			}
			if tt.name == "ECH: the outer name" && !bt.Packets[2].Name.Outer {
				t.Error("outer name not marked")
			}
		})
	}
}

// QUIC: the Initials name the flow; the server's datagrams do not end the
// wait; the client's first short-header datagram (which the Decoder does
// not copy) does.
func TestFlowNamedByQUIC(t *testing.T) {
	hello := fbt.ClientHello(fbt.HelloOpts{SNI: "h3.example", Pad: 1500})
	dcid := []byte{8, 7, 6, 5, 4, 3, 2, 1}
	i0 := fbt.QUICInitial(t, fbt.InitialOpts{Version: fbt.QUICv1, DCID: dcid, PNLen: 1, Frames: fbt.CryptoFrame(0, hello[:1000]), PadTo: 1150})
	i1 := fbt.QUICInitial(t, fbt.InitialOpts{Version: fbt.QUICv1, DCID: dcid, PN: 1, PNLen: 1, Frames: fbt.CryptoFrame(1000, hello[1000:]), PadTo: 1150})
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	bt := batch(dgram(0, dev, web, devPrt, 443, i0), dgram(10, web, dev, 443, devPrt, nil),
		dgram(11, dev, web, devPrt, 443, i1), dgram(20, web, dev, 443, devPrt, nil))
	l.Learn(bt)
	want := []marks{{Pending: true}, {Pending: true}, {Named: "h3.example", Brought: true}, {Named: "h3.example"}}
	if d := cmp.Diff(want, marksOf(bt)); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
	if n := bt.Packets[2].Name; n.Source != source.QUIC {
		t.Errorf("source %v, want quic", n.Source)
	}

	// A connection seen from its short headers only gets no name, and
	// stops waiting at the client's first short header.
	bt = batch(dgram(100, dev, web, devPrt+1, 443, i0[:0]), dgram(101, web, dev, 443, devPrt+1, nil))
	l.Learn(bt)
	if d := cmp.Diff([]marks{{}, {}}, marksOf(bt)); d != "" {
		t.Errorf("no flow is started by a datagram without first bytes (-want +got):\n%s", d)
	}
	bt = batch(dgram(200, dev, web, devPrt+2, 443, i0), dgram(201, dev, web, devPrt+2, 443, nil), dgram(202, web, dev, 443, devPrt+2, nil))
	l.Learn(bt)
	if d := cmp.Diff([]marks{{Pending: true}, {Pending: true}, {}}, marksOf(bt)); d != "" {
		t.Errorf("short header ends the wait (-want +got):\n%s", d)
	}
}

// Port 853 is DNS over TLS (or over QUIC): named by its SNI when it has
// one, nicknamed by its port always, even when seen mid-stream.
func TestFlowDNSOverTLS(t *testing.T) {
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	bt := batch(
		seg(0, dev, web, devPrt, 853, syn, 0, nil),
		seg(1, dev, web, devPrt, 853, ack, 1, fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "dns.google"}))),
		seg(2, web, dev, 853, devPrt+1, ack, 77, nil), // a connection older than netmon
		dgram(3, dev, web, devPrt, 853, fbt.QUICInitial(t, fbt.InitialOpts{Version: fbt.QUICv1, DCID: []byte{1, 2, 3, 4}, PNLen: 1,
			Frames: fbt.CryptoFrame(0, fbt.ClientHello(fbt.HelloOpts{})), PadTo: 1200})),
	)
	l.Learn(bt)
	got := []capture.FlowName{*bt.Packets[1].Name, *bt.Packets[2].Name, *bt.Packets[3].Name}
	want := []capture.FlowName{
		{Domain: "dns.google", Source: source.SNI, Nickname: nickname.DoT},
		{Nickname: nickname.DoT},
		{Nickname: nickname.DoQ},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
}

// Flow state is bounded: a cap with the least recently used flow going
// first, idle flows forgotten, a wait that ends, buffers bounded.
func TestFlowBounds(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.Flows = 2 })
		for i := range 3 {
			l.Learn(batch(seg(i, dev, web, devPrt+uint16(i), 443, syn, 0, nil)))
		}
		if n, s := l.ft.index.Len(), l.Stats(); n != 2 || s.FlowsEvicted != 1 {
			t.Errorf("%d flows held, %d evicted; want 2 and 1", n, s.FlowsEvicted)
		}
		// The first flow was the one dropped: its ClientHello now starts
		// a new flow from its first bytes.
		bt := batch(seg(10, dev, web, devPrt, 443, ack, 1, fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "a.example"}))))
		l.Learn(bt)
		if bt.Packets[0].Name == nil {
			t.Error("flow not restarted from its first bytes")
		}
	})
	t.Run("idle", func(t *testing.T) {
		l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.FlowIdle = time.Minute })
		l.Learn(batch(seg(0, dev, web, devPrt, 443, syn, 0, nil), seg(1, dev, web, devPrt, 443, ack, 1,
			fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "idle.example"})))))
		l.Learn(batch(seg(30_000, dev, web, devPrt+1, 443, fin, 0, nil))) // not followed: no SYN, no bytes
		bt := batch(seg(59_000, web, dev, 443, devPrt, ack, 5, nil))
		l.Learn(bt)
		if bt.Packets[0].Name == nil {
			t.Error("flow forgotten before FlowIdle")
		}
		bt = batch(seg(200_000, web, dev, 443, devPrt, ack, 5, nil))
		l.Learn(bt)
		if bt.Packets[0].Name != nil || l.Stats().FlowsExpired != 1 {
			t.Errorf("flow kept past FlowIdle: %+v", l.Stats())
		}
	})
	t.Run("wait", func(t *testing.T) {
		l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
		var ps []capture.Packet
		ps = append(ps, seg(0, dev, web, devPrt, 443, syn, 0, nil))
		for i := range maxPendingPackets + 5 {
			ps = append(ps, seg(1+i, web, dev, 443, devPrt, ack, 0, nil))
		}
		bt := batch(ps...)
		l.Learn(bt)
		if last := bt.Packets[len(bt.Packets)-1]; last.Flow != 0 || l.Stats().FlowsUnnamed != 1 {
			t.Errorf("still waiting after %d packets: %+v", len(ps), l.Stats())
		}
	})
	t.Run("buffers", func(t *testing.T) {
		l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.FlowBuffers = 1 })
		rec := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "b.example"}))
		l.Learn(batch(seg(0, dev, web, devPrt, 443, ack, 1, rec[:20]), seg(1, dev, web, devPrt+1, 443, ack, 1, rec[:20])))
		if s := l.Stats(); s.FlowBuffersFull != 1 || l.ft.buffering != 1 {
			t.Errorf("buffering %d, stats %+v; want 1 buffering and 1 refused", l.ft.buffering, s)
		}
		l.Learn(batch(seg(2, dev, web, devPrt, 443, ack, 21, rec[20:])))
		if l.ft.buffering != 0 || l.Stats().NamesSNI != 1 {
			t.Errorf("buffer not released once named: %d, %+v", l.ft.buffering, l.Stats())
		}
	})
	t.Run("first bytes past FlowBytes", func(t *testing.T) {
		l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.FlowBytes = 1024 })
		rec := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "huge.example", Pad: 3000}), 500)
		var ps []capture.Packet
		for off := 0; off < len(rec); off += 400 {
			ps = append(ps, seg(off, dev, web, devPrt, 443, ack, 1+uint32(off), rec[off:min(off+400, len(rec))]))
		}
		l.Learn(batch(ps...))
		if s := l.Stats(); s.FlowsUnnamed != 1 || l.ft.buffering != 0 {
			t.Errorf("a ClientHello past FlowBytes: %+v, %d buffering", s, l.ft.buffering)
		}
	})
}

// The per-packet cost of a flow that has its name: no allocation.
func TestNamedFlowDoesNotAllocate(t *testing.T) {
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	l.Learn(batch(seg(0, dev, web, devPrt, 443, syn, 0, nil), seg(1, dev, web, devPrt, 443, ack, 1,
		fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "alloc.example"})))))
	bt := batch(seg(2, web, dev, 443, devPrt, ack, 1, nil), seg(3, dev, web, devPrt, 443, ack, 1, nil))
	if n := testing.AllocsPerRun(100, func() { l.Learn(bt) }); n != 0 {
		t.Errorf("Learn of a named flow's packets: %v allocations, want 0", n)
	}
	if bt.Packets[0].Name == nil {
		t.Error("not named")
	}
}

// TestFlowMemory fills the flow table to its default cap with named flows
// and reports the heap it holds per flow; the README quotes it.
func TestFlowMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 65k flows")
	}
	n := DefaultConfig().Flows
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}))
	hello := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "mem.example"}))
	bt := batch(seg(0, dev, web, 0, 443, syn, 0, nil), seg(1, dev, web, 0, 443, ack, 1, hello))
	for i := range n {
		c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		for j := range bt.Packets {
			bt.Packets[j].Src, bt.Packets[j].Name, bt.Packets[j].Flow = c, nil, 0
		}
		l.Learn(bt)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("flow table: %.0f bytes/flow at %d flows", per, n)
	if s := l.Stats(); s.NamesSNI != uint64(n) || l.ft.index.Len() != n {
		t.Fatalf("%d flows named, %d held; want %d", s.NamesSNI, l.ft.index.Len(), n)
	}
	// 104 bytes an entry and 16 of index (an 8-byte slot at half load);
	// the map keyed by the whole flow key this index replaced took 281.
	if per > 160 && !raceEnabled {
		t.Errorf("%.0f bytes/flow, want at most 160", per)
	}
}
