package capture

import "hash/maphash"

// The first bytes a client sends on a connection name its server: the TLS
// ClientHello's server_name, the HTTP request's Host, the QUIC Initial's
// SNI. The resolver reads them, so the Decoder must copy them; copying every
// payload of ports 80 and 443 would cost a copy per packet of every upload
// for nothing. flowStarts is the small table that limits the copies to the
// first FlowStartBytes bytes a client sends on each TCP connection. UDP
// needs no table: only datagrams that start with a QUIC long header (or a
// gQUIC header with its version) can carry an Initial.

// Defaults for the DecoderConfig fields of the same names.
const (
	DefaultFlowStartBytes = 16 << 10
	DefaultMaxFlowStarts  = 16384
)

// flowStartIdle is how long, in packet time, a watched connection may send
// nothing before its entry is dropped: its first bytes are long gone, and
// a lost FIN must not pin the entry.
const flowStartIdle int64 = 120e9

// startKey is one client → server direction of a TCP connection.
type startKey struct {
	src, dst     [16]byte
	sport, dport uint16
}

type flowStart struct {
	next  uint32 // sequence number of the stream's first byte
	last  int64  // packet time of the last segment, Unix nanoseconds
	syn   bool   // next came from the SYN, so it cannot move back
	first bool   // the first byte was seen and looked like TLS or HTTP
	done  bool   // past FlowStartBytes, or not TLS or HTTP: copy nothing more
}

// flowStarts tracks the TCP connections whose first client bytes are being
// copied. It is used by the Decoder's goroutine only.
//
// The table is keyed by a 64-bit hash of the connection's startKey, seeded
// per process: a slot takes 24 bytes instead of 56, 0.5 MiB instead of
// 1.3 at the default 16,384 connections. Two connections that shared a
// hash would share an entry and one might lose its name; among 16,384
// connections that happens with a chance of about 1 in 10^11, and nobody
// outside can aim for it without the seed.
type flowStarts struct {
	limit     uint32 // FlowStartBytes
	max       int    // MaxFlowStarts
	m         map[uint64]flowStart
	seed      maphash.Seed
	lastSweep int64
	// lastDone is the last connection looked up, when it copies nothing
	// any more: the segments of an upload come in a row, and comparing a
	// key costs less than a map lookup.
	lastDone    startKey
	hasLastDone bool
	// scratch of evict
	scratch, scratch2 []uint64
}

func newFlowStarts(limit, max int) *flowStarts {
	return &flowStarts{limit: uint32(limit), max: max, m: make(map[uint64]flowStart), seed: maphash.MakeSeed()}
}

// key is the table's key for one direction of a connection.
func (fs *flowStarts) key(k startKey) uint64 { return maphash.Comparable(fs.seed, k) }

// namePort reports whether port is one of DecoderConfig.NamePorts.
func (d *Decoder) namePort(port uint16) bool {
	return d.nameBits[port/64]&(1<<(port%64)) != 0
}

