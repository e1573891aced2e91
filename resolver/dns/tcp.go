package dns

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/netmon/netmon/capture"
)

// TCP flag bits as capture.Packet carries them.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// maxHeldSegments bounds the out-of-order segments kept per stream; past it
// the gap is taken as lost for good.
const maxHeldSegments = 16

// flowKey names one server → client direction; only responses are read.
type flowKey struct {
	src, dst     netip.Addr
	sport, dport uint16
}

// tcpFlow reassembles the server's side of one DNS-over-TCP connection:
// RFC 1035 §4.2.2 messages, each behind a two-byte length, packed into
// segments however the sender liked.
type tcpFlow struct {
	next   uint32 // sequence number of the next byte wanted
	isn    uint32 // sequence number of the first data byte, when the SYN was seen
	synced bool   // the SYN was seen
	buf    []byte // in-order bytes not yet making a whole message
	held   []heldSegment
	hbyte  int   // bytes in held
	last   int64 // packet time of the last segment, Unix nanoseconds
}

type heldSegment struct {
	seq  uint32
	data []byte
}

// segment feeds one TCP packet from port 53 into its stream.
func (rd *Reader) segment(p *capture.Packet) {
	ts := p.TS.UnixNano()
	rd.sweep(ts)
	k := flowKey{src: p.Src, dst: p.Dst, sport: p.SrcPort, dport: p.DstPort}
	f := rd.flows[k]
	seq := p.Seq
	syn := p.TCPFlags&tcpSYN != 0
	if syn {
		seq++ // the SYN takes one sequence number before any data
		if f != nil && (!f.synced || f.isn != seq) {
			// A new connection on the same ports, or the handshake of
			// one picked up mid-stream: what was buffered is stale.
			f.buf, f.held, f.hbyte, f.next = f.buf[:0], nil, 0, seq
		}
	}
	if f == nil {
		if len(p.Payload) == 0 && !syn {
			return // a bare ACK or FIN of a stream we never saw: nothing to keep
		}
		if len(rd.flows) >= rd.cfg.TCPFlows {
			rd.evictOldest()
		}
		// Without the handshake the stream is picked up here and this
		// segment is hoped to start a message; if not, parsing fails and
		// says so in the counters.
		f = &tcpFlow{next: seq}
		rd.flows[k] = f
	}
	if syn {
		f.synced, f.isn = true, seq
	}
	f.last = ts
	if len(p.Payload) > 0 {
		rd.accept(f, seq, p.Payload)
		rd.messages(f, p)
	}
	if f.hbyte+len(f.buf) > rd.cfg.TCPFlowBytes {
		rd.c.tcpOverfl.Add(1)
		delete(rd.flows, k)
		return
	}
	if p.TCPFlags&(tcpFIN|tcpRST) != 0 {
		delete(rd.flows, k)
	}
}

// accept places data at seq in the stream: appended when it is next,
// trimmed when it repeats bytes already seen, held when it is early.
func (rd *Reader) accept(f *tcpFlow, seq uint32, data []byte) {
	d := int32(seq - f.next)
	switch {
	case d > 0:
		rd.hold(f, seq, data)
		return
	case d < 0:
		if int(-d) >= len(data) {
			rd.c.tcpRetrans.Add(1)
			return
		}
		data = data[-d:]
	}
	f.buf = append(f.buf, data...)
	f.next += uint32(len(data))
	rd.release(f)
}

// hold keeps an early segment until the bytes before it arrive. When too
// much waits, the gap is given up: the partial message is dropped and the
// stream restarts at the earliest held segment.
func (rd *Reader) hold(f *tcpFlow, seq uint32, data []byte) {
	for _, h := range f.held {
		if h.seq == seq && len(h.data) >= len(data) {
			rd.c.tcpRetrans.Add(1)
			return
		}
	}
	rd.c.tcpOOO.Add(1)
	f.held = append(f.held, heldSegment{seq: seq, data: slices.Clone(data)})
	f.hbyte += len(data)
	slices.SortFunc(f.held, func(a, b heldSegment) int { return int(int32(a.seq - b.seq)) })
	if len(f.held) <= maxHeldSegments && f.hbyte+len(f.buf) <= rd.cfg.TCPFlowBytes {
		return
	}
	rd.c.tcpGaps.Add(1)
	f.buf = f.buf[:0]
	f.next = f.held[0].seq
	rd.release(f)
}

// release moves held segments that now follow the stream's end into it.
func (rd *Reader) release(f *tcpFlow) {
	for len(f.held) > 0 {
		h := f.held[0]
		d := int32(h.seq - f.next)
		if d > 0 {
			return
		}
		f.held = f.held[1:]
		f.hbyte -= len(h.data)
		if int(-d) < len(h.data) {
			f.buf = append(f.buf, h.data[-d:]...)
			f.next += uint32(len(h.data) + int(d))
		}
	}
	f.held = nil // let the emptied backing array go
}

// messages parses every whole message at the front of the stream.
func (rd *Reader) messages(f *tcpFlow, p *capture.Packet) {
	b := f.buf
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			break
		}
		rd.message(b[2:2+n], p.TS, p.Dst)
		b = b[2+n:]
	}
	f.buf = f.buf[:copy(f.buf, b)]
	if len(f.buf) == 0 && cap(f.buf) > 4096 {
		f.buf = nil // one large answer should not pin 64 KiB for the stream's life
	}
}

// sweep drops streams idle for longer than TCPIdle, at most twice per
// TCPIdle of packet time so that the scan stays off the per-packet path.
func (rd *Reader) sweep(now int64) {
	idle := int64(rd.cfg.TCPIdle)
	if now-rd.lastSweep < idle/2 {
		return
	}
	rd.lastSweep = now
	for k, f := range rd.flows {
		if now-f.last > idle {
			delete(rd.flows, k)
			rd.c.tcpIdle.Add(1)
		}
	}
}

func (rd *Reader) evictOldest() {
	var (
		oldest flowKey
		t      int64
		found  bool
	)
	for k, f := range rd.flows {
		if !found || f.last < t {
			oldest, t, found = k, f.last, true
		}
	}
	if found {
		delete(rd.flows, oldest)
		rd.c.tcpEvicted.Add(1)
	}
}
