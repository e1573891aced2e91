package addrtable

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/resolver/source"
)

func sniRec(ts time.Time, addr, name string) source.Record {
	return source.Record{TS: ts, Addr: netip.MustParseAddr(addr), Domain: name, Source: source.SNI}
}

func ptrRec(ts time.Time, addr, name string) source.Record {
	return source.Record{TS: ts, Addr: netip.MustParseAddr(addr), Domain: name, Source: source.PTR}
}

func TestTable(t *testing.T) {
	type step struct {
		advance time.Duration // clock moves first
		learn   *source.Record
		ttl     time.Duration
		lookup  string // address to look up after learning, if any
		want    *source.Record
	}
	rec := func(r source.Record) *source.Record { return &r }
	a := "198.51.100.1"
	tests := []struct {
		name  string
		steps []step
		stats Stats
	}{
		{
			name: "MinTTL outlives a short TTL",
			steps: []step{
				{learn: rec(dnsRec(t0, a, "short.example")), ttl: time.Minute},
				{advance: 59 * time.Minute, lookup: a, want: rec(dnsRec(t0, a, "short.example"))},
				{advance: 2 * time.Minute, lookup: a},
			},
			stats: Stats{Learned: 1, Hits: 1, Misses: 1, Expired: 1},
		},
		{
			name: "a TTL longer than MinTTL counts",
			steps: []step{
				{learn: rec(dnsRec(t0, a, "long.example")), ttl: 2 * time.Hour},
				{advance: 119 * time.Minute, lookup: a, want: rec(dnsRec(t0, a, "long.example"))},
				{advance: 2 * time.Minute, lookup: a},
			},
			stats: Stats{Learned: 1, Hits: 1, Misses: 1, Expired: 1},
		},
		{
			name: "PTR never overrides a live definite name",
			steps: []step{
				{learn: rec(dnsRec(t0, a, "real.example"))},
				{learn: rec(ptrRec(t0, a, "guess.example")), lookup: a, want: rec(dnsRec(t0, a, "real.example"))},
				{advance: 2 * time.Hour, learn: rec(ptrRec(t0.Add(2*time.Hour), a, "guess.example")), lookup: a,
					want: rec(ptrRec(t0.Add(2*time.Hour), a, "guess.example"))},
			},
			stats: Stats{Entries: 1, Learned: 1, Changed: 1, PTRIgnored: 1, Hits: 2},
		},
		{
			name: "definite replaces PTR and definite",
			steps: []step{
				{learn: rec(ptrRec(t0, a, "guess.example"))},
				{learn: rec(dnsRec(t0, a, "first.example")), lookup: a, want: rec(dnsRec(t0, a, "first.example"))},
				{learn: rec(source.Record{TS: t0, Addr: netip.MustParseAddr(a), Domain: "hint.example", Source: source.SVCB}), lookup: a,
					want: rec(source.Record{TS: t0, Addr: netip.MustParseAddr(a), Domain: "hint.example", Source: source.SVCB})},
			},
			stats: Stats{Entries: 1, Learned: 1, Changed: 2, Hits: 2},
		},
		{
			name: "a flow's name fills in for DNS but does not replace it",
			steps: []step{
				{learn: rec(ptrRec(t0, a, "guess.example"))},
				{learn: rec(sniRec(t0, a, "sni.example")), lookup: a, want: rec(sniRec(t0, a, "sni.example"))},
				{learn: rec(sniRec(t0, a, "other.example")), lookup: a, want: rec(sniRec(t0, a, "other.example"))},
				{learn: rec(dnsRec(t0, a, "dns.example")), lookup: a, want: rec(dnsRec(t0, a, "dns.example"))},
				{learn: rec(sniRec(t0, a, "sni.example")), lookup: a, want: rec(dnsRec(t0, a, "dns.example"))},
				{learn: rec(sniRec(t0, a, "dns.example")), lookup: a, want: rec(dnsRec(t0, a, "dns.example"))},
				// Once the DNS name lapsed, a flow's name takes over.
				{advance: 2 * time.Hour, learn: rec(sniRec(t0, a, "late.example")), lookup: a, want: rec(sniRec(t0, a, "late.example"))},
			},
			stats: Stats{Entries: 1, Learned: 1, Changed: 4, Refreshed: 1, FlowIgnored: 1, Hits: 6},
		},
		{
			name: "DNS confirming a flow's name makes it the DNS name",
			steps: []step{
				{learn: rec(sniRec(t0, a, "same.example"))},
				{learn: rec(dnsRec(t0, a, "same.example")), lookup: a, want: rec(dnsRec(t0, a, "same.example"))},
				{learn: rec(sniRec(t0, a, "other.example")), lookup: a, want: rec(dnsRec(t0, a, "same.example"))},
			},
			// The name in dns_records does not change, so nothing is queued
			// again; the entry's source does, so that flows no longer
			// replace it.
			stats: Stats{Entries: 1, Learned: 1, Refreshed: 1, FlowIgnored: 1, Hits: 2},
		},
		{
			name: "4-in-6 is the IPv4 address",
			steps: []step{
				{learn: rec(dnsRec(t0, "::ffff:"+a, "mapped.example")), lookup: a, want: rec(dnsRec(t0, a, "mapped.example"))},
			},
			stats: Stats{Entries: 1, Learned: 1, Hits: 1},
		},
		{
			name: "empty names are not learned",
			steps: []step{
				{learn: rec(dnsRec(t0, a, "")), lookup: a},
			},
			stats: Stats{Misses: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			tab := newTestTable(t, c)
			for i, s := range tt.steps {
				c.Add(s.advance)
				if s.learn != nil {
					tab.Learn(*s.learn, s.ttl)
				}
				if s.lookup == "" {
					continue
				}
				got, ok := tab.Lookup(client, netip.MustParseAddr(s.lookup))
				var gotp *source.Record
				if ok {
					gotp = &got
				}
				if diff := cmp.Diff(gotp, s.want, cmpOpts); diff != "" {
					t.Errorf("step %d: Lookup (-got +want):\n%s", i, diff)
				}
			}
			if diff := cmp.Diff(tab.Stats(), tt.stats, cmpOpts); diff != "" {
				t.Errorf("stats (-got +want):\n%s", diff)
			}
		})
	}
}

