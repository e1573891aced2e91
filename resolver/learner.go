package resolver

import (
	"bytes"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/firstbytes"
	"github.com/netmon/netmon/resolver/source"
)

// LearnerConfig bounds the learner's state.
type LearnerConfig struct {
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

	// Flows is the most TCP and UDP flows followed for their names at
	// once; the flow idle longest goes first. Each costs about 300 bytes.
	Flows int
	// FlowIdle forgets a flow that carried nothing for this long, on
	// packet time. Its later packets, if any, count under the address's
	// name.
	FlowIdle time.Duration
	// FlowBytes bounds the first bytes read per flow, like the Decoder's
	// FlowStartBytes: a ClientHello or request head larger than this is
	// given up.
	FlowBytes int
	// FlowBuffers bounds the flows that buffer first bytes at once (those
	// whose name spans several packets), so that FlowBuffers × FlowBytes
	// bounds the memory they take.
	FlowBuffers int

	// DNSMatch says whether a UDP response must answer a query netmon saw
	// (transaction ID, client and server address and port) to be learned
	// from; the zero value is DNSMatchAuto.
	DNSMatch DNSMatch
	// Queries bounds the UDP queries awaiting their answer; past it the
	// oldest is forgotten (its answer then counts as unmatched).
	Queries int
	// QueryTimeout is how long, in packet time, a query waits for its answer.
	QueryTimeout time.Duration
	// QueryClients bounds the clients DNSMatchAuto remembers as sending
	// queries; past it, every client's responses must match.
	QueryClients int
}

// DefaultLearnerConfig returns the defaults documented on LearnerConfig's
// fields.
func DefaultLearnerConfig() LearnerConfig {
	return LearnerConfig{
		TCPFlows: 1024, TCPFlowBytes: 65535 + 2, TCPIdle: 30 * time.Second,
		Flows: 32768, FlowIdle: 5 * time.Minute, FlowBytes: 16 << 10, FlowBuffers: 1024,
		Queries: 16384, QueryTimeout: defaultQueryTimeout, QueryClients: 4096,
	}
}

func (c *LearnerConfig) fill() {
	d := DefaultLearnerConfig()
	if c.TCPFlows <= 0 {
		c.TCPFlows = d.TCPFlows
	}
	if c.TCPFlowBytes <= 0 {
		c.TCPFlowBytes = d.TCPFlowBytes
	}
	if c.TCPIdle <= 0 {
		c.TCPIdle = d.TCPIdle
	}
	if c.Flows <= 0 {
		c.Flows = d.Flows
	}
	if c.FlowIdle <= 0 {
		c.FlowIdle = d.FlowIdle
	}
	if c.FlowBytes <= 0 {
		c.FlowBytes = d.FlowBytes
	}
	if c.FlowBuffers <= 0 {
		c.FlowBuffers = d.FlowBuffers
	}
	if c.Queries <= 0 {
		c.Queries = d.Queries
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = d.QueryTimeout
	}
	if c.QueryClients <= 0 {
		c.QueryClients = d.QueryClients
	}
}

