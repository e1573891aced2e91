package ptr

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/source"
)

// t0 is the wall time tests start at.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source for Deps.Now and the table's Now.
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

// config is DefaultConfig with change made to it.
func config(change func(c *Config)) Config {
	c := DefaultConfig()
	change(&c)
	return c
}

// unlimited is DefaultConfig without a rate limit.
func unlimited() Config { return config(func(c *Config) { c.Rate = -1 }) }

// newTestTable is an address table on c's time.
func newTestTable(tb testing.TB, c *clock) *addrtable.Table {
	tb.Helper()
	return addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{Now: c.Now})
}

// client is the local address the tests look names up for.
var client = netip.MustParseAddr("192.168.1.23")

var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}

// dnsRec is a DNS-learned record.
func dnsRec(ts time.Time, addr, name string) source.Record {
	return source.Record{TS: ts, Addr: netip.MustParseAddr(addr), Domain: name, Source: source.DNS}
}