func TestTableLRU(t *testing.T) {
	tab := newTableWith(func(c *Config) { c.Cap = 3 }, Deps{Now: newClock().Now})
	for i, n := range []string{"a", "b", "c"} {
		tab.Learn(dnsRec(t0, fmt.Sprintf("198.51.100.%d", i+1), n+".example"), 0)
	}
	tab.Lookup(client, netip.MustParseAddr("198.51.100.1")) // a is used: b is now the oldest
	tab.Learn(dnsRec(t0, "198.51.100.4", "d.example"), 0)
	var got []string
	for i := 1; i <= 4; i++ {
		if r, ok := tab.Lookup(client, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})); ok {
			got = append(got, r.Domain)
		}
	}
	if diff := cmp.Diff(got, []string{"a.example", "c.example", "d.example"}); diff != "" {
		t.Errorf("names left (-got +want):\n%s", diff)
	}
	if s := tab.Stats(); s.Evicted != 1 || s.Entries != 3 {
		t.Errorf("Evicted, Entries = %d, %d; want 1, 3", s.Evicted, s.Entries)
	}
	// The evicted slot is reused rather than the slice grown.
	if len(tab.entries) != 3 {
		t.Errorf("%d slots, want 3", len(tab.entries))
	}
}

func TestTableDrain(t *testing.T) {
	a := "198.51.100.1"
	tests := []struct {
		name  string
		learn []source.Record
		want  []source.Record
	}{
		{"new", []source.Record{dnsRec(t0, a, "x.example")}, []source.Record{dnsRec(t0, a, "x.example")}},
		{"same again is no change", []source.Record{dnsRec(t0, a, "x.example"), dnsRec(t0.Add(time.Second), a, "x.example")},
			[]source.Record{dnsRec(t0, a, "x.example")}},
		{"renamed", []source.Record{dnsRec(t0, a, "x.example"), dnsRec(t0.Add(time.Second), a, "y.example")},
			[]source.Record{dnsRec(t0, a, "x.example"), dnsRec(t0.Add(time.Second), a, "y.example")}},
		{"PTR confirmed by DNS", []source.Record{ptrRec(t0, a, "x.example"), dnsRec(t0.Add(time.Second), a, "x.example")},
			[]source.Record{ptrRec(t0, a, "x.example"), dnsRec(t0.Add(time.Second), a, "x.example")}},
		{"PTR repeating DNS", []source.Record{dnsRec(t0, a, "x.example"), ptrRec(t0.Add(time.Second), a, "x.example")},
			[]source.Record{dnsRec(t0, a, "x.example")}},
		{"other source, same name", []source.Record{dnsRec(t0, a, "x.example"),
			{TS: t0.Add(time.Second), Addr: netip.MustParseAddr(a), Domain: "x.example", Source: source.SNI}},
			[]source.Record{dnsRec(t0, a, "x.example")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTestTable(t, newClock())
			for _, r := range tt.learn {
				tab.Learn(r, 0)
			}
			if diff := cmp.Diff(tab.Drain(nil), tt.want, cmpOpts); diff != "" {
				t.Errorf("Drain (-got +want):\n%s", diff)
			}
			if got := tab.Drain(nil); len(got) != 0 {
				t.Errorf("second Drain = %v, want nothing", got)
			}
		})
	}

	t.Run("pending cap", func(t *testing.T) {
		tab := newTableWith(func(c *Config) { c.PendingCap = 2 }, Deps{Now: newClock().Now})
		for i := range 3 {
			tab.Learn(dnsRec(t0, fmt.Sprintf("198.51.100.%d", i+1), "x.example"), 0)
		}
		if got := tab.Drain(nil); len(got) != 2 || tab.Stats().PendingDropped != 1 {
			t.Errorf("Drain gave %d records with PendingDropped %d, want 2 and 1", len(got), tab.Stats().PendingDropped)
		}
	})
}

