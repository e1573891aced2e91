package resolver

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/firstbytes"
	"github.com/netmon/netmon/resolver/lru"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// A flow names its server in its first bytes: the SNI of a TLS ClientHello
// or of a QUIC Initial, the Host of an HTTP request. The learner follows
// every TCP and UDP flow from its start, reads those first bytes, and then
// marks every packet of the flow, in both directions, with the name
// (capture.Packet.Name). Packets that come before the name (the TCP
// handshake) carry the flow's id instead (capture.Packet.Flow), and the
// windows count them under whatever name the flow turns out to have.

// flowState is where a flow stands.
type flowState uint8

const (
	flowPending flowState = iota // its name may still come
	flowNamed                    // it has a name of its own
	flowDone                     // it has none; its packets count under the address's name
)

// Limits on waiting for a name. A ClientHello follows the handshake at
// once; a flow that has not named itself after this many packets, or this
// long, never will.
const (
	maxPendingPackets = 64
	maxPendingNanos   = int64(10e9)
	// closedLinger keeps a flow that saw FIN or RST a little longer than
	// the packets that close it need.
	closedLinger = int64(30e9)
)

// dotPort is the port of DNS over TLS (RFC 7858) and over QUIC (RFC 9250).
const dotPort = 853

// nameFlowKey is a TCP or UDP flow in both directions: the lower endpoint
// first.
// The addresses are held as 16 bytes (IPv4 mapped), not as netip.Addr,
// whose zone pointer makes it 24: the key is 40 bytes instead of 56, for
// each of up to Flows entries, and holds no pointer.
type nameFlowKey struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
	v6     bool // a and b are IPv6 addresses, else IPv4
}

func nameKeyOf(p *capture.Packet) nameFlowKey {
	v6 := !p.Src.Is4()
	if c := p.Src.Compare(p.Dst); c < 0 || c == 0 && p.SrcPort <= p.DstPort {
		return nameFlowKey{a: p.Src.As16(), b: p.Dst.As16(), pa: p.SrcPort, pb: p.DstPort, proto: p.Proto, v6: v6}
	}
	return nameFlowKey{a: p.Dst.As16(), b: p.Src.As16(), pa: p.DstPort, pb: p.SrcPort, proto: p.Proto, v6: v6}
}

