// Package ptr looks up the reverse (PTR) names of addresses that have no
// name, in background workers with a queue, a rate limit and a negative
// cache, never on the packet path.
package ptr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmon/netmon/resolver/source"
)

// Config tunes the background reverse lookups. DefaultConfig gives the
// defaults.
type Config struct {
	// Workers is the number of lookups in flight at once.
	Workers int
	// Queue is how many addresses may wait for a worker. Request drops
	// beyond it rather than block the window closer.
	Queue int
	// Timeout bounds one lookup.
	Timeout time.Duration
	// Rate is the most lookups started per second, so that a scan seen on
	// the network does not become a flood at the resolver. Negative means
	// no limit.
	Rate float64
	// NegativeTTL is how long an address whose lookup failed is not asked
	// again.
	NegativeTTL time.Duration
	// NegativeCap bounds the failed addresses remembered.
	NegativeCap int
}

// DefaultConfig returns the settings netmon runs with: 4 workers, a queue
// of 1,024, 2 s per lookup, 20 lookups a second, failures not asked again
// for 10 minutes, 10,000 of them remembered.
func DefaultConfig() Config {
	return Config{
		Workers: 4, Queue: 1024, Timeout: 2 * time.Second, Rate: 20,
		NegativeTTL: 10 * time.Minute, NegativeCap: 10_000,
	}
}

// check reports a setting no Resolver can run with.
func (c Config) check() error {
	switch {
	case c.Workers <= 0 || c.Queue <= 0 || c.NegativeCap <= 0:
		return fmt.Errorf("Workers %d, Queue %d, NegativeCap %d: want all positive", c.Workers, c.Queue, c.NegativeCap)
	case c.Timeout <= 0 || c.NegativeTTL <= 0:
		return fmt.Errorf("Timeout %s, NegativeTTL %s: want both positive", c.Timeout, c.NegativeTTL)
	case c.Rate == 0:
		return errors.New("Rate 0: want lookups per second, or negative for no limit")
	}
	return nil
}

// Deps are the Resolver's collaborators.
type Deps struct {
	// Table is where the answers go; required.
	Table Table
	// Lookup does one reverse lookup; nil: net.DefaultResolver.LookupAddr.
	Lookup func(ctx context.Context, addr string) ([]string, error)
	// Now is the clock for latencies, negative caching, rate and record
	// times; nil: time.Now.
	Now func() time.Time
	// DeviceName receives the names of lookups asked for with
	// RequestDevice, instead of the table: a local device's name is not a
	// server's. Nil drops them.
	DeviceName func(addr netip.Addr, name string)
}

// Stats are the reverse lookup counters since the Resolver was made.
type Stats struct {
	Requests uint64 // calls to Request and RequestDevice
	Queued   uint64 // requests that went to the queue
	Known    uint64 // skipped: the table already names the address (or it is no address)
	Deduped  uint64 // skipped: already queued, in flight, or failed recently
	Dropped  uint64 // skipped: the queue was full

	Lookups  uint64 // lookups finished
	OK       uint64 // a valid name went into the table (or, asked by RequestDevice, to DeviceName)
	NotFound uint64 // no PTR record
	Timeouts uint64 // Timeout passed
	Errors   uint64 // any other failure
	Invalid  uint64 // answers that were not host names, discarded

	NegativeEvicted uint64 // failed addresses forgotten early because NegativeCap was reached

	// Latency of finished lookups: total, worst, and a histogram with
	// upper bounds 10 ms, 100 ms, 1 s and beyond.
	LatencyTotal time.Duration
	LatencyMax   time.Duration
	LatencyHist  [4]uint64
}

type counters struct {
	requests, queued, known, deduped, dropped             atomic.Uint64
	lookups, ok, notFound, timeouts, errs, invalid, negEv atomic.Uint64
	latTotal, latMax                                      atomic.Int64
	hist                                                  [4]atomic.Uint64
}

