package ptr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/resolver/addrtable"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
	"github.com/netmon/netmon/resolver/source"
)

// fakeLookup answers reverse lookups from a map; an address missing from
// it blocks until the context ends, like a resolver that never answers.
type fakeLookup struct {
	mu      sync.Mutex
	answers map[string][]string
	errs    map[string]error
	calls   []string
}

func (f *fakeLookup) Lookup(ctx context.Context, addr string) ([]string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, addr)
	names, ok := f.answers[addr]
	err := f.errs[addr]
	f.mu.Unlock()
	if ok || err != nil {
		return names, err
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// runPTR starts p and returns a function that waits until n lookups have
// finished, then stops p.
func runPTR(t *testing.T, p *Resolver) (wait func(n uint64)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for p.Stats().Lookups < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d lookups finished after 5 s, want %d", p.Stats().Lookups, n)
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestPTR(t *testing.T) {
	notFound := &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}
	tests := []struct {
		name    string
		answers map[string][]string
		errs    map[string]error
		addr    string
		want    *source.Record
		stats   Stats
	}{
		{
			name:    "valid name is learned as PTR",
			answers: map[string][]string{"198.51.100.1": {"Host-1.Example.NET."}},
			addr:    "198.51.100.1",
			want:    &source.Record{TS: t0, Addr: netip.MustParseAddr("198.51.100.1"), Domain: "host-1.example.net", Source: source.PTR},
			stats:   Stats{OK: 1},
		},
		{
			name:    "first valid name of several",
			answers: map[string][]string{"2001:db8::1": {"bad_name.example.", "good.example."}},
			addr:    "2001:db8::1",
			want:    &source.Record{TS: t0, Addr: netip.MustParseAddr("2001:db8::1"), Domain: "good.example", Source: source.PTR},
			stats:   Stats{OK: 1},
		},
		{
			name:    "invalid name discarded",
			answers: map[string][]string{"198.51.100.2": {"<script>.example.", "-lead.example."}},
			addr:    "198.51.100.2",
			stats:   Stats{Invalid: 1},
		},
		{
			name:  "not found",
			errs:  map[string]error{"198.51.100.3": notFound},
			addr:  "198.51.100.3",
			stats: Stats{NotFound: 1},
		},
		{
			name:    "empty answer is not found",
			answers: map[string][]string{"198.51.100.3": {}},
			addr:    "198.51.100.3",
			stats:   Stats{NotFound: 1},
		},
		{
			name:  "other error",
			errs:  map[string]error{"198.51.100.4": errors.New("connection refused")},
			addr:  "198.51.100.4",
			stats: Stats{Errors: 1},
		},
		{
			name:  "timeout",
			addr:  "198.51.100.5",
			stats: Stats{Timeouts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := att.NewClock()
			tab := att.New(c)
			f := &fakeLookup{answers: tt.answers, errs: tt.errs}
			p := New(config(func(c *Config) { c.Timeout, c.Rate = 20*time.Millisecond, -1 }), Deps{Table: tab, Lookup: f.Lookup, Now: c.Now})
			addr := netip.MustParseAddr(tt.addr)
			p.Request(addr)
			runPTR(t, p)(1)

			got, ok := tab.Lookup(client, addr)
			var gotp *source.Record
			if ok {
				gotp = &got
			}
			if diff := cmp.Diff(gotp, tt.want, cmpOpts); diff != "" {
				t.Errorf("table (-got +want):\n%s", diff)
			}
			// A second request is answered by the table or the negative
			// cache, never by another lookup.
			p.Request(addr)
			s := p.Stats()
			s.LatencyTotal, s.LatencyMax, s.LatencyHist = 0, 0, [4]uint64{}
			tt.stats.Requests, tt.stats.Queued, tt.stats.Lookups = 2, 1, 1
			if tt.want != nil {
				tt.stats.Known = 1
			} else {
				tt.stats.Deduped = 1
			}
			if diff := cmp.Diff(s, tt.stats); diff != "" {
				t.Errorf("stats (-got +want):\n%s", diff)
			}
		})
	}
}

func TestPTRRequestNeverBlocks(t *testing.T) {
	c := att.NewClock()
	tab := att.New(c)
	f := &fakeLookup{}
	p := New(config(func(c *Config) { c.Queue = 2 }), Deps{Table: tab, Lookup: f.Lookup, Now: c.Now})
	tab.Learn(att.DNSRec(t0, "198.51.100.9", "named.example"), 0)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			p.Request(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
		}
		p.Request(netip.MustParseAddr("198.51.100.0"))        // already queued
		p.Request(netip.MustParseAddr("198.51.100.9"))        // already named
		p.Request(netip.MustParseAddr("::ffff:198.51.100.9")) // the same, mapped
		p.Request(netip.Addr{})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Request blocked with no worker running")
	}
	want := Stats{Requests: 9, Queued: 2, Dropped: 3, Deduped: 1, Known: 3}
	if diff := cmp.Diff(p.Stats(), want); diff != "" {
		t.Errorf("stats (-got +want):\n%s", diff)
	}
}

