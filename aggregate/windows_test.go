package aggregate

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// fakeNames is a name table the test controls.
type fakeNames struct {
	mu      sync.Mutex
	names   map[netip.Addr]source.Record
	pending []source.Record
	lookups int
}

func newFakeNames() *fakeNames { return &fakeNames{names: map[netip.Addr]source.Record{}} }

func (f *fakeNames) learn(addr, domain string, src source.Source) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := source.Record{Addr: netip.MustParseAddr(addr), Domain: domain, Source: src}
	f.names[rec.Addr] = rec
	f.pending = append(f.pending, rec)
}

func (f *fakeNames) Lookup(_, remote netip.Addr) (source.Record, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	r, ok := f.names[remote]
	return r, ok
}

func (f *fakeNames) Drain(dst []source.Record) []source.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst = append(dst, f.pending...)
	f.pending = nil
	return dst
}

type fakePTR struct{ asked []netip.Addr }

func (f *fakePTR) Request(a netip.Addr) { f.asked = append(f.asked, a) }

// addrCmp compares addresses by value; netip.Addr has unexported fields.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

var (
	client  = netip.MustParseAddr("192.168.1.23")
	client2 = netip.MustParseAddr("192.168.1.24")
	github  = netip.MustParseAddr("140.82.112.3")
	dropbox = netip.MustParseAddr("162.125.1.1")
)

// pkt builds a packet at second sec (fractions allowed) of the Unix epoch.
func pkt(sec float64, src, dst netip.Addr, dir capture.Dir, wirelen uint32) capture.Packet {
	return capture.Packet{
		TS:      time.Unix(0, int64(sec*1e9)),
		WireLen: wirelen,
		Src:     src, Dst: dst, SrcPort: 50000, DstPort: 443, Proto: capture.ProtoTCP,
		Dir: dir,
	}
}

func out(c, r netip.Addr, sec float64, n uint32) capture.Packet {
	return pkt(sec, c, r, capture.DirRemoteDst, n)
}

func in(c, r netip.Addr, sec float64, n uint32) capture.Packet {
	return pkt(sec, r, c, capture.DirRemoteSrc, n)
}

func batch(ps ...capture.Packet) *capture.Batch {
	b := capture.NewBatch()
	b.Packets = append(b.Packets, ps...)
	return b
}

// collect runs w over the batches and returns every window it wrote.
func collect(t *testing.T, w *Windows, batches ...*capture.Batch) []*Window {
	t.Helper()
	inCh := make(chan *capture.Batch, len(batches))
	for _, b := range batches {
		inCh <- b
	}
	close(inCh)
	outCh := make(chan *Window, 100)
	if err := w.Run(context.Background(), inCh, outCh); err != nil {
		t.Fatal(err)
	}
	var got []*Window
	for win := range outCh {
		got = append(got, win)
	}
	return got
}

func TestWindowsCountAndName(t *testing.T) {
	names := newFakeNames()
	names.learn("140.82.112.3", "www.github.com", source.DNS)
	names.Drain(nil) // already written earlier
	w := New(DefaultConfig(), Deps{Names: names})

	got := collect(t, w, batch(
		out(client, github, 1000.5, 100),
		in(client, github, 1004, 1500),
		out(client, dropbox, 1009.999, 60),
		pkt(1005, client, client2, capture.DirSkip, 70), // skipped by the resolve stage
		out(client, github, 1010, 40),
	))
	want := []*Window{
		{Start: time.Unix(1000, 0).UTC(), Rows: []Row{
			{Client: client, Domain: "www.github.com", Nickname: "GitHub", NickSource: nickname.FromCatalogue, Source: source.DNS, Count: 2, Bytes: 1600},
			{Client: client, Domain: "162.125.1.1", Nickname: "162.125.1.1", NickSource: nickname.FromAddress, Source: source.IP, Count: 1, Bytes: 60},
		}},
		{Start: time.Unix(1010, 0).UTC(), Rows: []Row{
			{Client: client, Domain: "www.github.com", Nickname: "GitHub", NickSource: nickname.FromCatalogue, Source: source.DNS, Count: 1, Bytes: 40},
		}},
	}
	if d := cmp.Diff(want, got, addrCmp); d != "" {
		t.Errorf("windows (-want +got):\n%s", d)
	}
	if n := w.Stats().Packets.Load(); n != 4 {
		t.Errorf("counted %d packets, want 4", n)
	}
	st := w.Stats()
	if c, a, l := st.RowsByNickSource[nickname.FromCatalogue].Load(), st.RowsByNickSource[nickname.FromAddress].Load(),
		st.RowsByNickSource[nickname.FromLabel].Load(); c != 2 || a != 1 || l != 0 {
		t.Errorf("rows by nickname source: catalogue %d, address %d, label %d; want 2, 1, 0", c, a, l)
	}
}

