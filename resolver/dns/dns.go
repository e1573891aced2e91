// Package dns reads the DNS traffic on the wire into the address table:
// each UDP response (matched to the query it answers, when Config.Match
// says so) and each message of a DNS-over-TCP stream, reassembled, is
// parsed record by record, and the address records on the CNAME chain from
// the question (and the address hints of HTTPS/SVCB answers) teach the
// table the asked name, for the client that asked. The learner (package
// resolver) hands it every packet from or to port 53.
package dns

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/source"
)

// Config bounds the reader's state.
type Config struct {
	// TCPFlows is the most DNS-over-TCP streams reassembled at once; the
	// stream idle longest goes first.
	TCPFlows int
	// TCPFlowBytes bounds the bytes buffered per stream, in order and out
	// of order together. The default holds one largest message and its
	// two-byte length prefix.
	TCPFlowBytes int
	// TCPIdle drops a stream that has carried nothing for this long, on
	// packet time, so that lost FINs do not pin memory.
	TCPIdle time.Duration

	// Match says whether a UDP response must answer a query netmon saw
	// (transaction ID, client and server address and port) to be learned
	// from; the zero value is MatchAuto.
	Match Match
	// Queries bounds the UDP queries awaiting their answer; past it the
	// oldest is forgotten (its answer then counts as unmatched).
	Queries int
	// QueryTimeout is how long, in packet time, a query waits for its answer.
	QueryTimeout time.Duration
	// QueryClients bounds the clients MatchAuto remembers as sending
	// queries; past it, every client's responses must match.
	QueryClients int
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		TCPFlows: 1024, TCPFlowBytes: 65535 + 2, TCPIdle: 30 * time.Second,
		Queries: 16384, QueryTimeout: defaultQueryTimeout, QueryClients: 4096,
	}
}

// check reports a setting no reader can work with.
func (c Config) check() error {
	switch {
	case c.TCPFlows <= 0 || c.TCPFlowBytes <= 0 || c.TCPIdle <= 0:
		return fmt.Errorf("TCPFlows %d, TCPFlowBytes %d, TCPIdle %s: want all positive", c.TCPFlows, c.TCPFlowBytes, c.TCPIdle)
	case c.Queries <= 0 || c.QueryTimeout <= 0 || c.QueryClients <= 0:
		return fmt.Errorf("Queries %d, QueryTimeout %s, QueryClients %d: want all positive", c.Queries, c.QueryTimeout, c.QueryClients)
	case c.Match < MatchAuto || c.Match > MatchOff:
		return fmt.Errorf("Match %d: want MatchAuto, MatchOn or MatchOff", c.Match)
	}
	return nil
}

// Stats are the reader's counters since it was made. Every message that
// teaches nothing is counted under exactly one reason.
type Stats struct {
	Packets   uint64 // UDP datagrams and TCP segments from port 53
	Messages  uint64 // DNS messages handed to the parser
	Addresses uint64 // A/AAAA answers and SVCB address hints handed to the table
	SVCBHints uint64 // of those, ipv4hint/ipv6hint addresses of HTTPS/SVCB answers
	Known     uint64 // of those, answers the table already held (no allocation)

	NoPayload   uint64 // UDP datagrams without payload: empty, or not kept by the Decoder
	NotResponse uint64 // QR bit clear: a query sent from port 53
	Opcode      uint64 // not a standard query (NOTIFY, UPDATE, ...)
	RCode       uint64 // response code other than success (NXDOMAIN, SERVFAIL, ...)
	Malformed   uint64 // header or question unreadable: nothing learned
	Truncated   uint64 // answer section cut short or garbled: records before the damage kept
	TCBit       uint64 // server set TC; the answers present were still used
	TooMany     uint64 // answers beyond maxAnswers in one message, not read
	Unspecified uint64 // 0.0.0.0 or :: answers, a blocker's "no", not learned
	NoName      uint64 // address whose name is the root: nothing to call it
	// OffChain counts address records (and SVCB hints) whose owner is not
	// on the CNAME chain from the question, or that answer no question: a
	// resolver does not hand them to the client, and a spoofed or
	// poisoned answer uses them to name another site's address. Not
	// learned.
	OffChain uint64

	// Matching UDP responses to queries (Config.Match).
	Queries        uint64 // UDP queries to port 53 remembered
	Matched        uint64 // UDP responses that answered a remembered query
	Unmatched      uint64 // UDP responses that answered none: not learned from (spoofed, late, or their query unseen)
	QueriesEvicted uint64 // queries forgotten unanswered because Queries were waiting
	QueriesExpired uint64 // queries forgotten unanswered after QueryTimeout

	TCPRetransmits uint64 // segments wholly seen before
	TCPOutOfOrder  uint64 // segments held until the gap before them filled
	TCPGaps        uint64 // gaps never filled: the partial message was dropped and the stream resynchronised
	TCPEvicted     uint64 // streams dropped because TCPFlows was reached
	TCPIdle        uint64 // streams dropped after TCPIdle without a segment
	TCPOverflow    uint64 // streams dropped because TCPFlowBytes was exceeded
}