func TestPTRNegativeTTL(t *testing.T) {
	c := att.NewClock()
	tab := att.New(c)
	f := &fakeLookup{answers: map[string][]string{"198.51.100.1": nil}}
	p := New(config(func(c *Config) { c.NegativeTTL, c.Rate = time.Minute, -1 }), Deps{Table: tab, Lookup: f.Lookup, Now: c.Now})
	addr := netip.MustParseAddr("198.51.100.1")
	p.Request(addr)
	runPTR(t, p)(1)
	p.Request(addr)
	c.Add(2 * time.Minute)
	p.Request(addr)
	if s := p.Stats(); s.Queued != 2 || s.Deduped != 1 {
		t.Errorf("Queued, Deduped = %d, %d; want 2, 1", s.Queued, s.Deduped)
	}
}

func TestPTRNegativeCap(t *testing.T) {
	c := att.NewClock()
	f := &fakeLookup{answers: map[string][]string{}}
	for i := range 5 {
		f.answers[netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()] = nil
	}
	p := New(config(func(c *Config) { c.NegativeCap, c.Rate = 3, -1 }), Deps{Table: att.New(c), Lookup: f.Lookup, Now: c.Now})
	for i := range 5 {
		p.Request(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	runPTR(t, p)(5)
	if s := p.Stats(); s.NegativeEvicted != 2 || len(p.state) != 3 {
		t.Errorf("NegativeEvicted = %d with %d remembered, want 2 with 3", s.NegativeEvicted, len(p.state))
	}
}

func TestPTRRate(t *testing.T) {
	f := &fakeLookup{answers: map[string][]string{}}
	for i := range 4 {
		f.answers[netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()] = nil
	}
	p := New(config(func(c *Config) { c.Rate = 10 }), Deps{Table: addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), Lookup: f.Lookup})
	start := time.Now()
	for i := range 4 {
		p.Request(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	runPTR(t, p)(4)
	// A full bucket holds one second's tokens, so four lookups at 10/s
	// start at once.
	if d := time.Since(start); d > time.Second {
		t.Errorf("4 lookups at 10/s took %v", d)
	}

	p = New(config(func(c *Config) { c.Rate = 2 }), Deps{Table: addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), Lookup: f.Lookup})
	start = time.Now()
	for i := range 4 {
		p.Request(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	runPTR(t, p)(4)
	// Two from the bucket, then one every 500 ms.
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("4 lookups at 2/s took %v, want about 1 s", d)
	}
}

func TestPTRRunTwice(t *testing.T) {
	p := New(DefaultConfig(), Deps{Table: addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for {
		p.mu.Lock()
		r := p.running
		p.mu.Unlock()
		if r {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestHostName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Host-1.Example.NET.", "host-1.example.net", true},
		{"a.b", "a.b", true},
		{"x", "x", true},
		{"1e100.net.", "1e100.net", true},
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{".a", "", false},
		{"-a.b", "", false},
		{"a-.b", "", false},
		{"a.b-", "", false},
		{"under_score.example", "", false},
		{"sp ace.example", "", false},
		{"caf\xc3\xa9.example", "", false},
		{string(make([]byte, 64)), "", false},
		{strings.Repeat("a", 64) + ".b", "", false},
		{strings.Repeat("a", 63) + ".b", strings.Repeat("a", 63) + ".b", true},
		{strings.Repeat("abc.", 63) + "ab", "", false}, // 254 characters
		{strings.Repeat("abc.", 63) + "a", strings.Repeat("abc.", 63) + "a", true},
	}
	for _, tt := range tests {
		got, ok := hostName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("hostName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestNewRefusesUnusableConfig: settings no Resolver can run with (a Config
// that did not start from DefaultConfig: no workers, a rate of 0) are
// refused when it is made, with the setting named.
func TestNewRefusesUnusableConfig(t *testing.T) {
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
	for name, cfg := range map[string]Config{
		"Workers 0": {},
		"Rate 0":    config(func(c *Config) { c.Rate = 0 }),
		"Timeout 0": config(func(c *Config) { c.Timeout = 0 }),
	} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, name) {
					t.Errorf("New with %s: panic %q, want one naming it", name, msg)
				}
			}()
			New(cfg, Deps{Table: tab})
		}()
	}
}