// A DNS answer that arrives later in the same window still names the
// packets that came before it, because names are looked up at close.
func TestWindowsNameAtClose(t *testing.T) {
	names := newFakeNames()
	w := New(DefaultConfig(), Deps{Names: names})
	w.Add(batch(out(client, dropbox, 2000, 10)))
	names.learn("162.125.1.1", "t8.dropbox.com", source.DNS)
	got := collect(t, w, batch(out(client, dropbox, 2003, 10)))
	if len(got) != 1 || len(got[0].Rows) != 1 {
		t.Fatalf("got %d windows, want 1 with one row: %+v", len(got), got)
	}
	r := got[0].Rows[0]
	if r.Domain != "t8.dropbox.com" || r.Nickname != "Dropbox" || r.Count != 2 {
		t.Errorf("row %+v, want t8.dropbox.com/Dropbox with 2 packets", r)
	}
	if len(got[0].Names) != 1 || got[0].Names[0].Domain != "t8.dropbox.com" {
		t.Errorf("window names %+v, want the learned record for dns_records", got[0].Names)
	}
}

// Rows written under a PTR guess or the bare address are corrected once a
// definite name shows up.
func TestWindowsCorrections(t *testing.T) {
	names := newFakeNames()
	ptr := &fakePTR{}
	names.learn("140.82.112.3", "lb-140-82-112-3-iad.github.com", source.PTR)
	w := New(DefaultConfig(), Deps{Names: names, PTR: ptr})
	inCh := make(chan *capture.Batch, 4)
	outCh := make(chan *Window, 10)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), inCh, outCh) }()

	inCh <- batch(out(client, github, 3000, 10), out(client, dropbox, 3001, 10))
	inCh <- batch(out(client, github, 3013, 10)) // closes window 3000
	first := <-outCh
	names.learn("140.82.112.3", "github.com", source.DNS)
	names.learn("162.125.1.1", "t8.dropbox.com", source.DNS)
	inCh <- batch(out(client, github, 3025, 10)) // closes window 3010
	second := <-outCh
	close(inCh)
	third := <-outCh
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	wantFirst := []Row{
		{Client: client, Domain: "lb-140-82-112-3-iad.github.com", Nickname: "GitHub", NickSource: nickname.FromCatalogue, Source: source.PTR, Count: 1, Bytes: 10},
		{Client: client, Domain: "162.125.1.1", Nickname: "162.125.1.1", NickSource: nickname.FromAddress, Source: source.IP, Count: 1, Bytes: 10},
	}
	if d := cmp.Diff(wantFirst, first.Rows, addrCmp); d != "" {
		t.Errorf("first window (-want +got):\n%s", d)
	}
	wantCorr := []Correction{
		{Addr: github, Old: "lb-140-82-112-3-iad.github.com", New: "github.com", NewNickname: "GitHub", NewNickSource: nickname.FromCatalogue, NewSource: source.DNS},
		{Addr: dropbox, Old: "162.125.1.1", New: "t8.dropbox.com", NewNickname: "Dropbox", NewNickSource: nickname.FromCatalogue, NewSource: source.DNS},
	}
	if d := cmp.Diff(wantCorr, second.Corrections, addrCmp); d != "" {
		t.Errorf("corrections (-want +got):\n%s", d)
	}
	if second.Rows[0].Domain != "github.com" {
		t.Errorf("second window row %+v, want github.com", second.Rows[0])
	}
	if len(third.Corrections) != 0 {
		t.Errorf("corrections repeated: %+v", third.Corrections)
	}
	// PTR is asked only for the remote that had no name at all.
	if d := cmp.Diff([]netip.Addr{dropbox}, ptr.asked, addrCmp); d != "" {
		t.Errorf("PTR requests (-want +got):\n%s", d)
	}
}