// LearnerStats are the learner's counters since it was made. Every message
// that teaches nothing is counted under exactly one reason.
type LearnerStats struct {
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

	// Matching UDP responses to queries (LearnerConfig.DNSMatch).
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

	// Flows followed for the names in their first bytes. Each one ends
	// named (NamesSNI + NamesHTTP + NamesQUIC), unnamed (FlowsUnnamed,
	// FlowLiterals, FlowBuffersFull), or forgotten while it waited
	// (FlowsEvicted); DNS-over-TLS flows without a name are named by port.
	Flows           uint64 // flows followed from their start (or from their first bytes)
	NamesSNI        uint64 // flows named by a TLS ClientHello
	NamesHTTP       uint64 // flows named by an HTTP request
	NamesQUIC       uint64 // flows named by a QUIC Initial (or a gQUIC CHLO)
	NamesOuter      uint64 // of those, outer names of an Encrypted ClientHello (or beside ESNI)
	NamesProxied    uint64 // of those, HTTP proxy requests: the flow is named, the proxy's address is not
	FlowsUnnamed    uint64 // flows whose first bytes held no name: no SNI, not TLS, HTTP or QUIC, too large
	FlowLiterals    uint64 // flows whose SNI or Host was an address literal or no host name
	FlowBuffersFull uint64 // flows given up because FlowBuffers flows were already buffering
	FlowsEvicted    uint64 // flows dropped at Flows while their name was still awaited
	// FlowsProtected counts flows promoted to the flow table's protected
	// segment: they named themselves and their server answered; FlowsProtectedEvicted
	// those evicted from it at Flows (only when probation was empty).
	FlowsProtected, FlowsProtectedEvicted uint64
	FlowsExpired                          uint64 // flows forgotten after FlowIdle (or after closing)
	InternResets                          uint64 // times the set of shared flow names started afresh

	QUICInitials       uint64 // Initial packets decrypted (and gQUIC CHLO packets read)
	QUICUndecryptable  uint64 // long-header packets that could not be parsed or opened
	QUICSkipped        uint64 // packets that cannot carry a ClientHello: 0-RTT, Handshake, short header, version negotiation
	QUICUnknownVersion uint64 // Initials of an unknown version that opened with version 1 keys
}

type learnerCounters struct {
	packets, messages, addresses, known                         atomic.Uint64
	notResponse, opcode, rcode, malformed, truncated, tcBit     atomic.Uint64
	tooMany, unspecified, noName, noPayload, offChain           atomic.Uint64
	tcpRetrans, tcpOOO, tcpGaps, tcpEvicted, tcpIdle, tcpOverfl atomic.Uint64
	svcbHints                                                   atomic.Uint64
	queries, matched, unmatched, queriesEvicted, queriesExpired atomic.Uint64

	flows, namesSNI, namesHTTP, namesQUIC, namesOuter, namesProxied  atomic.Uint64
	flowsUnnamed, flowLiterals, flowBuffersFull, flowsEvicted        atomic.Uint64
	flowsExpired, flowsProtected, flowsProtectedEvicted              atomic.Uint64
	quicInitials, quicUndecryptable, quicSkipped, quicUnknownVersion atomic.Uint64
}

// maxAnswers bounds the records read from one message. Real answers carry a
// few dozen at most; a 64 KiB message could claim thousands.
const maxAnswers = 256

// maxChain bounds the CNAME chain followed from the question; resolvers give
// up well before this depth.
const maxChain = 16

// span locates one normalised name in Learner.names.
type span struct{ off, n int32 }

type addrAnswer struct {
	owner span
	addr  netip.Addr
	ttl   uint32
	src   source.Source // source.DNS, or source.SVCB for a hint
}

type cnameAnswer struct{ owner, target span }

// Learner reads DNS responses off the wire and teaches the Table which
// name each answered address was asked for, per client; and it follows
// every other flow to read the name its first bytes give (TLS SNI, HTTP
// Host, QUIC Initial SNI) and mark the flow's packets with it. Learn must
// be called from one goroutine; Stats may be called from any.
type Learner struct {
	cfg   LearnerConfig
	table *addrtable.Table

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

	// Flows and their names; scratch buffers of the first-bytes parsers.
	q       queries
	ft      flowTable
	intern  interner
	scratch []byte          // a ClientHello joined from several records
	nameBuf []byte          // a normalised name
	quic    firstbytes.QUIC // a QUIC packet's scratch

	c learnerCounters
}

// NewLearner returns a learner that writes into t.
func NewLearner(cfg LearnerConfig, t *addrtable.Table) *Learner {
	cfg.fill()
	return &Learner{cfg: cfg, table: t, flows: make(map[flowKey]*tcpFlow), ft: newFlowTable()}
}

