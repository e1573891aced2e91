package addrtable

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netmon/netmon/resolver/source"
)

// t0 is the packet and wall time tests start at.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source for the table's Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestTable is a table with the default settings on c's time.
func newTestTable(tb testing.TB, c *clock) *Table {
	tb.Helper()
	return New(DefaultConfig(), Deps{Now: c.Now})
}

// newTableWith is a table with the default settings changed by set.
func newTableWith(set func(*Config), deps Deps) *Table {
	cfg := DefaultConfig()
	set(&cfg)
	return New(cfg, deps)
}

// learned drains t and returns its records in address order.
func learned(t *Table) []source.Record {
	r := t.Drain(nil)
	slices.SortFunc(r, func(a, b source.Record) int { return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Domain, b.Domain)) })
	return r
}

func dnsRec(ts time.Time, addr, name string) source.Record {
	return source.Record{TS: ts, Addr: netip.MustParseAddr(addr), Domain: name, Source: source.DNS}
}

// Local addresses the tests learn and look names up for.
var (
	client = netip.MustParseAddr("192.168.1.23")
	dev    = netip.MustParseAddr("192.168.1.23")
	dev2   = netip.MustParseAddr("192.168.1.24")
)

var cmpOpts = gocmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}
