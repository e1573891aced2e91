// Package addrtabletest helps the tests of what writes into the address
// table (the DNS reader, the learner, the PTR workers): a settable clock
// the table and the writer can share, a table on it, and the records the
// table learned in a stable order.
package addrtabletest

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/source"
)

// T0 is the packet and wall time tests start at.
var T0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Clock is a settable time source, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at T0.
func NewClock() *Clock { return &Clock{t: T0} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// New returns an address table with the default settings on c's time.
func New(c *Clock) *addrtable.Table {
	return addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{Now: c.Now})
}

// Learned drains t and returns its records in address order.
func Learned(t *addrtable.Table) []source.Record {
	r := t.Drain(nil)
	slices.SortFunc(r, func(a, b source.Record) int { return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Domain, b.Domain)) })
	return r
}

// DNSRec is a record learned from a DNS answer.
func DNSRec(ts time.Time, addr, name string) source.Record {
	return source.Record{TS: ts, Addr: netip.MustParseAddr(addr), Domain: name, Source: source.DNS}
}