// Learn reads the DNS responses in b (UDP and TCP packets from port 53),
// and follows every other TCP and UDP flow: it sets Packet.Name on each
// packet of a flow that named its server, and Packet.Flow on packets of a
// flow whose name is still awaited.
func (l *Learner) Learn(b *capture.Batch) {
	for i := range b.Packets {
		p := &b.Packets[i]
		if p.SrcPort != 53 {
			switch {
			case p.DstPort == 53:
				l.query(p)
			case p.Proto == capture.ProtoTCP || p.Proto == capture.ProtoUDP:
				l.flowPacket(p)
			}
			continue
		}
		switch p.Proto {
		case capture.ProtoUDP:
			l.c.packets.Add(1)
			if len(p.Payload) == 0 {
				// Empty, or the Decoder was not told to keep port 53.
				l.c.noPayload.Add(1)
				continue
			}
			// Only a response needs its query; anything else is for
			// message to count.
			if len(p.Payload) > 2 && p.Payload[2]&0x80 != 0 && !l.believe(p, p.Payload) {
				continue
			}
			l.message(p.Payload, p.TS, p.Dst)
		case capture.ProtoTCP:
			l.c.packets.Add(1)
			l.segment(p)
		}
	}
}

// Stats returns the counters.
func (l *Learner) Stats() LearnerStats {
	c := &l.c
	return LearnerStats{
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

		Flows: c.flows.Load(), NamesSNI: c.namesSNI.Load(), NamesHTTP: c.namesHTTP.Load(),
		NamesQUIC: c.namesQUIC.Load(), NamesOuter: c.namesOuter.Load(), NamesProxied: c.namesProxied.Load(),
		FlowsUnnamed: c.flowsUnnamed.Load(), FlowLiterals: c.flowLiterals.Load(),
		FlowBuffersFull: c.flowBuffersFull.Load(), FlowsEvicted: c.flowsEvicted.Load(),
		FlowsExpired: c.flowsExpired.Load(), InternResets: l.intern.resets.Load(),
		FlowsProtected: c.flowsProtected.Load(), FlowsProtectedEvicted: c.flowsProtectedEvicted.Load(),
		QUICInitials: c.quicInitials.Load(), QUICUndecryptable: c.quicUndecryptable.Load(),
		QUICSkipped: c.quicSkipped.Load(), QUICUnknownVersion: c.quicUnknownVersion.Load(),
	}
}

// message parses one DNS message record by record, so that a message cut
// short by snaplen or a lost fragment still yields every answer before the
// cut. client is the address the response went to: its view of the
// answered addresses is kept apart from other clients'.
func (l *Learner) message(msg []byte, ts time.Time, client netip.Addr) {
	l.c.messages.Add(1)
	h, err := l.p.Start(msg)
	switch {
	case err != nil:
		l.c.malformed.Add(1)
		return
	case !h.Response:
		l.c.notResponse.Add(1)
		return
	case h.OpCode != 0:
		l.c.opcode.Add(1)
		return
	case h.RCode != dnsmessage.RCodeSuccess:
		l.c.rcode.Add(1)
		return
	}
	if h.Truncated {
		l.c.tcBit.Add(1)
	}
	l.names, l.addrs, l.cnames, l.hasQ = l.names[:0], l.addrs[:0], l.cnames[:0], false

	// The first question is what the client asked: only the records on
	// its CNAME chain are learned, as a resolver would use them.
	q, err := l.p.Question()
	switch {
	case errors.Is(err, dnsmessage.ErrSectionDone):
	case err != nil:
		l.c.malformed.Add(1)
		return
	default:
		l.question, l.hasQ = l.addName(&q.Name), true
	}
	if err := l.p.SkipAllQuestions(); err != nil {
		l.c.malformed.Add(1)
		return
	}

	cut := !l.answers()
	if cut {
		l.c.truncated.Add(1)
	}
	l.followChain()
	l.teach(ts, client)
}

