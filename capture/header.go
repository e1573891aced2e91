package capture

import "encoding/binary"

// ClassicHeader reports whether head, the first bytes of a regular file,
// is the header of a classic pcap file that OpenFile takes without an
// error (a known magic, version 2.4). A caller that has read those bytes
// anyway (a replay hashing each file) need not open the file to check it;
// for anything else OpenFile gives the verdict, and its error.
func ClassicHeader(head []byte) bool {
	if len(head) < 24 {
		return false
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(head[:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return false
	}
	return order.Uint16(head[4:6]) == 2 && order.Uint16(head[6:8]) == 4
}