func TestWindowsLateAndOverflow(t *testing.T) {
	names := newFakeNames()
	cfg := DefaultConfig()
	cfg.MaxKeys, cfg.KeyReserve = 2, 0
	w := New(cfg, Deps{Names: names})
	r3 := netip.MustParseAddr("203.0.113.3")
	got := collect(t, w,
		batch(out(client, github, 100, 1), out(client, dropbox, 101, 1), out(client, r3, 102, 7), out(client2, r3, 103, 8)),
		batch(out(client, github, 125, 1)),
		batch(out(client, github, 105, 5)), // its window closed at 112+: late
	)
	if len(got) != 3 {
		t.Fatalf("got %d windows, want 3", len(got))
	}
	// Past the window's cap each client's packets count under its own
	// overflow row: the client is kept.
	overflow := map[netip.Addr]Row{}
	for _, r := range got[0].Rows {
		if r.Domain == OverflowDomain {
			overflow[r.Client] = r
		}
	}
	if o := overflow[client]; o.Count != 1 || o.Bytes != 7 || o.Nickname != OverflowDomain {
		t.Errorf("%s's overflow row %+v, want 1 packet / 7 bytes", client, o)
	}
	if o := overflow[client2]; o.Count != 1 || o.Bytes != 8 || o.Nickname != OverflowDomain {
		t.Errorf("%s's overflow row %+v, want 1 packet / 8 bytes", client2, o)
	}
	if w.Stats().Overflow.Load() != 2 {
		t.Errorf("overflow counter %d, want 2", w.Stats().Overflow.Load())
	}
	if w.Stats().Late.Load() != 1 {
		t.Errorf("late counter %d, want 1", w.Stats().Late.Load())
	}
	// The late packet comes out in its own window, stamped with its start.
	var late *Window
	for _, win := range got {
		if win.Start.Equal(time.Unix(100, 0)) && win != got[0] {
			late = win
		}
	}
	if late == nil || len(late.Rows) != 1 || late.Rows[0].Count != 1 || late.Rows[0].Bytes != 5 {
		t.Errorf("late window %+v, want one row of 1 packet / 5 bytes", late)
	}
}

// In live mode the open window is closed by the wall clock when no later
// packet comes.
func TestWindowsLiveCloseByClock(t *testing.T) {
	names := newFakeNames()
	now := time.Unix(50, 0)
	var mu sync.Mutex
	cfg := DefaultConfig()
	cfg.Live = true
	w := New(cfg, Deps{Names: names, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	inCh := make(chan *capture.Batch, 1)
	outCh := make(chan *Window, 1)
	go func() { _ = w.Run(context.Background(), inCh, outCh) }()
	inCh <- batch(out(client, github, 51, 10))
	select {
	case win := <-outCh:
		t.Fatalf("window %v closed before its time", win.Start)
	case <-time.After(1500 * time.Millisecond):
	}
	mu.Lock()
	now = time.Unix(62, 0) // end 60 + lateness 2
	mu.Unlock()
	select {
	case win := <-outCh:
		if !win.Start.Equal(time.Unix(50, 0)) || len(win.Rows) != 1 {
			t.Errorf("window %+v, want start 50 with one row", win)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wall clock did not close the window")
	}
	close(inCh)
}

func TestGuessesBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxGuesses = 3
	w := New(cfg, Deps{Names: newFakeNames()})
	for i := range 10 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		w.guess(a, a.String())
	}
	if len(w.guessed) > 3 || len(w.guessFIFO) > 3 {
		t.Errorf("guesses grew to %d/%d, cap 3", len(w.guessed), len(w.guessFIFO))
	}
	if w.Stats().GuessEvict.Load() != 7 {
		t.Errorf("evictions %d, want 7", w.Stats().GuessEvict.Load())
	}
}

func BenchmarkWindowsAdd(b *testing.B) {
	names := newFakeNames()
	w := New(DefaultConfig(), Deps{Names: names})
	bt := capture.NewBatch()
	for i := range capture.BatchSize {
		r := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 16)})
		bt.Packets = append(bt.Packets, out(client, r, 100+float64(i)/1000, 100))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.Add(bt)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*capture.BatchSize), "ns/packet")
}