type counters struct {
	packets, messages, addresses, known                         atomic.Uint64
	notResponse, opcode, rcode, malformed, truncated, tcBit     atomic.Uint64
	tooMany, unspecified, noName, noPayload, offChain           atomic.Uint64
	tcpRetrans, tcpOOO, tcpGaps, tcpEvicted, tcpIdle, tcpOverfl atomic.Uint64
	svcbHints                                                   atomic.Uint64
	queries, matched, unmatched, queriesEvicted, queriesExpired atomic.Uint64
}

// maxAnswers bounds the records read from one message. Real answers carry a
// few dozen at most; a 64 KiB message could claim thousands.
const maxAnswers = 256

// maxChain bounds the CNAME chain followed from the question; resolvers give
// up well before this depth.
const maxChain = 16

// span locates one normalised name in Reader.names.
type span struct{ off, n int32 }

type addrAnswer struct {
	owner span
	addr  netip.Addr
	ttl   uint32
	src   source.Source // source.DNS, or source.SVCB for a hint
}

type cnameAnswer struct{ owner, target span }

// Table is what the reader teaches: *addrtable.Table.
type Table interface {
	// Refresh extends a known answer without allocating, and reports
	// false when the answer is news (then LearnFor is called).
	Refresh(client, addr netip.Addr, name []byte, src source.Source, ttl time.Duration) bool
	LearnFor(client netip.Addr, rec source.Record, ttl time.Duration)
}

// Deps is what the reader is given besides its settings.
type Deps struct {
	Table Table // where the answers go; required
}

// Reader reads DNS responses off the wire (UDP, and TCP reassembled) and
// teaches the Table which name each answered address was asked for, per
// client. With Config.Match it believes only the responses that answer a
// query it saw. Packet must be called from one goroutine; Stats may be
// called from any.
type Reader struct {
	cfg   Config
	table Table

	// Scratch for one message, kept between messages so that parsing a
	// known answer allocates nothing.
	p        dnsmessage.Parser
	names    []byte
	question span
	hasQ     bool
	addrs    []addrAnswer
	cnames   []cnameAnswer
	chain    []span
	lastName string // the last name made into a string; most answers repeat it

	flows     map[flowKey]*tcpFlow
	lastSweep int64
	q         queries

	c counters
}

// New returns a reader that writes into deps.Table. It panics on a Config
// that DefaultConfig did not come from and that no reader can work with.
func New(cfg Config, deps Deps) *Reader {
	if err := cfg.check(); err != nil {
		panic("dns.New: " + err.Error())
	}
	if deps.Table == nil {
		panic("dns.New: no Table")
	}
	return &Reader{cfg: cfg, table: deps.Table, flows: make(map[flowKey]*tcpFlow)}
}

// Packet reads p when it is DNS — a query to port 53 (remembered for
// matching) or a UDP or TCP packet from port 53 — and reports whether it
// was: a packet from or to port 53 is the reader's, whatever it holds.
func (rd *Reader) Packet(p *capture.Packet) bool {
	if p.SrcPort != 53 {
		if p.DstPort != 53 {
			return false
		}
		rd.query(p)
		return true
	}
	switch p.Proto {
	case capture.ProtoUDP:
		rd.c.packets.Add(1)
		if len(p.Payload) == 0 {
			// Empty, or the Decoder was not told to keep port 53.
			rd.c.noPayload.Add(1)
			return true
		}
		// Only a response needs its query; anything else is for
		// message to count.
		if len(p.Payload) > 2 && p.Payload[2]&0x80 != 0 && !rd.believe(p, p.Payload) {
			return true
		}
		rd.message(p.Payload, p.TS, p.Dst)
	case capture.ProtoTCP:
		rd.c.packets.Add(1)
		rd.segment(p)
	}
	return true
}

