package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pcapReader reads the records of a classic pcap file straight out of one
// large read buffer: a record's bytes are handed out where they lie, not
// copied again (pcapgo copied each record twice more, through its own
// bufio and into its packet buffer), and a whole buffer's records go
// through the filter in one call into libpcap. It takes the same records
// as pcapgo and refuses the same damage with the same words.
type pcapReader struct {
	r      io.Reader
	order  binary.ByteOrder
	factor uint32 // nanoseconds per unit of the fractional timestamp
	snap   uint32
	lt     layers.LinkType

	buf      []byte
	pos, end int // unread bytes are buf[pos:end]
	eof      bool
	err      error // from below, returned once the records before are served

	filter *cFilter // nil: none
	// The records of buf[pos:end] that are parsed but not yet returned:
	// three words each (offset, captured length, wire length) for the
	// filter, their timestamps, and the filter's verdicts.
	recs []uint32
	ts   []time.Time
	keep []uint8
	next int // index of the next parsed record to return
	// records counts the records returned and filtered out.
	records uint64
}

// maxEager is the largest record the reader takes whatever the file's snap
// length says: libpcap's MAXIMUM_SNAPLEN, as pcapgo.
const maxEager = 262144

// batchRecords bounds the records parsed ahead of the reader.
const batchRecords = 512

// newPcapReader reads the file header from r; bufSize is the read size.
func newPcapReader(r io.Reader, bufSize int) (*pcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := &pcapReader{r: r, buf: make([]byte, bufSize)}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
		p.order, p.factor = binary.LittleEndian, 1000
	case 0xd4c3b2a1:
		p.order, p.factor = binary.BigEndian, 1000
	case 0xa1b23c4d:
		p.order, p.factor = binary.LittleEndian, 1
	case 0x4d3cb2a1:
		p.order, p.factor = binary.BigEndian, 1
	default:
		return nil, fmt.Errorf("Unknown magic %x", binary.LittleEndian.Uint32(h[:4]))
	}
	if v := p.order.Uint16(h[4:6]); v != 2 {
		return nil, fmt.Errorf("Unknown major version %d", v)
	}
	if v := p.order.Uint16(h[6:8]); v != 4 {
		return nil, fmt.Errorf("Unknown minor version %d", v)
	}
	p.snap = p.order.Uint32(h[16:20])
	p.lt = layers.LinkType(p.order.Uint32(h[20:24]))
	p.recs = make([]uint32, 0, 3*batchRecords)
	p.ts = make([]time.Time, 0, batchRecords)
	p.keep = make([]uint8, batchRecords)
	return p, nil
}

func (p *pcapReader) LinkType() layers.LinkType { return p.lt }
func (p *pcapReader) Snaplen() uint32           { return p.snap }

func (p *pcapReader) maxCapture() int {
	return int(max(p.snap, maxEager))
}

// ReadPacketData returns the next record the filter keeps. Its bytes are
// valid until the next call.
func (p *pcapReader) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for {
		for p.next < len(p.ts) {
			i := p.next
			p.next++
			p.records++
			if p.filter != nil && p.keep[i] == 0 {
				continue
			}
			off, capLen, wire := int(p.recs[3*i]), int(p.recs[3*i+1]), int(p.recs[3*i+2])
			ci := gopacket.CaptureInfo{Timestamp: p.ts[i], CaptureLength: capLen, Length: wire}
			return p.buf[off : off+capLen : off+capLen], ci, nil
		}
		// Every parsed record is served: the bytes behind them may go.
		p.pos = p.skip()
		p.recs, p.ts, p.next = p.recs[:0], p.ts[:0], 0
		if err := p.parse(); err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
	}
}

// skip returns where the records parsed so far end.
func (p *pcapReader) skip() int {
	if n := len(p.ts); n > 0 {
		return int(p.recs[3*n-3] + p.recs[3*n-2])
	}
	return p.pos
}

// parse reads until at least one whole record lies in the buffer and
// parses every whole record there (up to batchRecords), running the
// filter over them. It returns io.EOF at a clean end of the file and the
// error of the first bad record once the records before it are served.
func (p *pcapReader) parse() error {
	if p.err != nil {
		return p.err
	}
	for len(p.ts) == 0 {
		pos := p.pos
		for len(p.ts) < batchRecords && p.end-pos >= 16 {
			h := p.buf[pos : pos+16]
			capLen := p.order.Uint32(h[8:12])
			wire := p.order.Uint32(h[12:16])
			if int64(capLen) > int64(p.maxCapture()) {
				p.err = fmt.Errorf("capture length exceeds snap length: %d > %d", capLen, p.snap)
				break
			}
			if capLen > wire {
				p.err = fmt.Errorf("capture length exceeds original packet length: %d > %d", capLen, wire)
				break
			}
			if p.end-pos-16 < int(capLen) {
				break
			}
			ts := time.Unix(int64(p.order.Uint32(h[0:4])), int64(p.order.Uint32(h[4:8])*p.factor)).UTC()
			p.recs = append(p.recs, uint32(pos+16), capLen, wire)
			p.ts = append(p.ts, ts)
			pos += 16 + int(capLen)
		}
		if len(p.ts) > 0 {
			if p.filter != nil {
				p.filter.run(p.buf, p.recs, p.keep)
			}
			return nil
		}
		if p.err != nil {
			return p.err
		}
		if err := p.fill(); err != nil {
			p.err = err
			return err
		}
	}
	return nil
}

// fill reads more of the file behind the unread bytes, moving them to the
// front first, and growing the buffer (by doubling, as bytes arrive, so a
// lying length cannot make it allocate more than the file holds) when one
// record does not fit. At the end of the file it returns io.EOF when no
// byte is left over, io.ErrUnexpectedEOF when a record is cut short.
func (p *pcapReader) fill() error {
	if p.eof {
		if p.end == p.pos {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	if p.pos > 0 {
		p.end = copy(p.buf, p.buf[p.pos:p.end])
		p.pos = 0
	}
	if p.end == len(p.buf) {
		grown := make([]byte, 2*len(p.buf))
		copy(grown, p.buf[:p.end])
		p.buf = grown
	}
	n, err := p.r.Read(p.buf[p.end:])
	p.end += n
	switch {
	case errors.Is(err, io.EOF):
		p.eof = true
	case err != nil:
		return err
	case n == 0:
		return io.ErrNoProgress
	}
	return nil
}
