package resolver

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/netmon/netmon/capture"
)

// DNSMatch says which DNS responses the Learner believes: those that answer
// a query it saw, or any.
//
// Anyone on the internet can send a home network's devices a UDP datagram
// from port 53 that claims any name for any address; the device itself
// drops it unless it matches a query it sent (transaction ID, addresses and
// ports), but netmon, watching the wire, would learn it. Matching responses
// to the queries netmon saw holds netmon to the same rule: a forged answer
// must guess the query's ID and source port, as it must to fool the device.
type DNSMatch int

const (
	// DNSMatchAuto matches the UDP responses to a client once netmon has
	// seen that client send a query (the capture holds both directions for
	// it); responses to clients whose queries it never saw are believed, as
	// in a capture of answers only. Past QueryClients clients, every
	// response must match.
	DNSMatchAuto DNSMatch = iota
	// DNSMatchOn believes only UDP responses that match a query.
	DNSMatchOn
	// DNSMatchOff believes every response.
	DNSMatchOff
)

// String returns the flag value of m.
func (m DNSMatch) String() string {
	switch m {
	case DNSMatchOn:
		return "on"
	case DNSMatchOff:
		return "off"
	default:
		return "auto"
	}
}

// ParseDNSMatch reads "auto", "on" or "off".
func ParseDNSMatch(s string) (DNSMatch, error) {
	switch s {
	case "auto", "":
		return DNSMatchAuto, nil
	case "on":
		return DNSMatchOn, nil
	case "off":
		return DNSMatchOff, nil
	}
	return DNSMatchAuto, fmt.Errorf("want auto, on or off, got %q", s)
}

// queryKey is what a response must repeat of its query: the client's
// address and port, the server's, and the transaction ID.
type queryKey struct {
	client, server netip.Addr
	cport, sport   uint16
	id             uint16
}

type pendingQuery struct {
	key queryKey
	ts  int64 // packet time, Unix nanoseconds
}

// queries remembers the UDP queries not yet answered, at most cap of them
// for at most QueryTimeout each, oldest first out; and the clients seen
// sending queries, for DNSMatchAuto.
type queries struct {
	pending map[queryKey]int64
	ring    []pendingQuery // FIFO of pending keys; an entry whose ts no longer matches the map is stale. It grows up to Queries as the traffic needs it.
	head, n int
	clients map[netip.Addr]struct{}
	allOn   bool // QueryClients was reached: every client is matched
}

// query records a UDP query sent to port 53.
func (l *Learner) query(p *capture.Packet) {
	if l.cfg.DNSMatch == DNSMatchOff || p.Proto != capture.ProtoUDP {
		return
	}
	// A query has at least a header, and QR clear.
	if len(p.Payload) < 12 || p.Payload[2]&0x80 != 0 {
		return
	}
	q := &l.q
	if q.pending == nil {
		q.pending = make(map[queryKey]int64)
		q.clients = make(map[netip.Addr]struct{})
	}
	l.c.queries.Add(1)
	now := p.TS.UnixNano()
	l.expireQueries(now)
	if !q.allOn {
		if _, ok := q.clients[p.Src]; !ok {
			if len(q.clients) >= l.cfg.QueryClients {
				q.allOn = true
				q.clients = nil
			} else {
				q.clients[p.Src] = struct{}{}
			}
		}
	}
	k := queryKey{client: p.Src, server: p.Dst, cport: p.SrcPort, sport: p.DstPort,
		id: uint16(p.Payload[0])<<8 | uint16(p.Payload[1])}
	if q.n == len(q.ring) {
		if len(q.ring) < l.cfg.Queries {
			q.grow(min(max(2*len(q.ring), 256), l.cfg.Queries))
		} else {
			l.popQuery(true)
		}
	}
	q.pending[k] = now
	q.ring[(q.head+q.n)%len(q.ring)] = pendingQuery{k, now}
	q.n++
}

// grow moves the ring, oldest first, into one of size n.
func (q *queries) grow(n int) {
	ring := make([]pendingQuery, n)
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// popQuery forgets the oldest pending query; evicted says it went for
// room, not age.
func (l *Learner) popQuery(evicted bool) {
	q := &l.q
	e := q.ring[q.head]
	q.ring[q.head] = pendingQuery{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	if ts, ok := q.pending[e.key]; ok && ts == e.ts {
		delete(q.pending, e.key)
		if evicted {
			l.c.queriesEvicted.Add(1)
		} else {
			l.c.queriesExpired.Add(1)
		}
	}
}

func (l *Learner) expireQueries(now int64) {
	q := &l.q
	limit := now - int64(l.cfg.QueryTimeout)
	for q.n > 0 && q.ring[q.head].ts < limit {
		l.popQuery(false)
	}
}

// believe reports whether a UDP response to client may be learned from;
// an answer that is not believed is counted.
func (l *Learner) believe(p *capture.Packet, msg []byte) bool {
	m := l.cfg.DNSMatch
	if m == DNSMatchOff || p.Proto != capture.ProtoUDP || len(msg) < 2 {
		return true
	}
	q := &l.q
	if m == DNSMatchAuto && !q.allOn {
		if _, ok := q.clients[p.Dst]; !ok {
			return true
		}
	}
	k := queryKey{client: p.Dst, server: p.Src, cport: p.DstPort, sport: p.SrcPort,
		id: uint16(msg[0])<<8 | uint16(msg[1])}
	ts, ok := q.pending[k]
	if ok && p.TS.UnixNano()-ts <= int64(l.cfg.QueryTimeout) {
		// One answer per query, as the client takes it: a second one is
		// counted as unmatched.
		delete(q.pending, k)
		l.c.matched.Add(1)
		return true
	}
	l.c.unmatched.Add(1)
	return false
}

// QueryTimeout default: resolvers retry after a few seconds; an answer
// later than this no longer matches.
const defaultQueryTimeout = 30 * time.Second