// Stats returns the counters.
func (rd *Reader) Stats() Stats {
	c := &rd.c
	return Stats{
		Packets: c.packets.Load(), NoPayload: c.noPayload.Load(), Messages: c.messages.Load(),
		Addresses: c.addresses.Load(), Known: c.known.Load(),
		NotResponse: c.notResponse.Load(), Opcode: c.opcode.Load(), RCode: c.rcode.Load(),
		Malformed: c.malformed.Load(), Truncated: c.truncated.Load(), TCBit: c.tcBit.Load(),
		TooMany: c.tooMany.Load(), Unspecified: c.unspecified.Load(), NoName: c.noName.Load(), OffChain: c.offChain.Load(),
		TCPRetransmits: c.tcpRetrans.Load(), TCPOutOfOrder: c.tcpOOO.Load(), TCPGaps: c.tcpGaps.Load(),
		TCPEvicted: c.tcpEvicted.Load(), TCPIdle: c.tcpIdle.Load(), TCPOverflow: c.tcpOverfl.Load(),
		SVCBHints: c.svcbHints.Load(),
		Queries:   c.queries.Load(), Matched: c.matched.Load(), Unmatched: c.unmatched.Load(),
		QueriesEvicted: c.queriesEvicted.Load(), QueriesExpired: c.queriesExpired.Load(),
	}
}

// message parses one DNS message record by record, so that a message cut
// short by snaplen or a lost fragment still yields every answer before the
// cut. client is the address the response went to: its view of the
// answered addresses is kept apart from other clients'.
func (rd *Reader) message(msg []byte, ts time.Time, client netip.Addr) {
	rd.c.messages.Add(1)
	h, err := rd.p.Start(msg)
	switch {
	case err != nil:
		rd.c.malformed.Add(1)
		return
	case !h.Response:
		rd.c.notResponse.Add(1)
		return
	case h.OpCode != 0:
		rd.c.opcode.Add(1)
		return
	case h.RCode != dnsmessage.RCodeSuccess:
		rd.c.rcode.Add(1)
		return
	}
	if h.Truncated {
		rd.c.tcBit.Add(1)
	}
	rd.names, rd.addrs, rd.cnames, rd.hasQ = rd.names[:0], rd.addrs[:0], rd.cnames[:0], false

	// The first question is what the client asked: only the records on
	// its CNAME chain are learned, as a resolver would use them.
	q, err := rd.p.Question()
	switch {
	case errors.Is(err, dnsmessage.ErrSectionDone):
	case err != nil:
		rd.c.malformed.Add(1)
		return
	default:
		rd.question, rd.hasQ = rd.addName(&q.Name), true
	}
	if err := rd.p.SkipAllQuestions(); err != nil {
		rd.c.malformed.Add(1)
		return
	}

	cut := !rd.answers()
	if cut {
		rd.c.truncated.Add(1)
	}
	rd.followChain()
	rd.teach(ts, client)
}

// answers reads the answer section into rd.addrs and rd.cnames. It reports
// false when the section ended in damage.
func (rd *Reader) answers() bool {
	for n := 0; ; n++ {
		h, err := rd.p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return true
		}
		if err != nil {
			return false
		}
		if n == maxAnswers {
			rd.c.tooMany.Add(1)
			return true
		}
		switch h.Type {
		case dnsmessage.TypeA:
			// dnsmessage reads 4 bytes whatever RDLENGTH says; a record
			// whose length lies is damage, and so is all after it.
			if h.Length != 4 {
				return false
			}
			r, err := rd.p.AResource()
			if err != nil {
				return false
			}
			rd.addrs = append(rd.addrs, addrAnswer{owner: rd.addName(&h.Name), addr: netip.AddrFrom4(r.A), ttl: h.TTL})
		case dnsmessage.TypeAAAA:
			if h.Length != 16 {
				return false
			}
			r, err := rd.p.AAAAResource()
			if err != nil {
				return false
			}
			rd.addrs = append(rd.addrs, addrAnswer{owner: rd.addName(&h.Name), addr: netip.AddrFrom16(r.AAAA).Unmap(), ttl: h.TTL})
		case dnsmessage.TypeCNAME:
			r, err := rd.p.CNAMEResource()
			if err != nil {
				return false
			}
			owner := rd.addName(&h.Name)
			rd.cnames = append(rd.cnames, cnameAnswer{owner: owner, target: rd.addName(&r.CNAME)})
		case dnsmessage.TypeHTTPS, dnsmessage.TypeSVCB:
			// Browsers ask for HTTPS records beside A/AAAA, and may connect
			// to the address hints alone (RFC 9460 §7.3).
			var r dnsmessage.SVCBResource
			var err error
			if h.Type == dnsmessage.TypeHTTPS {
				var hr dnsmessage.HTTPSResource
				hr, err = rd.p.HTTPSResource()
				r = hr.SVCBResource
			} else {
				r, err = rd.p.SVCBResource()
			}
			if err != nil {
				return false
			}
			rd.hints(&h, &r)
		default:
			if err := rd.p.SkipAnswer(); err != nil {
				return false
			}
		}
	}
}