// Table is the address table the answers go into: *addrtable.Table.
type Table interface {
	// Named reports whether addr has a name that has not expired.
	Named(addr netip.Addr) bool
	Learn(rec source.Record, ttl time.Duration)
}

// Resolver looks up reverse names for addresses without a name, off the packet
// path. Its names go into the table as source.PTR, which a definite name
// always beats.
type Resolver struct {
	cfg   Config
	deps  Deps
	queue chan request

	mu sync.Mutex
	// state holds every address queued or in flight (value 0) and every
	// address whose lookup failed, until when it is not asked again (Unix
	// nanoseconds).
	state     map[netip.Addr]int64
	negatives int
	running   bool

	lim limiter
	c   counters
}

// request is one address to look up, and where its name goes.
type request struct {
	addr   netip.Addr
	device bool // to Deps.DeviceName, not the table
}

// New returns a Resolver writing into deps.Table. Nothing runs until Run.
// cfg is DefaultConfig() with the settings the caller changes; New panics
// on settings no Resolver can run with (see Config.check), which only a
// caller's mistake makes.
func New(cfg Config, deps Deps) *Resolver {
	if err := cfg.check(); err != nil {
		panic("ptr.New: " + err.Error())
	}
	if deps.Table == nil {
		panic("ptr.New: no Deps.Table")
	}
	if deps.Lookup == nil {
		deps.Lookup = net.DefaultResolver.LookupAddr
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Resolver{
		cfg:   cfg,
		deps:  deps,
		queue: make(chan request, cfg.Queue),
		state: make(map[netip.Addr]int64),
		lim:   limiter{rate: cfg.Rate, now: deps.Now},
	}
}

// Request asks for addr's reverse name. It never blocks: when the queue is
// full the request is dropped and counted, and a later window asks again.
func (p *Resolver) Request(addr netip.Addr) {
	p.c.requests.Add(1)
	addr = addr.Unmap()
	if !addr.IsValid() || p.deps.Table.Named(addr) {
		p.c.known.Add(1)
		return
	}
	p.enqueue(request{addr: addr})
}

// RequestDevice asks for the reverse name of a local device's address, for
// Deps.DeviceName: home routers answer them from their DHCP leases.
// It shares the queue, rate limit, negative cache and host-name check of
// Request, and never blocks either.
func (p *Resolver) RequestDevice(addr netip.Addr) {
	p.c.requests.Add(1)
	addr = addr.Unmap()
	if !addr.IsValid() || p.deps.DeviceName == nil {
		p.c.known.Add(1)
		return
	}
	p.enqueue(request{addr: addr, device: true})
}

// enqueue queues r unless its address is queued, in flight or failed
// recently, or the queue is full.
func (p *Resolver) enqueue(r request) {
	addr := r.addr
	now := p.deps.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if until, ok := p.state[addr]; ok {
		if until == 0 || until > now {
			p.c.deduped.Add(1)
			return
		}
		delete(p.state, addr)
		p.negatives--
	}
	select {
	case p.queue <- r:
		p.state[addr] = 0
		p.c.queued.Add(1)
	default:
		p.c.dropped.Add(1)
	}
}

// Run runs the workers until ctx ends, then waits for them. It returns nil
// when ctx ends; it fails only when called twice.
func (p *Resolver) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("ptr: already running")
	}
	p.running = true
	p.mu.Unlock()

	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() { p.work(ctx) })
	}
	wg.Wait()
	return nil
}

// Stats returns the counters.
func (p *Resolver) Stats() Stats {
	c := &p.c
	s := Stats{
		Requests: c.requests.Load(), Queued: c.queued.Load(), Known: c.known.Load(),
		Deduped: c.deduped.Load(), Dropped: c.dropped.Load(),
		Lookups: c.lookups.Load(), OK: c.ok.Load(), NotFound: c.notFound.Load(),
		Timeouts: c.timeouts.Load(), Errors: c.errs.Load(), Invalid: c.invalid.Load(),
		NegativeEvicted: c.negEv.Load(),
		LatencyTotal:    time.Duration(c.latTotal.Load()),
		LatencyMax:      time.Duration(c.latMax.Load()),
	}
	for i := range s.LatencyHist {
		s.LatencyHist[i] = c.hist[i].Load()
	}
	return s
}

