package capturetest

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Frame is one packet for PcapNG: its raw 64-bit timestamp in nanoseconds
// (pcapng's times reach past what int64 nanoseconds hold), its captured
// bytes and its length on the wire (0: len(Data)).
type Frame struct {
	Ticks   uint64
	Data    []byte
	OrigLen int
}

// PcapNG writes frames as a pcapng file: a section header, one interface of
// link type lt with nanosecond timestamps and, when offset is not 0, an
// if_tsoffset of that many seconds, and an enhanced packet block per frame.
func PcapNG(lt layers.LinkType, offset int64, frames ...Frame) []byte {
	le := binary.LittleEndian
	block := func(b []byte, typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, n)
		b = append(b, body...)
		return le.AppendUint32(b, n)
	}
	shb := le.AppendUint32(nil, 0x1a2b3c4d)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0)) // section length unknown
	b := block(nil, 0x0a0d0d0a, shb)
	idb := le.AppendUint16(nil, uint16(lt))
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 65535)
	idb = le.AppendUint16(idb, 9) // if_tsresol: 10^-9
	idb = le.AppendUint16(idb, 1)
	idb = append(idb, 9, 0, 0, 0)
	if offset != 0 {
		idb = le.AppendUint16(idb, 14) // if_tsoffset, seconds
		idb = le.AppendUint16(idb, 8)
		idb = le.AppendUint64(idb, uint64(offset))
	}
	idb = le.AppendUint32(idb, 0) // opt_endofopt
	b = block(b, 1, idb)
	for _, f := range frames {
		orig := f.OrigLen
		if orig == 0 {
			orig = len(f.Data)
		}
		epb := le.AppendUint32(nil, 0)
		epb = le.AppendUint32(epb, uint32(f.Ticks>>32))
		epb = le.AppendUint32(epb, uint32(f.Ticks))
		epb = le.AppendUint32(epb, uint32(len(f.Data)))
		epb = le.AppendUint32(epb, uint32(orig))
		epb = append(epb, f.Data...)
		b = block(b, 6, epb)
	}
	return b
}
