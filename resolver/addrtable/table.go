// Package addrtable is the bounded address → name table: the name each
// address was last learned under (from DNS, a flow's first bytes or a PTR
// lookup, by a fixed order of trust), each client's own DNS view of it,
// and the records learned or changed since the windows last drained them.
// The learner and the PTR workers write; the window closer reads and
// drains.
package addrtable

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmon/netmon/resolver/lru"
	"github.com/netmon/netmon/resolver/source"
)

// Config sizes the address → name table.
type Config struct {
	// Cap is the most addresses kept; the least recently used goes first.
	Cap int
	// MinTTL is the least time an entry is kept, whatever its DNS TTL:
	// connections outlive TTLs, and a name that vanished after 60 s would
	// leave a long download nameless.
	MinTTL time.Duration
	// PendingCap bounds the records waiting for Drain. The window closer
	// drains every 10 s, so the default covers a burst far beyond what a
	// home network learns in that time.
	PendingCap int
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{Cap: 50_000, MinTTL: time.Hour, PendingCap: 16_384}
}

// check reports a setting no table can work with.
func (c Config) check() error {
	if c.Cap <= 0 || c.MinTTL <= 0 || c.PendingCap <= 0 {
		return fmt.Errorf("Cap %d, MinTTL %s, PendingCap %d: want all positive", c.Cap, c.MinTTL, c.PendingCap)
	}
	return nil
}

// Deps is what the table is given besides its settings.
type Deps struct {
	// Now is the clock that entry lifetimes are measured on; nil: the wall
	// clock. A replay may pass the packet clock instead.
	Now func() time.Time
}

// Stats are the table's counters since it was made.
type Stats struct {
	Entries        int    // addresses held now
	Learned        uint64 // new addresses
	Changed        uint64 // addresses whose name or definiteness changed
	Refreshed      uint64 // same name seen again; only its lifetime moved
	PTRIgnored     uint64 // PTR names not taken because a definite name is held
	FlowIgnored    uint64 // names from flows (SNI, Host, QUIC) not taken because DNS named the address otherwise
	ViewHits       uint64 // Lookups answered by the client's own DNS view
	ViewsEvicted   uint64 // client views dropped beyond maxViews clients per address
	Evicted        uint64 // entries pushed out at Cap
	Expired        uint64 // entries found past their lifetime and removed
	Hits, Misses   uint64 // Lookup outcomes
	PendingDropped uint64 // Drain records lost because PendingCap was reached
}

// Table maps addresses to the name they were last learned under, and
// keeps per client the name that client's own DNS answers gave: one CDN
// address serves many names, and the one a device asked for is the best
// guess for its traffic. It is safe for concurrent use: the learner
// writes, PTR workers write, and the window closer reads and drains.
//
// Names a flow gave in its first bytes (SNI, Host, QUIC) fill in for
// addresses DNS did not name, but do not replace a live DNS name: the flow
// itself carries its own name, and the address's DNS name is the better
// guess for the address's other flows.
//
// Entries live in one slice linked into an LRU list by index, so the map
// holds small values and the garbage collector has few pointers to follow.
type Table struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	index   map[netip.Addr]int32
	entries []entry
	free    []int32 // slots of removed entries, reused before growing
	lru     lru.List
	pending []source.Record

	learned, changed, refreshed, ptrIgnored  atomic.Uint64
	evicted, expired, hits, misses, pendDrop atomic.Uint64
	flowIgnored, viewHits, viewsEvicted      atomic.Uint64
}

type entry struct {
	addr    netip.Addr
	name    string
	ts      int64 // Record.TS in Unix nanoseconds
	expires int64 // Now-based deadline in Unix nanoseconds
	lru.Links
	src   source.Source
	views []view // per-client DNS names, oldest first
}

// view is the name one client's own DNS answers last gave an address.
type view struct {
	client netip.Addr
	name   string
	src    source.Source
}

// maxViews bounds the clients whose own view of one address is kept; a
// home network rarely has more devices on one CDN address at once, and
// the others fall back to the name the latest answer gave.
const maxViews = 4

// resolved reports whether names from s came from DNS itself (A/AAAA or
// SVCB hints): those are what a client resolved.
func resolved(s source.Source) bool { return s == source.DNS || s == source.SVCB }