// addr is one of the key's addresses as a netip.Addr.
func (k *nameFlowKey) addr(a [16]byte) netip.Addr {
	if k.v6 {
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom16(a).Unmap()
}

// lruStep is how stale a flow's place in the LRU list may get before a
// packet moves it to the front: moving on every packet would cost more
// than the list's order is worth, and eviction only needs it roughly.
const lruStep = int64(1e9)

type nameFlow struct {
	key     nameFlowKey
	id      uint32
	base    uint32 // TCP sequence number of the first client byte
	pending uint16 // packets seen while pending
	state   flowState
	clientA bool // the client (the end that opened the flow) is key.a
	closing bool
	synBase bool // base is the SYN's sequence number + 1
	based   bool // base is set
	// prot: the flow is in the protected segment (see flowTable).
	prot    bool
	name    *capture.FlowName
	started int64
	last    int64
	moved   int64       // packet time of the last move to the LRU front
	first   *firstBytes // buffers while the name is awaited, when needed
	lru.Links
}

// fromClient reports whether p goes from the flow's client to its server.
func (f *nameFlow) fromClient(p *capture.Packet) bool {
	if f.clientA {
		return p.SrcPort == f.key.pa && p.Src.As16() == f.key.a
	}
	return p.SrcPort == f.key.pb && p.Src.As16() == f.key.b
}

// server returns the end the flow's client opened it to.
func (f *nameFlow) server() (netip.Addr, uint16) {
	if f.clientA {
		return f.key.addr(f.key.b), f.key.pb
	}
	return f.key.addr(f.key.a), f.key.pa
}

// firstBytes holds what a pending flow has sent so far, when its first
// packet did not hold the whole name.
type firstBytes struct {
	stream firstbytes.Stream // TCP: the client's bytes from the first
	quic   firstbytes.QUICFlow
}

// flowTable is the learner's bounded flow → name table. Entries live in
// one slice, linked by index into one of two least-recently-used lists,
// like a segmented LRU (SLRU, 2Q): every flow starts on probation; a flow
// that has named itself and whose server then answers is promoted to the
// protected list, at most protectedShare of the table; the protected list's least recently used
// flow goes back to probation when it is full. At the cap, the probation
// list's least recently used flow is evicted, a protected one only when
// probation is empty. A flood of new flows — even ones that name
// themselves, but that no server answers — so churns through probation
// and never pushes out the flows that named themselves and were answered.
type flowTable struct {
	index     flowIndex
	entries   []nameFlow
	free      []int32
	lru       lru.List // probation
	prot      lru.List // protected
	nProt     int
	buffering int // flows holding a firstBytes
	nextID    uint32
	lastSweep int64
	// The last flow looked up: packets come in bursts of one flow, and
	// comparing a key costs less than hashing it.
	lastKey nameFlowKey
	lastIdx int32
}

// protectedShare is the part of the flow table the protected list may
// hold, in quarters.
const protectedShare = 3

func newFlowTable() flowTable {
	return flowTable{index: newFlowIndex(), lru: lru.NewList(), prot: lru.NewList()}
}

// flowPacket follows one TCP or UDP packet that is not DNS.
func (l *Learner) flowPacket(p *capture.Packet) {
	ts := p.TS.UnixNano()
	l.sweepFlows(ts)
	ft := &l.ft
	k := nameKeyOf(p)
	i, ok := ft.lastIdx, k == ft.lastKey
	if !ok {
		if i, ok = ft.index.find(k, ft.entries); !ok {
			if i, ok = l.openFlow(k, p, ts); !ok {
				return
			}
		}
		ft.lastKey, ft.lastIdx = k, i
	}
	f := &ft.entries[i]
	if p.Proto == capture.ProtoTCP && p.TCPFlags&(tcpSYN|tcpACK) == tcpSYN && (!f.synBase || f.base != p.Seq+1) {
		// A new connection on the ports of one that ended: it names
		// itself afresh. (A retransmitted SYN keeps its sequence number.)
		l.removeFlow(i)
		if i, ok = l.openFlow(k, p, ts); !ok {
			return
		}
		ft.lastKey, ft.lastIdx = k, i
		f = &ft.entries[i]
	}
	f.last = ts
	if f.state == flowNamed && !f.prot && !f.fromClient(p) {
		// The server answered a flow that named itself: protected.
		f.moved = ts
		l.protect(i)
	} else if ts-f.moved > lruStep {
		f.moved = ts
		ft.toFront(i)
	}
	if p.TCPFlags&(tcpFIN|tcpRST) != 0 {
		f.closing = true
	}
	switch f.state {
	case flowNamed:
		p.Name = f.name
		return
	case flowDone:
		return
	}
	p.Flow = f.id
	f.pending++
	fromClient := f.fromClient(p)
	switch {
	case fromClient && len(p.Payload) > 0:
		l.readFirst(f, p)
	case fromClient && p.Proto == capture.ProtoUDP:
		// The Decoder keeps only long-header datagrams: a client datagram
		// without payload is a short header, so the handshake is over.
		l.unnamed(f, &l.c.flowsUnnamed)
	}
	if f.state == flowPending && (f.pending > maxPendingPackets || ts-f.started > maxPendingNanos) {
		l.unnamed(f, &l.c.flowsUnnamed)
	}
	if f.state == flowNamed {
		p.Name = f.name // p.Flow stays set: it tells the windows which flow was named
	}
}

// openFlow starts following the flow of p when p can start one: a SYN, the
// first bytes the Decoder kept, or anything on the DNS-over-TLS port.
func (l *Learner) openFlow(k nameFlowKey, p *capture.Packet, ts int64) (int32, bool) {
	syn := p.Proto == capture.ProtoTCP && p.TCPFlags&(tcpSYN|tcpACK) == tcpSYN
	dot := p.SrcPort == dotPort || p.DstPort == dotPort
	if !syn && len(p.Payload) == 0 && !dot {
		return 0, false
	}
	ft := &l.ft
	if ft.index.Len() >= l.cfg.Flows {
		victim := ft.lru.Tail
		if victim < 0 {
			victim = ft.prot.Tail
		}
		if victim >= 0 {
			switch v := &ft.entries[victim]; {
			case v.state == flowPending:
				l.c.flowsEvicted.Add(1)
			case v.state == flowNamed && v.prot:
				l.c.flowsProtectedEvicted.Add(1)
			}
			l.removeFlow(victim)
		}
	}
	ft.nextID++
	if ft.nextID == 0 {
		ft.nextID = 1
	}
	f := nameFlow{key: k, id: ft.nextID, started: ts, last: ts, moved: ts, Links: lru.Unlinked}
	fromSrc := syn || !(p.SrcPort < 1024 && p.SrcPort < p.DstPort)
	// Without a SYN, a packet from the well-known port is a server's, of a
	// connection that began before netmon.
	f.clientA = fromSrc == (k.a == p.Src.As16() && k.pa == p.SrcPort)
	if syn {
		f.base, f.based, f.synBase = p.Seq+1, true, true
	}
	var i int32
	if n := len(ft.free); n > 0 {
		i = ft.free[n-1]
		ft.free = ft.free[:n-1]
		ft.entries[i] = f
	} else {
		i = int32(len(ft.entries))
		if i == int32(cap(ft.entries)) {
			// Grow by doubling, but never past the cap: append's growth
			// would leave up to a quarter of the largest slice unused.
			n := min(max(2*cap(ft.entries), 64), max(l.cfg.Flows, len(ft.entries)+1))
			ft.entries = slices.Grow(ft.entries, n-len(ft.entries))
		}
		ft.entries = append(ft.entries, f)
	}
	ft.index.insert(k, i)
	ft.pushFront(i)
	l.c.flows.Add(1)
	if !syn && len(p.Payload) == 0 {
		// Mid-stream on 853: no first bytes will come, but the port
		// says what the flow is.
		l.unnamed(&ft.entries[i], nil)
	}
	return i, true
}

// readFirst reads a client packet's payload as the flow's first bytes.
func (l *Learner) readFirst(f *nameFlow, p *capture.Packet) {
	limit := l.cfg.FlowBytes
	if p.Proto == capture.ProtoUDP {
		if !l.buffer(f) {
			return
		}
		info, st, n := l.quic.Datagram(&f.first.quic, p.Payload, limit)
		l.countQUIC(n)
		l.conclude(f, st, info.SNI, source.QUIC, info.Outer, false)
		return
	}
	seq := p.Seq
	if p.TCPFlags&tcpSYN != 0 {
		seq++ // data in a SYN (TCP Fast Open) follows its sequence number
	}
	if !f.based {
		f.base, f.based = seq, true
	}
	off := int(int32(seq - f.base))
	if off < 0 && !f.synBase && -off < limit {
		// An earlier segment came after a later one, and no SYN fixed
		// where the stream starts: it starts here.
		if f.first != nil {
			f.first.stream.Shift(-off)
		}
		f.base, off = seq, 0
	}
	if f.first == nil && off == 0 {
		// The usual case: the first segment holds the whole ClientHello
		// or request head, read where it lies.
		if st := l.parseFirst(f, p.Payload); st != firstbytes.NeedMore {
			return
		}
	}
	if !l.buffer(f) {
		return
	}
	s := &f.first.stream
	if !s.Add(off, p.Payload, limit) {
		l.unnamed(f, &l.c.flowsUnnamed)
		return
	}
	if len(s.Bytes()) == 0 {
		return // still waiting for the first segment
	}
	if st := l.parseFirst(f, s.Bytes()); st == firstbytes.NeedMore && s.Full(limit) {
		l.unnamed(f, &l.c.flowsUnnamed)
	}
}

// parseFirst parses a client stream's first bytes as TLS or HTTP, and
// concludes the flow unless more bytes are needed.
func (l *Learner) parseFirst(f *nameFlow, b []byte) firstbytes.Status {
	switch c := b[0]; {
	case c == firstbytes.HandshakeRecord:
		info, st := firstbytes.TLS(b, &l.scratch, l.cfg.FlowBytes)
		l.conclude(f, st, info.SNI, source.SNI, info.Outer, false)
		return st
	case 'A' <= c && c <= 'Z':
		req, st := firstbytes.HTTP(b)
		l.conclude(f, st, req.Host, source.HTTP, false, req.Proxied)
		return st
	}
	l.unnamed(f, &l.c.flowsUnnamed)
	return firstbytes.NoName
}

// countQUIC adds what a QUIC datagram's packets were to the counters.
func (l *Learner) countQUIC(n firstbytes.QUICCounts) {
	if n.Initials > 0 {
		l.c.quicInitials.Add(uint64(n.Initials))
	}
	if n.Undecryptable > 0 {
		l.c.quicUndecryptable.Add(uint64(n.Undecryptable))
	}
	if n.Skipped > 0 {
		l.c.quicSkipped.Add(uint64(n.Skipped))
	}
	if n.UnknownVersion > 0 {
		l.c.quicUnknownVersion.Add(uint64(n.UnknownVersion))
	}
}

// buffer gives f room to keep its first bytes, within FlowBuffers.
func (l *Learner) buffer(f *nameFlow) bool {
	if f.first != nil {
		return true
	}
	if l.ft.buffering >= l.cfg.FlowBuffers {
		l.unnamed(f, &l.c.flowBuffersFull)
		return false
	}
	l.ft.buffering++
	f.first = &firstBytes{}
	return true
}

func (l *Learner) releaseBuf(f *nameFlow) {
	if f.first != nil {
		f.first = nil
		l.ft.buffering--
	}
}

// conclude settles a pending flow after a parser's verdict.
func (l *Learner) conclude(f *nameFlow, st firstbytes.Status, raw []byte, src source.Source, outer, proxied bool) {
	switch st {
	case firstbytes.NeedMore:
		return
	case firstbytes.NoName:
		l.unnamed(f, &l.c.flowsUnnamed)
		return
	}
	name, ok := firstbytes.HostName(l.nameBuf[:0], raw)
	l.nameBuf = name
	if !ok {
		l.unnamed(f, &l.c.flowLiterals)
		return
	}
	f.name = l.intern.get(name, nameVariant{src: src, nick: dnsNick(f), outer: outer})
	f.state = flowNamed
	l.releaseBuf(f)
	switch src {
	case source.SNI:
		l.c.namesSNI.Add(1)
	case source.HTTP:
		l.c.namesHTTP.Add(1)
	case source.QUIC:
		l.c.namesQUIC.Add(1)
	}
	if outer {
		l.c.namesOuter.Add(1)
	}
	if proxied {
		// The server is a proxy: the name is the flow's, not the address's.
		l.c.namesProxied.Add(1)
		return
	}
	server, _ := f.server()
	l.table.Learn(source.Record{TS: time.Unix(0, f.last).UTC(), Addr: server, Domain: f.name.Domain, Source: src}, 0)
}

// unnamed settles a flow without a name of its own, counting it under
// reason. On the DNS-over-TLS port the flow still gets a nickname, and the
// address's name.
func (l *Learner) unnamed(f *nameFlow, reason *atomic.Uint64) {
	if f.state != flowPending {
		return
	}
	l.releaseBuf(f)
	if reason != nil {
		reason.Add(1)
	}
	if nick := dnsNick(f); nick != "" {
		f.name = l.intern.get(nil, nameVariant{nick: nick})
		f.state = flowNamed
		return
	}
	f.state = flowDone
}

// dnsNick is the nickname a flow has by its port alone.
func dnsNick(f *nameFlow) string {
	if _, port := f.server(); port != dotPort {
		return ""
	}
	if f.key.proto == capture.ProtoUDP {
		return nickname.DoQ
	}
	return nickname.DoT
}

// sweepFlows drops flows idle longer than FlowIdle (closed ones after
// closedLinger), at most twice per closedLinger of packet time.
func (l *Learner) sweepFlows(now int64) {
	ft := &l.ft
	if now-ft.lastSweep < closedLinger/2 {
		return
	}
	ft.lastSweep = now
	idle := int64(l.cfg.FlowIdle)
	// Walk from the least recently used end: entries are in order of
	// their last packet (give or take lruStep), so the walk stops at the
	// first recent one.
	for _, list := range []*lru.List{&ft.lru, &ft.prot} {
	walk:
		for i := list.Tail; i >= 0; {
			f := &ft.entries[i]
			prev := f.Prev
			quiet := now - f.last
			switch {
			case quiet > idle || (f.closing && quiet > closedLinger):
				l.c.flowsExpired.Add(1)
				l.removeFlow(i)
			case quiet <= closedLinger:
				break walk
			}
			i = prev
		}
	}
}

// protect moves flow i, which named itself and was answered, from
// probation to the front of the protected list; when that is full, its
// least recently used flow goes back to probation.
func (l *Learner) protect(i int32) {
	ft := &l.ft
	ft.unlink(i)
	ft.entries[i].prot = true
	lru.PushFront(&ft.prot, ft.entries, i)
	ft.nProt++
	l.c.flowsProtected.Add(1)
	if limit := l.cfg.Flows * protectedShare / 4; ft.nProt > limit && ft.prot.Tail >= 0 {
		j := ft.prot.Tail
		ft.unlink(j)
		lru.PushFront(&ft.lru, ft.entries, j)
	}
}

func (l *Learner) removeFlow(i int32) {
	ft := &l.ft
	f := &ft.entries[i]
	l.releaseBuf(f)
	ft.unlink(i)
	ft.index.remove(f.key, i)
	if ft.lastIdx == i {
		ft.lastKey = nameFlowKey{}
	}
	*f = nameFlow{}
	ft.free = append(ft.free, i)
}

// list is the list flow i is in.
func (ft *flowTable) list(i int32) *lru.List {
	if ft.entries[i].prot {
		return &ft.prot
	}
	return &ft.lru
}

// unlink takes flow i out of its list; it is on probation afterwards.
func (ft *flowTable) unlink(i int32) {
	lru.Unlink(ft.list(i), ft.entries, i)
	if ft.entries[i].prot {
		ft.entries[i].prot = false
		ft.nProt--
	}
}

// pushFront puts a new flow at the front of probation.
func (ft *flowTable) pushFront(i int32) { lru.PushFront(&ft.lru, ft.entries, i) }
func (ft *flowTable) toFront(i int32)   { lru.ToFront(ft.list(i), ft.entries, i) }