func (p *Resolver) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-p.queue:
			if err := p.lim.wait(ctx); err != nil {
				return
			}
			p.lookup(ctx, r)
		}
	}
}

func (p *Resolver) lookup(ctx context.Context, r request) {
	addr := r.addr
	start := p.deps.Now()
	lctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	names, err := p.deps.Lookup(lctx, addr.String())
	cancel()
	p.observe(p.deps.Now().Sub(start))

	name := ""
	switch {
	case err != nil:
		var de *net.DNSError
		switch {
		case errors.As(err, &de) && de.IsNotFound:
			p.c.notFound.Add(1)
		case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &de) && de.IsTimeout):
			p.c.timeouts.Add(1)
		default:
			p.c.errs.Add(1)
		}
	case len(names) == 0:
		p.c.notFound.Add(1)
	default:
		for _, n := range names {
			if h, ok := hostName(n); ok {
				name = h
				break
			}
		}
		if name == "" {
			p.c.invalid.Add(1)
		}
	}

	switch {
	case name == "":
	case r.device:
		p.c.ok.Add(1)
		p.deps.DeviceName(addr, name)
	default:
		p.c.ok.Add(1)
		p.deps.Table.Learn(source.Record{TS: p.deps.Now(), Addr: addr, Domain: name, Source: source.PTR}, 0)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.state, addr)
	if name == "" {
		p.remember(addr, p.deps.Now().Add(p.cfg.NegativeTTL).UnixNano())
	}
}

// remember notes a failed address, making room first when NegativeCap is
// reached: lapsed entries go, and if none had lapsed, an arbitrary one.
func (p *Resolver) remember(addr netip.Addr, until int64) {
	if p.negatives >= p.cfg.NegativeCap {
		now := p.deps.Now().UnixNano()
		for a, u := range p.state {
			if u != 0 && u <= now {
				delete(p.state, a)
				p.negatives--
			}
		}
		for a, u := range p.state {
			if p.negatives < p.cfg.NegativeCap {
				break
			}
			if u != 0 {
				delete(p.state, a)
				p.negatives--
				p.c.negEv.Add(1)
			}
		}
	}
	p.state[addr] = until
	p.negatives++
}

func (p *Resolver) observe(d time.Duration) {
	p.c.lookups.Add(1)
	p.c.latTotal.Add(int64(d))
	for {
		m := p.c.latMax.Load()
		if int64(d) <= m || p.c.latMax.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	// Upper bounds of the histogram's buckets; the last bucket is open.
	bounds := [...]time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	p.c.hist[i].Add(1)
}

// hostName checks that s is a host name (RFC 952/1123 LDH labels, at most
// 253 characters) and returns it without the trailing dot, lower-cased.
// PTR answers are chosen by whoever owns the address block, so anything
// else is refused before it reaches a dashboard.
func hostName(s string) (string, bool) {
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return "", false
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return "", false
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return "", false
		}
		label++
		if label > 63 {
			return "", false
		}
	}
	if label == 0 || s[len(s)-1] == '-' {
		return "", false
	}
	return toLowerASCII(s), true
}

func toLowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// limiter is a token bucket holding one second's worth of tokens.
type limiter struct {
	rate float64
	now  func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// wait takes a token, sleeping until one is due or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l.rate < 0 {
		return ctx.Err()
	}
	burst := max(1, l.rate)
	for {
		l.mu.Lock()
		now := l.now()
		if l.last.IsZero() {
			l.tokens = burst
		} else {
			l.tokens = min(burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		}
		l.last = now
		if l.tokens >= 1 {
			l.tokens--
			l.mu.Unlock()
			return nil
		}
		d := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
		l.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