// flowPkt is out() or in() with the learn stage's marks.
func flowPkt(p capture.Packet, flow uint32, name *capture.FlowName) capture.Packet {
	p.Flow, p.Name = flow, name
	return p
}

// Packets of a flow count under the name its first bytes gave, those
// before the name included; packets of other flows to the same address
// count under the address's name.
func TestWindowsFlowNames(t *testing.T) {
	names := newFakeNames()
	names.learn("140.82.112.3", "github.com", source.DNS)
	names.Drain(nil)
	ptr := &fakePTR{}
	w := New(DefaultConfig(), Deps{Names: names, PTR: ptr})
	sni := &capture.FlowName{Domain: "api.github.com", Source: source.SNI}
	dot := &capture.FlowName{Nickname: "DNS-over-TLS"}
	r3 := netip.MustParseAddr("203.0.113.3")
	got := collect(t, w,
		batch(
			flowPkt(out(client, github, 100, 60), 7, nil),   // SYN
			flowPkt(in(client, github, 100.1, 60), 7, nil),  // SYN-ACK
			flowPkt(out(client, github, 100.2, 50), 8, nil), // another flow, never named
			out(client, github, 100.3, 40),                  // a flow from before netmon: no marks
		),
		batch(
			flowPkt(out(client, github, 100.4, 600), 7, sni), // the ClientHello
			flowPkt(in(client, github, 101, 1500), 0, sni),
			flowPkt(out(client, r3, 102, 100), 0, dot), // DoT without SNI: the address's name, DoT's nickname
		),
	)
	want := []Row{
		{Client: client, Domain: "api.github.com", Nickname: "GitHub", NickSource: nickname.FromCatalogue, Source: source.SNI, Count: 4, Bytes: 2220},
		{Client: client, Domain: "github.com", Nickname: "GitHub", NickSource: nickname.FromCatalogue, Source: source.DNS, Count: 2, Bytes: 90},
		{Client: client, Domain: "203.0.113.3", Nickname: "DNS-over-TLS", NickSource: nickname.FromCatalogue, Source: source.IP, Count: 1, Bytes: 100},
	}
	if len(got) != 1 {
		t.Fatalf("%d windows, want 1", len(got))
	}
	if d := cmp.Diff(want, got[0].Rows, addrCmp); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
	if n := w.Stats().FlowsUnnamedAtClose.Load(); n != 1 {
		t.Errorf("FlowsUnnamedAtClose = %d, want 1 (flow 8)", n)
	}
	// A named flow needs no PTR; the unnamed address gets one when asked,
	// and nothing else does.
	if d := cmp.Diff([]netip.Addr{r3}, ptr.asked, addrCmp); d != "" {
		t.Errorf("PTR requests (-want +got):\n%s", d)
	}
}

// When a replay goes back in time every window is late; a flow whose name
// comes in the batch after its handshake must still be named.
func TestWindowsFlowNamesInLateWindows(t *testing.T) {
	names := newFakeNames()
	w := New(DefaultConfig(), Deps{Names: names})
	sni := &capture.FlowName{Domain: "late.example", Source: source.SNI}
	got := collect(t, w,
		batch(out(client, dropbox, 5000, 1)), // a later file first
		batch(flowPkt(out(client, dropbox, 100, 10), 3, nil)),
		batch(flowPkt(out(client, dropbox, 100.5, 20), 3, sni)),
		batch(out(client, dropbox, 115, 1)),
	)
	var rows []Row
	for _, win := range got {
		if win.Start.Equal(time.Unix(100, 0)) {
			rows = append(rows, win.Rows...)
		}
	}
	want := []Row{{Client: client, Domain: "late.example", Nickname: "Late", NickSource: nickname.FromLabel, Source: source.SNI, Count: 2, Bytes: 30}}
	if d := cmp.Diff(want, rows, addrCmp); d != "" {
		t.Errorf("late window rows (-want +got):\n%s", d)
	}
}

