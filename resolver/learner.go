package resolver

import (
	"bytes"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
)

// LearnerConfig bounds the DNS learner's state.
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
}

// DefaultLearnerConfig returns the defaults documented on LearnerConfig's
// fields.
func DefaultLearnerConfig() LearnerConfig {
	return LearnerConfig{TCPFlows: 1024, TCPFlowBytes: 65535 + 2, TCPIdle: 30 * time.Second}
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
}

// LearnerStats are the learner's counters since it was made. Every message
// that teaches nothing is counted under exactly one reason.
type LearnerStats struct {
	Packets   uint64 // UDP datagrams and TCP segments from port 53
	Messages  uint64 // DNS messages handed to the parser
	Addresses uint64 // A/AAAA answers handed to the table
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

	TCPRetransmits uint64 // segments wholly seen before
	TCPOutOfOrder  uint64 // segments held until the gap before them filled
	TCPGaps        uint64 // gaps never filled: the partial message was dropped and the stream resynchronised
	TCPEvicted     uint64 // streams dropped because TCPFlows was reached
	TCPIdle        uint64 // streams dropped after TCPIdle without a segment
	TCPOverflow    uint64 // streams dropped because TCPFlowBytes was exceeded
}

type learnerCounters struct {
	packets, messages, addresses, known                         atomic.Uint64
	notResponse, opcode, rcode, malformed, truncated, tcBit     atomic.Uint64
	tooMany, unspecified, noName, noPayload                     atomic.Uint64
	tcpRetrans, tcpOOO, tcpGaps, tcpEvicted, tcpIdle, tcpOverfl atomic.Uint64
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
}

type cnameAnswer struct{ owner, target span }

// Learner reads DNS responses off the wire and teaches the Table which
// name each answered address was asked for. Learn must be called from one
// goroutine; Stats may be called from any.
type Learner struct {
	cfg   LearnerConfig
	table *Table

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

	c learnerCounters
}

// NewLearner returns a learner that writes into t.
func NewLearner(cfg LearnerConfig, t *Table) *Learner {
	cfg.fill()
	return &Learner{cfg: cfg, table: t, flows: make(map[flowKey]*tcpFlow)}
}

// Learn reads the DNS responses in b: UDP and TCP packets from port 53.
func (l *Learner) Learn(b *capture.Batch) {
	for i := range b.Packets {
		p := &b.Packets[i]
		if p.SrcPort != 53 {
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
			l.message(p.Payload, p.TS)
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
		TooMany: c.tooMany.Load(), Unspecified: c.unspecified.Load(), NoName: c.noName.Load(),
		TCPRetransmits: c.tcpRetrans.Load(), TCPOutOfOrder: c.tcpOOO.Load(), TCPGaps: c.tcpGaps.Load(),
		TCPEvicted: c.tcpEvicted.Load(), TCPIdle: c.tcpIdle.Load(), TCPOverflow: c.tcpOverfl.Load(),
	}
}

// message parses one DNS message record by record, so that a message cut
// short by snaplen or a lost fragment still yields every answer before the
// cut.
func (l *Learner) message(msg []byte, ts time.Time) {
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

	// The first question is what the client asked; answers to any others
	// (no resolver sends them) still map to their own owner names.
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
	l.teach(ts)
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
			r, err := l.p.AResource()
			if err != nil {
				return false
			}
			l.addrs = append(l.addrs, addrAnswer{owner: l.addName(&h.Name), addr: netip.AddrFrom4(r.A), ttl: h.TTL})
		case dnsmessage.TypeAAAA:
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
		default:
			if err := l.p.SkipAnswer(); err != nil {
				return false
			}
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

// teach hands each address answer to the table under the asked name when
// its owner is on the chain, else under its own owner name.
func (l *Learner) teach(ts time.Time) {
	for _, a := range l.addrs {
		if a.addr.IsUnspecified() {
			l.c.unspecified.Add(1)
			continue
		}
		s := a.owner
		if l.inChain(s) {
			s = l.question
		}
		name := l.name(s)
		if len(name) == 0 {
			l.c.noName.Add(1)
			continue
		}
		l.c.addresses.Add(1)
		ttl := time.Duration(a.ttl) * time.Second
		if l.table.refresh(a.addr, name, SourceDNS, ttl) {
			l.c.known.Add(1)
			continue
		}
		if l.lastName != string(name) {
			l.lastName = string(name)
		}
		l.table.Learn(Record{TS: ts, Addr: a.addr, Domain: l.lastName, Source: SourceDNS}, ttl)
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