// answers reads the answer section into l.addrs and l.cnames. It reports
// false when the section ended in damage.
func (l *Learner) answers() bool {
	for n := 0; ; n++ {
		h, err := l.p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return true
		}
		if err != nil {
			return false
		}
		if n == maxAnswers {
			l.c.tooMany.Add(1)
			return true
		}
		switch h.Type {
		case dnsmessage.TypeA:
			// dnsmessage reads 4 bytes whatever RDLENGTH says; a record
			// whose length lies is damage, and so is all after it.
			if h.Length != 4 {
				return false
			}
			r, err := l.p.AResource()
			if err != nil {
				return false
			}
			l.addrs = append(l.addrs, addrAnswer{owner: l.addName(&h.Name), addr: netip.AddrFrom4(r.A), ttl: h.TTL})
		case dnsmessage.TypeAAAA:
			if h.Length != 16 {
				return false
			}
			r, err := l.p.AAAAResource()
			if err != nil {
				return false
			}
			l.addrs = append(l.addrs, addrAnswer{owner: l.addName(&h.Name), addr: netip.AddrFrom16(r.AAAA).Unmap(), ttl: h.TTL})
		case dnsmessage.TypeCNAME:
			r, err := l.p.CNAMEResource()
			if err != nil {
				return false
			}
			owner := l.addName(&h.Name)
			l.cnames = append(l.cnames, cnameAnswer{owner: owner, target: l.addName(&r.CNAME)})
		case dnsmessage.TypeHTTPS, dnsmessage.TypeSVCB:
			// Browsers ask for HTTPS records beside A/AAAA, and may connect
			// to the address hints alone (RFC 9460 §7.3).
			var r dnsmessage.SVCBResource
			var err error
			if h.Type == dnsmessage.TypeHTTPS {
				var hr dnsmessage.HTTPSResource
				hr, err = l.p.HTTPSResource()
				r = hr.SVCBResource
			} else {
				r, err = l.p.SVCBResource()
			}
			if err != nil {
				return false
			}
			l.hints(&h, &r)
		default:
			if err := l.p.SkipAnswer(); err != nil {
				return false
			}
		}
	}
}

// hints adds the ipv4hint and ipv6hint addresses of an HTTPS or SVCB
// record (RFC 9460 §7.3) as answers for the record's owner.
func (l *Learner) hints(h *dnsmessage.ResourceHeader, r *dnsmessage.SVCBResource) {
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
			owner, named = l.addName(&h.Name), true
		}
		for v := p.Value; len(v) >= size; v = v[size:] {
			addr, _ := netip.AddrFromSlice(v[:size])
			l.addrs = append(l.addrs, addrAnswer{owner: owner, addr: addr.Unmap(), ttl: h.TTL, src: source.SVCB})
			l.c.svcbHints.Add(1)
		}
	}
}

// followChain collects in l.chain the question and every name it leads to
// through CNAMEs, in whatever order the server listed them.
func (l *Learner) followChain() {
	l.chain = l.chain[:0]
	if !l.hasQ {
		return
	}
	l.chain = append(l.chain, l.question)
	for grew := true; grew && len(l.chain) < maxChain; {
		grew = false
		for _, c := range l.cnames {
			if l.inChain(c.owner) && !l.inChain(c.target) {
				l.chain = append(l.chain, c.target)
				grew = true
			}
		}
	}
}

func (l *Learner) inChain(s span) bool {
	b := l.name(s)
	for _, c := range l.chain {
		if bytes.Equal(l.name(c), b) {
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
func (l *Learner) teach(ts time.Time, client netip.Addr) {
	for _, a := range l.addrs {
		if a.addr.IsUnspecified() {
			l.c.unspecified.Add(1)
			continue
		}
		if !l.inChain(a.owner) {
			l.c.offChain.Add(1)
			continue
		}
		name := l.name(l.question)
		if len(name) == 0 {
			l.c.noName.Add(1)
			continue
		}
		l.c.addresses.Add(1)
		ttl := time.Duration(a.ttl) * time.Second
		src := a.src
		if src == source.None {
			src = source.DNS
		}
		if l.table.Refresh(client, a.addr, name, src, ttl) {
			l.c.known.Add(1)
			continue
		}
		if l.lastName != string(name) {
			l.lastName = string(name)
		}
		l.table.LearnFor(client, source.Record{TS: ts, Addr: a.addr, Domain: l.lastName, Source: src}, ttl)
	}
}

// addName appends n to l.names normalised: no trailing dot, ASCII letters
// lower-cased, every other byte kept as sent.
func (l *Learner) addName(n *dnsmessage.Name) span {
	b := n.Data[:n.Length]
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	off := len(l.names)
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l.names = append(l.names, c)
	}
	return span{int32(off), int32(len(b))}
}

func (l *Learner) name(s span) []byte { return l.names[s.off : s.off+s.n] }