// A window holds a key per flow only until the flow names itself: the
// flow's key becomes the named key, or is added to it, and the slots of
// the keys added are reclaimed, their order kept.
func TestWindowsFlowKeysFolded(t *testing.T) {
	w := New(DefaultConfig(), Deps{Names: newFakeNames()})
	sni := &capture.FlowName{Domain: "a.example", Source: source.SNI}
	b := capture.NewBatch()
	const flows = 3000
	for i := range flows {
		f := uint32(i + 1)
		b.Packets = append(b.Packets, flowPkt(out(client, github, 100, 60), f, nil), flowPkt(in(client, github, 100, 60), f, nil))
		if i%1000 == 999 {
			b.Packets = append(b.Packets, flowPkt(out(client2, github, 100, 7), 0, nil)) // an unnamed key among them
		}
		b.Packets = append(b.Packets, flowPkt(out(client, github, 100, 500), f, sni))
	}
	b.Packets = append(b.Packets, flowPkt(out(client, github, 100, 60), flows+1, nil)) // still awaiting its name
	w.Add(b)
	win := w.open[0]
	if len(win.keys) != 3 || len(win.cnts) > 1100 || win.opened != 3002 {
		t.Errorf("%d keys, %d slots, %d opened; want 3 keys (named, other client, awaited flow), slots reclaimed, 3002 opened", len(win.keys), len(win.cnts), win.opened)
	}
	got := collect(t, w)
	want := []Row{
		{Client: client, Domain: "a.example", Nickname: "A", NickSource: nickname.FromLabel, Source: source.SNI, Count: 3 * flows, Bytes: 620 * flows},
		{Client: client2, Domain: "140.82.112.3", Nickname: "140.82.112.3", NickSource: nickname.FromAddress, Source: source.IP, Count: 3, Bytes: 21},
		{Client: client, Domain: "140.82.112.3", Nickname: "140.82.112.3", NickSource: nickname.FromAddress, Source: source.IP, Count: 1, Bytes: 60},
	}
	if len(got) != 1 {
		t.Fatalf("%d windows, want 1", len(got))
	}
	if d := cmp.Diff(want, got[0].Rows, addrCmp); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}

// Add remembers the last key's slot for the next packet, and renaming a
// flow's keys moves slots (compaction): every packet must still count
// under its own key when the packet that names a flow is itself not
// counted (so the key remembered is the one before it).
func TestWindowsLastKeyAcrossFolds(t *testing.T) {
	w := New(DefaultConfig(), Deps{Names: newFakeNames()})
	sni := &capture.FlowName{Domain: "a.example", Source: source.SNI}
	b := capture.NewBatch()
	const flows = 3000
	const from = 1500 // client2's key comes after slots that will be reclaimed
	for i := range flows {
		f := uint32(i + 1)
		b.Packets = append(b.Packets, flowPkt(out(client, github, 100, 60), f, nil))
		if i >= from {
			b.Packets = append(b.Packets, out(client2, github, 100, 7))
		}
		b.Packets = append(b.Packets, flowPkt(pkt(100, client, github, capture.DirSkip, 500), f, sni))
		if i >= from {
			b.Packets = append(b.Packets, out(client2, github, 100, 7))
		}
	}
	w.Add(b)
	got := collect(t, w)
	want := []Row{
		{Client: client, Domain: "a.example", Nickname: "A", NickSource: nickname.FromLabel, Source: source.SNI, Count: flows, Bytes: 60 * flows},
		{Client: client2, Domain: "140.82.112.3", Nickname: "140.82.112.3", NickSource: nickname.FromAddress, Source: source.IP, Count: 2 * (flows - from), Bytes: 14 * (flows - from)},
	}
	if len(got) != 1 {
		t.Fatalf("%d windows, want 1", len(got))
	}
	if d := cmp.Diff(want, got[0].Rows, addrCmp); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}