// keepStart reports whether the payload of p, a TCP segment or UDP
// datagram that no KeepPayloadPorts rule kept, belongs to the first bytes
// of its flow and must be copied for the name parsers.
func (d *Decoder) keepStart(p *Packet, payload []byte) bool {
	if p.Proto == ProtoUDP {
		return len(payload) > 0 && d.namePort(p.DstPort) && !d.namePort(p.SrcPort) && quicLongHeader(payload)
	}
	fs := d.starts
	if fs == nil || d.keeps(p.SrcPort) || d.keeps(p.DstPort) {
		return false // DNS over TCP has its own rule
	}
	// A segment from a server port goes to a client: the common case of a
	// download costs one bit test and no lookup.
	if d.namePort(p.SrcPort) && !d.namePort(p.DstPort) {
		return false
	}
	syn := p.TCPFlags&0x12 == 0x02 // a SYN without ACK opens a connection
	end := p.TCPFlags&0x05 != 0    // FIN or RST: the client is done sending
	if len(payload) == 0 && !syn && !end {
		return false // a bare ACK: nothing to copy and nothing to learn
	}
	ts := p.TS.UnixNano()
	fs.sweep(ts)
	sk := startKey{src: p.Src.As16(), dst: p.Dst.As16(), sport: p.SrcPort, dport: p.DstPort}
	if fs.hasLastDone && !syn && !end && sk == fs.lastDone {
		return false
	}
	k := fs.key(sk)
	e, ok := fs.m[k]
	seq := p.Seq
	if syn {
		seq++ // the SYN takes one sequence number; data in it (TCP Fast Open) follows
	}
	switch {
	case syn && (!ok || !e.syn || e.next != seq):
		// A new connection, or the same ports reused: start afresh.
		e, ok = flowStart{next: seq, syn: true}, false
	case !ok && (len(payload) == 0 || !d.namePort(p.DstPort)):
		// Mid-stream on a port not known for names, or a FIN of a
		// connection never watched: nothing to start.
		return false
	case !ok:
		// The SYN was missed (the capture started late, or the entry was
		// evicted): watch from this segment on.
		e = flowStart{next: seq}
	}
	if !ok {
		if len(fs.m) >= fs.max {
			fs.evict(d, ts)
		}
		d.stats.nameFlows.Add(1)
	}
	before := e
	if ts-e.last > int64(1e9) {
		// The idle sweep needs the time only roughly: refreshing it once a
		// second spares most segments of an upload a map write.
		e.last = ts
	}
	keep := false
	if len(payload) > 0 && !e.done {
		off := int32(seq - e.next)
		if off < 0 && !e.syn && uint32(-off) < fs.limit {
			// An earlier segment arrived after a later one and no SYN
			// fixed the start: the stream begins here after all.
			e.next, e.first, off = seq, false, 0
		}
		switch {
		case off < 0:
			// A retransmission of bytes before the stream's start (the
			// SYN's data, say) holds nothing new.
		case uint32(off) >= fs.limit:
			e.done = true
		case off == 0 && !e.first:
			// The first byte says what follows: a TLS handshake record or
			// an HTTP method. Anything else (mid-stream bytes, another
			// protocol on the port) has no name to give.
			if c := payload[0]; c == 0x16 || ('A' <= c && c <= 'Z') {
				e.first, keep = true, true
			} else {
				e.done = true
			}
		default:
			keep = true
		}
	}
	switch {
	case end:
		delete(fs.m, k)
	case !ok || e != before:
		fs.m[k] = e
	}
	fs.lastDone, fs.hasLastDone = sk, e.done && !end
	return keep
}

// quicLongHeader reports whether a UDP payload may be a QUIC Initial: an
// IETF long header (RFC 8999: first bit set), or a gQUIC public header
// with the version flag and an 8-byte connection ID before a "Q0xx"
// version (Q043 and older carry the CHLO in the clear).
func quicLongHeader(b []byte) bool {
	if b[0]&0x80 != 0 {
		return true
	}
	return len(b) > 13 && b[0]&0x09 == 0x09 && b[9] == 'Q'
}

// sweep drops idle entries, at most twice per flowStartIdle of packet time
// so that the scan stays off the per-packet path.
func (fs *flowStarts) sweep(now int64) {
	if now-fs.lastSweep < flowStartIdle/2 {
		return
	}
	fs.lastSweep = now
	fs.hasLastDone = false
	for k, e := range fs.m {
		if now-e.last > flowStartIdle {
			delete(fs.m, k)
		}
	}
}

// evict makes room at MaxFlowStarts, in tiers: first entries that copy
// nothing any more (or are idle), then connections whose first bytes have
// not begun (a SYN, and nothing yet: a flood of new connections is that),
// and only then connections in the middle of their first bytes, whose
// name would be lost. Map order is random, so each tier loses a random
// sample; one walk of the table serves max/64 evictions.
func (fs *flowStarts) evict(d *Decoder, now int64) {
	fs.hasLastDone = false
	want := max(1, fs.max/64)
	n := 0
	fresh, started := fs.scratch[:0], fs.scratch2[:0]
	for k, e := range fs.m {
		switch {
		case e.done || now-e.last > flowStartIdle:
			delete(fs.m, k)
			if n++; n == want {
				return
			}
		case !e.first:
			if len(fresh) < want {
				fresh = append(fresh, k)
			}
		case len(started) < want:
			started = append(started, k)
		}
	}
	for _, k := range fresh {
		if n == want {
			break
		}
		delete(fs.m, k)
		d.stats.nameFlowsEvicted.Add(1)
		n++
	}
	for _, k := range started {
		if n == want {
			break
		}
		delete(fs.m, k)
		d.stats.nameFlowsEvicted.Add(1)
		d.stats.nameFlowsStartedEvicted.Add(1)
		n++
	}
	fs.scratch, fs.scratch2 = fresh[:0], started[:0]
}
