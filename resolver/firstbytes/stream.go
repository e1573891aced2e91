package firstbytes

import "slices"

// Stream reassembles the first bytes of a stream — a TCP connection's
// client bytes, a QUIC connection's CRYPTO stream — from pieces that may
// repeat, overlap or arrive out of order. buf holds the bytes from offset
// 0 without a gap; pieces beyond a gap wait in held.
type Stream struct {
	buf   []byte
	held  []piece // sorted by offset
	hbyte int
}

// piece is a part of the stream that came after a gap.
type piece struct {
	seq  uint32 // offset in the stream
	data []byte
}

// maxHeldSegments bounds the pieces held behind a gap; past it the gap is
// taken as lost for good.
const maxHeldSegments = 16

// Bytes returns the bytes from offset 0 up to the first gap. They alias
// the Stream's buffer.
func (p *Stream) Bytes() []byte { return p.buf }

// Held returns the bytes the Stream holds, before and after gaps.
func (p *Stream) Held() int { return len(p.buf) + p.hbyte }

// Add places data at off, keeping at most limit bytes of the stream. It
// reports false when too many pieces wait behind a gap: the gap is taken
// as lost for good.
func (p *Stream) Add(off int, data []byte, limit int) bool {
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
		p.held = append(p.held, piece{seq: uint32(off), data: slices.Clone(data)})
		p.hbyte += len(data)
		slices.SortFunc(p.held, func(a, b piece) int { return int(a.seq) - int(b.seq) })
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

// Full reports whether the Stream holds limit bytes: more cannot come.
func (p *Stream) Full(limit int) bool { return len(p.buf) >= limit }

// Shift moves the stream's start back by n bytes: the bytes held so far
// begin n bytes later than was thought. Used when a TCP segment before the
// first one seen arrives late and no SYN fixed the start.
func (p *Stream) Shift(n int) {
	if len(p.buf) > 0 {
		p.held = append(p.held, piece{data: p.buf})
		p.hbyte += len(p.buf)
		p.buf = nil
	}
	for i := range p.held {
		p.held[i].seq += uint32(n)
	}
	slices.SortFunc(p.held, func(a, b piece) int { return int(a.seq) - int(b.seq) })
}