// fromFlow reports whether names from s came from a flow's first bytes.
func fromFlow(s source.Source) bool { return s == source.SNI || s == source.HTTP || s == source.QUIC }

// New returns an empty table. It panics on a Config that DefaultConfig
// did not come from and that no table can work with.
func New(cfg Config, deps Deps) *Table {
	if err := cfg.check(); err != nil {
		panic("addrtable.New: " + err.Error())
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return &Table{cfg: cfg, now: now, index: make(map[netip.Addr]int32), lru: lru.NewList()}
}

// Learn records that rec.Addr is called rec.Domain. The entry lives for
// max(ttl, MinTTL) from now. A DNS name replaces anything; a name from a
// flow replaces anything but a live DNS name; a PTR name never replaces a
// live definite one.
func (t *Table) Learn(rec source.Record, ttl time.Duration) {
	t.LearnFor(netip.Addr{}, rec, ttl)
}

// LearnFor is Learn for a DNS answer that client received: besides the
// address's name, it keeps the name as client's own view of the address.
func (t *Table) LearnFor(client netip.Addr, rec source.Record, ttl time.Duration) {
	if rec.Domain == "" || !rec.Addr.IsValid() {
		return
	}
	addr := rec.Addr.Unmap()
	client = client.Unmap()
	now := t.now().UnixNano()
	exp := now + int64(max(ttl, t.cfg.MinTTL))

	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[addr]; ok {
		e := &t.entries[i]
		t.view(e, client, rec)
		live := e.expires > now
		switch {
		case live && e.src.Definite() && !rec.Source.Definite():
			t.ptrIgnored.Add(1)
			return
		case live && resolved(e.src) && fromFlow(rec.Source) && e.name != rec.Domain:
			t.flowIgnored.Add(1)
			return
		case e.name == rec.Domain && resolved(rec.Source) && fromFlow(e.src):
			// DNS confirms what a flow said: the name stays, and is now
			// the address's DNS name, which later flows do not replace.
			e.src, e.expires = rec.Source, max(e.expires, exp)
			t.toFront(i)
			t.refreshed.Add(1)
			return
		case e.name == rec.Domain && (e.src.Definite() || !rec.Source.Definite()):
			// The same name again is not news for dns_records, even after
			// it lapsed: the row written before still holds. Only a guess
			// confirmed by a definite source is a change.
			e.expires = max(e.expires, exp)
			t.toFront(i)
			t.refreshed.Add(1)
			return
		}
		e.name, e.src, e.ts, e.expires = rec.Domain, rec.Source, rec.TS.UnixNano(), exp
		t.toFront(i)
		t.changed.Add(1)
		t.queue(rec, addr)
		return
	}
	i := t.insert(entry{addr: addr, name: rec.Domain, ts: rec.TS.UnixNano(), expires: exp, src: rec.Source})
	t.view(&t.entries[i], client, rec)
	t.learned.Add(1)
	t.queue(rec, addr)
}

// view records rec as client's own view of e's address, when rec is a DNS
// answer client received.
func (t *Table) view(e *entry, client netip.Addr, rec source.Record) {
	if !client.IsValid() || !resolved(rec.Source) {
		return
	}
	for j := range e.views {
		if v := &e.views[j]; v.client == client {
			v.name, v.src = rec.Domain, rec.Source
			return
		}
	}
	if len(e.views) >= maxViews {
		e.views = append(e.views[:0], e.views[1:]...)
		t.viewsEvicted.Add(1)
	}
	e.views = append(e.views, view{client: client, name: rec.Domain, src: rec.Source})
}

// Refresh is LearnFor's allocation-free path for the learner: when addr
// is already held, live, under exactly name, no less definite, and client's
// view already says name, it extends the entry and reports true.
// Otherwise it changes nothing and the caller makes a string and calls
// LearnFor.
func (t *Table) Refresh(client, addr netip.Addr, name []byte, src source.Source, ttl time.Duration) bool {
	now := t.now().UnixNano()
	client = client.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[addr]
	if !ok {
		return false
	}
	e := &t.entries[i]
	if e.expires <= now || e.name != string(name) || (!e.src.Definite() && src.Definite()) ||
		(resolved(src) && !resolved(e.src)) {
		return false
	}
	if client.IsValid() && resolved(src) {
		seen := false
		for _, v := range e.views {
			if v.client == client {
				if v.name != string(name) || v.src != src {
					return false
				}
				seen = true
				break
			}
		}
		if !seen {
			return false
		}
	}
	e.expires = max(e.expires, now+int64(max(ttl, t.cfg.MinTTL)))
	t.toFront(i)
	t.refreshed.Add(1)
	return true
}

// Lookup returns the live name of remote for client: the name client's own
// DNS answers last gave remote, else the address's name (the latest DNS
// answer any client got, else a flow's name, else a PTR name).
func (t *Table) Lookup(client, remote netip.Addr) (source.Record, bool) {
	client = client.Unmap()
	remote = remote.Unmap()
	now := t.now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[remote]
	if !ok {
		t.misses.Add(1)
		return source.Record{}, false
	}
	e := &t.entries[i]
	if e.expires <= now {
		t.remove(i)
		t.expired.Add(1)
		t.misses.Add(1)
		return source.Record{}, false
	}
	t.toFront(i)
	t.hits.Add(1)
	if client.IsValid() {
		for _, v := range e.views {
			if v.client == client {
				t.viewHits.Add(1)
				return source.Record{TS: time.Unix(0, e.ts).UTC(), Addr: e.addr, Domain: v.name, Source: v.src}, true
			}
		}
	}
	return source.Record{TS: time.Unix(0, e.ts).UTC(), Addr: e.addr, Domain: e.name, Source: e.src}, true
}

// Named reports whether addr has a live name, without touching the LRU
// order: asking is not using.
func (t *Table) Named(addr netip.Addr) bool {
	addr = addr.Unmap()
	now := t.now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[addr]
	return ok && t.entries[i].expires > now
}

// Drain appends to dst the records learned or changed since the previous
// Drain and returns it.
func (t *Table) Drain(dst []source.Record) []source.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	dst = append(dst, t.pending...)
	clear(t.pending)
	t.pending = t.pending[:0]
	return dst
}