// BenchmarkWindowsAddNamed is BenchmarkWindowsAdd for packets of flows
// that named themselves: the key holds the flow's name.
func BenchmarkWindowsAddNamed(b *testing.B) {
	names := newFakeNames()
	w := New(DefaultConfig(), Deps{Names: names})
	bt := capture.NewBatch()
	fn := []*capture.FlowName{{Domain: "a.example", Source: source.SNI}, {Domain: "b.example", Source: source.SNI}}
	for i := range capture.BatchSize {
		r := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 16)})
		bt.Packets = append(bt.Packets, flowPkt(out(client, r, 100+float64(i)/1000, 100), 0, fn[i%2]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.Add(bt)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*capture.BatchSize), "ns/packet")
}

// uncounted is a packet that counts in no window (DNS to a local resolver,
// say): neither end is remote.
func uncounted(sec float64) capture.Packet {
	return pkt(sec, client, client2, capture.DirSkip, 80)
}

// TestWindowsNamesWithoutTraffic: names learned while no counted traffic
// opens a window are written all the same, every window width of packet
// time and at the end.
func TestWindowsNamesWithoutTraffic(t *testing.T) {
	names := newFakeNames()
	cfg := DefaultConfig()
	cfg.Lateness = 0
	w := New(cfg, Deps{Names: names})
	names.learn("140.82.112.3", "github.com", source.DNS)
	b1 := batch(uncounted(100), uncounted(101))
	got := collect(t, w, b1, batch(uncounted(125)))
	var written []string
	for _, win := range got {
		if len(win.Rows) > 0 {
			t.Errorf("window %v has rows %v; nothing was counted", win.Start, win.Rows)
		}
		for _, n := range win.Names {
			written = append(written, n.Domain)
		}
	}
	if len(written) != 1 || written[0] != "github.com" {
		t.Fatalf("names written = %v, want github.com once", written)
	}
}

// TestWindowsCut: at a cut every open window closes, an InputEnd window
// follows, and the next input's windows are its own even in the same
// window of time.
func TestWindowsCut(t *testing.T) {
	names := newFakeNames()
	cut := &capture.Batch{}
	cfg := DefaultConfig()
	cfg.Lateness = 0
	w := New(cfg, Deps{Names: names, Cut: func(b *capture.Batch) bool { return b == cut }})
	got := collect(t, w,
		batch(out(client, github, 100, 10), out(client, github, 103, 10)),
		cut,
		batch(out(client, github, 105, 10), out(client, github, 112, 10)),
		cut)
	type seen struct {
		start   int64
		input   int
		end     bool
		packets uint64
	}
	var s []seen
	for _, win := range got {
		var p uint64
		for _, r := range win.Rows {
			p += r.Count
		}
		s = append(s, seen{win.Start.Unix(), win.Input, win.InputEnd, p})
	}
	want := []seen{{100, 0, false, 2}, {100, 0, true, 0}, {100, 1, false, 1}, {110, 1, false, 1}, {110, 1, true, 0}}
	if !cmp.Equal(s, want, cmp.AllowUnexported(seen{})) {
		t.Fatalf("windows = %+v, want %+v", s, want)
	}
}

// TestNewRefusesUnusableConfig: a Config that did not start from
// DefaultConfig (a zero width, a cap of nothing) is refused when made, with
// the setting named, not found out at the first packet.
func TestNewRefusesUnusableConfig(t *testing.T) {
	for name, change := range map[string]func(*Config){
		"Width":      func(c *Config) { c.Width = 0 },
		"Lateness":   func(c *Config) { c.Lateness = -time.Second },
		"MaxGuesses": func(c *Config) { c.MaxGuesses = 0 },
		"KeyReserve": func(c *Config) { c.KeyReserve = c.MaxKeys },
	} {
		cfg := DefaultConfig()
		change(&cfg)
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, name) {
					t.Errorf("New with a bad %s: panic %q, want one naming it", name, msg)
				}
			}()
			New(cfg, Deps{Names: newFakeNames()})
		}()
	}
	New(DefaultConfig(), Deps{Names: newFakeNames()}) // must not panic
}