func TestTableConcurrent(t *testing.T) {
	tab := newTableWith(func(c *Config) { c.Cap = 100 }, Deps{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				addr := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				tab.Learn(source.Record{TS: t0, Addr: addr, Domain: "c.example", Source: source.DNS}, 0)
				tab.Lookup(client, addr)
				if i%100 == 0 {
					tab.Drain(nil)
					tab.Stats()
				}
			}
		})
	}
	wg.Wait()
	if n := tab.Len(); n != 100 {
		t.Errorf("Len = %d, want the cap 100", n)
	}
}

// TestTableMemory fills a table to the default cap and reports the heap it
// holds per entry, names included.
func TestTableMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 50k entries")
	}
	per := tableBytesPerEntry(50_000)
	t.Logf("table memory: %.0f bytes/entry at 50k entries (names of ~24 bytes, each distinct)", per)
	if per > 400 && !raceEnabled {
		t.Errorf("%.0f bytes/entry, want at most 400", per)
	}
}

func tableBytesPerEntry(n int) float64 {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("host%06d.example-cdn.net", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := newTableWith(func(c *Config) { c.Cap = n }, Deps{})
	for i := range n {
		// The learner makes each name from packet bytes: copy so that
		// the table, not the names slice, owns the string.
		name := string([]byte(names[i]))
		tab.Learn(source.Record{TS: t0, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Domain: name, Source: source.DNS}, 0)
	}
	tab.Drain(nil)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tab)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func BenchmarkTableMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per = tableBytesPerEntry(50_000)
	}
	b.ReportMetric(per, "bytes/entry")
}

func BenchmarkTableLookup(b *testing.B) {
	tab := New(DefaultConfig(), Deps{})
	const n = 50_000
	for i := range n {
		tab.Learn(source.Record{TS: t0, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Domain: "x.example", Source: source.DNS}, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Lookup(client, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		i = (i + 7919) % n
	}
}

// Each client's own DNS answer names a shared address for that client;
// a client with no answer of its own gets the latest any client got.
func TestTableClientViews(t *testing.T) {
	c := newClock()
	tab := newTestTable(t, c)
	a := netip.MustParseAddr("198.51.100.9")
	tab.LearnFor(dev, dnsRec(t0, a.String(), "one.example"), 0)
	tab.LearnFor(dev2, dnsRec(t0, a.String(), "two.example"), 0)
	other := netip.MustParseAddr("192.168.1.99")
	for _, tt := range []struct {
		client netip.Addr
		want   string
	}{{dev, "one.example"}, {dev2, "two.example"}, {other, "two.example"}, {netip.Addr{}, "two.example"}} {
		if r, ok := tab.Lookup(tt.client, a); !ok || r.Domain != tt.want {
			t.Errorf("Lookup(%v) = %q, want %q", tt.client, r.Domain, tt.want)
		}
	}
	// A name from a flow does not change a client's view, and the known
	// answer is refreshed without allocating.
	tab.Learn(sniRec(t0, a.String(), "sni.example"), 0)
	if r, _ := tab.Lookup(dev, a); r.Domain != "one.example" {
		t.Errorf("a flow's name changed the client's view: %q", r.Domain)
	}
	if !tab.Refresh(dev2, a, []byte("two.example"), source.DNS, 0) {
		t.Error("a known answer for a known client is not refreshed")
	}
	if tab.Refresh(dev, a, []byte("one.example"), source.DNS, 0) {
		t.Error("refreshed an answer that changes the address's latest name")
	}
	if tab.Refresh(other, a, []byte("two.example"), source.DNS, 0) {
		t.Error("a client without a view refreshed: its view would be lost")
	}
	// The views are bounded per address.
	for i := range maxViews + 2 {
		tab.LearnFor(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), dnsRec(t0, a.String(), "many.example"), 0)
	}
	if s := tab.Stats(); s.ViewsEvicted != 4 {
		t.Errorf("views evicted %d, want 4", s.ViewsEvicted)
	}
	if r, _ := tab.Lookup(dev, a); r.Domain != "many.example" {
		t.Errorf("an evicted view still answers: %q", r.Domain)
	}
}

// TestTableViewMemory is TestTableMemory with one client's view per
// address, as DNS answers make.
func TestTableViewMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 50k entries")
	}
	const n = 50_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := newTableWith(func(c *Config) { c.Cap = n }, Deps{})
	for i := range n {
		name := fmt.Sprintf("host%06d.example-cdn.net", i)
		tab.LearnFor(dev, source.Record{TS: t0, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Domain: name, Source: source.DNS}, 0)
	}
	tab.Drain(nil)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tab)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("table memory with one client view per address: %.0f bytes/entry", per)
	if per > 500 && !raceEnabled {
		t.Errorf("%.0f bytes/entry, want at most 500", per)
	}
}
