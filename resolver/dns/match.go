package dns

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/netmon/netmon/capture"
)

// Match says which DNS responses the Reader believes: those that answer
// a query it saw, or any.
//
// Anyone on the internet can send a home network's devices a UDP datagram
// from port 53 that claims any name for any address; the device itself
// drops it unless it matches a query it sent (transaction ID, addresses and
// ports), but netmon, watching the wire, would learn it. Matching responses
// to the queries netmon saw holds netmon to the same rule: a forged answer
// must guess the query's ID and source port, as it must to fool the device.
type Match int

const (
	// MatchAuto matches the UDP responses to a client once netmon has
	// seen that client send a query (the capture holds both directions for
	// it); responses to clients whose queries it never saw are believed, as
	// in a capture of answers only. Past QueryClients clients, every
	// response must match.
	MatchAuto Match = iota
	// MatchOn believes only UDP responses that match a query.
	MatchOn
	// MatchOff believes every response.
	MatchOff
)

// String returns the flag value of m.
func (m Match) String() string {
	switch m {
	case MatchOn:
		return "on"
	case MatchOff:
		return "off"
	default:
		return "auto"
	}
}

// ParseMatch reads "auto", "on" or "off".
func ParseMatch(s string) (Match, error) {
	switch s {
	case "auto", "":
		return MatchAuto, nil
	case "on":
		return MatchOn, nil
	case "off":
		return MatchOff, nil
	}
	return MatchAuto, fmt.Errorf("want auto, on or off, got %q", s)
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
// sending queries, for MatchAuto.
type queries struct {
	pending map[queryKey]int64
	ring    []pendingQuery // FIFO of pending keys; an entry whose ts no longer matches the map is stale. It grows up to Queries as the traffic needs it.
	head, n int
	clients map[netip.Addr]struct{}
	allOn   bool // QueryClients was reached: every client is matched
}

// query records a UDP query sent to port 53.
func (rd *Reader) query(p *capture.Packet) {
	if rd.cfg.Match == MatchOff || p.Proto != capture.ProtoUDP {
		return
	}
	// A query has at least a header, and QR clear.
	if len(p.Payload) < 12 || p.Payload[2]&0x80 != 0 {
		return
	}
	q := &rd.q
	if q.pending == nil {
		q.pending = make(map[queryKey]int64)
		q.clients = make(map[netip.Addr]struct{})
	}
	rd.c.queries.Add(1)
	now := p.TS.UnixNano()
	rd.expireQueries(now)
	if !q.allOn {
		if _, ok := q.clients[p.Src]; !ok {
			if len(q.clients) >= rd.cfg.QueryClients {
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
		if len(q.ring) < rd.cfg.Queries {
			q.grow(min(max(2*len(q.ring), 256), rd.cfg.Queries))
		} else {
			rd.popQuery(true)
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
func (rd *Reader) popQuery(evicted bool) {
	q := &rd.q
	e := q.ring[q.head]
	q.ring[q.head] = pendingQuery{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	if ts, ok := q.pending[e.key]; ok && ts == e.ts {
		delete(q.pending, e.key)
		if evicted {
			rd.c.queriesEvicted.Add(1)
		} else {
			rd.c.queriesExpired.Add(1)
		}
	}
}

func (rd *Reader) expireQueries(now int64) {
	q := &rd.q
	limit := now - int64(rd.cfg.QueryTimeout)
	for q.n > 0 && q.ring[q.head].ts < limit {
		rd.popQuery(false)
	}
}

// believe reports whether a UDP response to client may be learned from;
// an answer that is not believed is counted.
func (rd *Reader) believe(p *capture.Packet, msg []byte) bool {
	m := rd.cfg.Match
	if m == MatchOff || p.Proto != capture.ProtoUDP || len(msg) < 2 {
		return true
	}
	q := &rd.q
	if m == MatchAuto && !q.allOn {
		if _, ok := q.clients[p.Dst]; !ok {
			return true
		}
	}
	k := queryKey{client: p.Dst, server: p.Src, cport: p.DstPort, sport: p.SrcPort,
		id: uint16(msg[0])<<8 | uint16(msg[1])}
	ts, ok := q.pending[k]
	if ok && p.TS.UnixNano()-ts <= int64(rd.cfg.QueryTimeout) {
		// One answer per query, as the client takes it: a second one is
		// counted as unmatched.
		delete(q.pending, k)
		rd.c.matched.Add(1)
		return true
	}
	rd.c.unmatched.Add(1)
	return false
}

// QueryTimeout default: resolvers retry after a few seconds; an answer
// later than this no longer matches.
const defaultQueryTimeout = 30 * time.Second