// Len returns the number of entries held, live or not yet found expired.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.index)
}

// Stats returns the counters.
func (t *Table) Stats() Stats {
	return Stats{
		Entries:        t.Len(),
		Learned:        t.learned.Load(),
		Changed:        t.changed.Load(),
		Refreshed:      t.refreshed.Load(),
		PTRIgnored:     t.ptrIgnored.Load(),
		FlowIgnored:    t.flowIgnored.Load(),
		ViewHits:       t.viewHits.Load(),
		ViewsEvicted:   t.viewsEvicted.Load(),
		Evicted:        t.evicted.Load(),
		Expired:        t.expired.Load(),
		Hits:           t.hits.Load(),
		Misses:         t.misses.Load(),
		PendingDropped: t.pendDrop.Load(),
	}
}

func (t *Table) queue(rec source.Record, addr netip.Addr) {
	if len(t.pending) >= t.cfg.PendingCap {
		t.pendDrop.Add(1)
		return
	}
	rec.Addr = addr
	t.pending = append(t.pending, rec)
}

func (t *Table) insert(e entry) int32 {
	if len(t.index) >= t.cfg.Cap && t.lru.Tail >= 0 {
		if t.entries[t.lru.Tail].expires <= t.now().UnixNano() {
			t.expired.Add(1)
		} else {
			t.evicted.Add(1)
		}
		t.remove(t.lru.Tail)
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.entries[i] = e
	} else {
		i = int32(len(t.entries))
		t.entries = append(t.entries, e)
	}
	t.entries[i].Links = lru.Unlinked
	t.index[e.addr] = i
	t.pushFront(i)
	return i
}

func (t *Table) remove(i int32) {
	t.unlink(i)
	delete(t.index, t.entries[i].addr)
	t.entries[i] = entry{} // let the name string go
	t.free = append(t.free, i)
}

func (t *Table) unlink(i int32)    { lru.Unlink(&t.lru, t.entries, i) }
func (t *Table) pushFront(i int32) { lru.PushFront(&t.lru, t.entries, i) }
func (t *Table) toFront(i int32)   { lru.ToFront(&t.lru, t.entries, i) }
