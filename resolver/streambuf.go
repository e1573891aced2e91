package resolver

import "slices"

// prefix reassembles the first bytes of a stream — a TCP connection's
// client bytes, a QUIC connection's CRYPTO stream — from pieces that may
// repeat, overlap or arrive out of order. buf holds the bytes from offset
// 0 without a gap; pieces beyond a gap wait in held.
type prefix struct {
	buf   []byte
	held  []heldSegment // seq is the piece's offset; sorted
	hbyte int
}

// add places data at off, keeping at most limit bytes of the stream. It
// reports false when too many pieces wait behind a gap: the gap is taken
// as lost for good.
func (p *prefix) add(off int, data []byte, limit int) bool {
	if off < 0 {
		if -off >= len(data) {
			return true
		}
		data, off = data[-off:], 0
	}
	if off >= limit {
		return true
	}
	if off+len(data) > limit {
		data = data[:limit-off]
	}
	if off > len(p.buf) {
		for _, h := range p.held {
			if int(h.seq) == off && len(h.data) >= len(data) {
				return true // a retransmission of a piece already held
			}
		}
		p.held = append(p.held, heldSegment{seq: uint32(off), data: slices.Clone(data)})
		p.hbyte += len(data)
		slices.SortFunc(p.held, func(a, b heldSegment) int { return int(a.seq) - int(b.seq) })
		return len(p.held) <= maxHeldSegments && p.hbyte <= limit
	}
	if end := off + len(data); end > len(p.buf) {
		p.buf = append(p.buf, data[len(p.buf)-off:]...)
	}
	for len(p.held) > 0 && int(p.held[0].seq) <= len(p.buf) {
		h := p.held[0]
		p.held = p.held[1:]
		p.hbyte -= len(h.data)
		if end := int(h.seq) + len(h.data); end > len(p.buf) {
			p.buf = append(p.buf, h.data[len(p.buf)-int(h.seq):]...)
		}
	}
	if len(p.held) == 0 {
		p.held = nil
	}
	return true
}

// full reports whether the prefix holds limit bytes: more cannot come.
func (p *prefix) full(limit int) bool { return len(p.buf) >= limit }

// shift moves the stream's start back by n bytes: the bytes held so far
// begin n bytes later than was thought. Used when a TCP segment before the
// first one seen arrives late and no SYN fixed the start.
func (p *prefix) shift(n int) {
	if len(p.buf) > 0 {
		p.held = append(p.held, heldSegment{data: p.buf})
		p.hbyte += len(p.buf)
		p.buf = nil
	}
	for i := range p.held {
		p.held[i].seq += uint32(n)
	}
	slices.SortFunc(p.held, func(a, b heldSegment) int { return int(a.seq) - int(b.seq) })
}