// hints adds the ipv4hint and ipv6hint addresses of an HTTPS or SVCB
// record (RFC 9460 §7.3) as answers for the record's owner.
func (rd *Reader) hints(h *dnsmessage.ResourceHeader, r *dnsmessage.SVCBResource) {
	var owner span
	named := false
	for _, p := range r.Params {
		var size int
		switch p.Key {
		case dnsmessage.SVCParamIPv4Hint:
			size = 4
		case dnsmessage.SVCParamIPv6Hint:
			size = 16
		default:
			continue
		}
		if !named {
			owner, named = rd.addName(&h.Name), true
		}
		for v := p.Value; len(v) >= size; v = v[size:] {
			addr, _ := netip.AddrFromSlice(v[:size])
			rd.addrs = append(rd.addrs, addrAnswer{owner: owner, addr: addr.Unmap(), ttl: h.TTL, src: source.SVCB})
			rd.c.svcbHints.Add(1)
		}
	}
}

// followChain collects in rd.chain the question and every name it leads to
// through CNAMEs, in whatever order the server listed them.
func (rd *Reader) followChain() {
	rd.chain = rd.chain[:0]
	if !rd.hasQ {
		return
	}
	rd.chain = append(rd.chain, rd.question)
	for grew := true; grew && len(rd.chain) < maxChain; {
		grew = false
		for _, c := range rd.cnames {
			if rd.inChain(c.owner) && !rd.inChain(c.target) {
				rd.chain = append(rd.chain, c.target)
				grew = true
			}
		}
	}
}

func (rd *Reader) inChain(s span) bool {
	b := rd.name(s)
	for _, c := range rd.chain {
		if bytes.Equal(rd.name(c), b) {
			return true
		}
	}
	return false
}

// teach hands each address answer whose owner is on the chain to the
// table under the asked name, for client. An answer off the chain (or in a
// message without a question) is not learned: question evil.test with an
// answer "bank.example A 198.51.100.23" must not call that address
// bank.example.
func (rd *Reader) teach(ts time.Time, client netip.Addr) {
	for _, a := range rd.addrs {
		if a.addr.IsUnspecified() {
			rd.c.unspecified.Add(1)
			continue
		}
		if !rd.inChain(a.owner) {
			rd.c.offChain.Add(1)
			continue
		}
		name := rd.name(rd.question)
		if len(name) == 0 {
			rd.c.noName.Add(1)
			continue
		}
		rd.c.addresses.Add(1)
		ttl := time.Duration(a.ttl) * time.Second
		src := a.src
		if src == source.None {
			src = source.DNS
		}
		if rd.table.Refresh(client, a.addr, name, src, ttl) {
			rd.c.known.Add(1)
			continue
		}
		if rd.lastName != string(name) {
			rd.lastName = string(name)
		}
		rd.table.LearnFor(client, source.Record{TS: ts, Addr: a.addr, Domain: rd.lastName, Source: src}, ttl)
	}
}

// addName appends n to rd.names normalised: no trailing dot, ASCII letters
// lower-cased, every other byte kept as sent.
func (rd *Reader) addName(n *dnsmessage.Name) span {
	b := n.Data[:n.Length]
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	off := len(rd.names)
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		rd.names = append(rd.names, c)
	}
	return span{int32(off), int32(len(b))}
}

func (rd *Reader) name(s span) []byte { return rd.names[s.off : s.off+s.n] }
