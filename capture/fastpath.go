package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
)

// fast decodes the frames that make nearly all of the traffic: Ethernet,
// at most one 802.1Q tag, IPv4 without options or IPv6 without extension
// headers, not a fragment, then a whole TCP or UDP header, none of it cut
// by the snap length. It reads the headers where they lie, without
// gopacket's layers (their generic decoding was the largest part of a
// frame's cost), and emits exactly the Packet the general path would. For
// any other frame it returns false having changed nothing, and the general
// path decodes it.
func (d *Decoder) fast(data []byte, ci gopacket.CaptureInfo, b *Batch) bool {
	off := 14
	etype := binary.BigEndian.Uint16(data[12:14])
	if etype == 0x8100 {
		if len(data) < 18 {
			return false
		}
		etype, off = binary.BigEndian.Uint16(data[16:18]), 18
	}
	var p Packet
	var proto byte
	var l4 []byte
	switch etype {
	case 0x0800:
		ip := data[off:]
		if len(ip) < 20 || ip[0]&0x0f != 5 {
			return false // cut short, or options: the general path
		}
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if total < 20 || total > len(ip) || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
			return false // cut by the snap length, TSO's zero, or a fragment
		}
		proto = ip[9]
		p.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		l4 = ip[20:total]
	case 0x86dd:
		ip := data[off:]
		if len(ip) < 40 {
			return false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:6]))
		if plen == 0 || 40+plen > len(ip) {
			return false // a jumbogram, or cut by the snap length
		}
		proto = ip[6]
		p.Src = netip.AddrFrom16([16]byte(ip[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40 : 40+plen]
	default:
		return false
	}
	var payload []byte
	switch proto {
	case ProtoTCP:
		if len(l4) < 20 {
			return false
		}
		hl := int(l4[12]>>4) * 4
		if hl < 20 || hl > len(l4) {
			return false
		}
		p.Proto = ProtoTCP
		p.TCPFlags = l4[13] & 0x1f
		p.Seq = binary.BigEndian.Uint32(l4[4:8])
		payload = l4[hl:]
	case ProtoUDP:
		if len(l4) < 8 {
			return false
		}
		switch n := int(binary.BigEndian.Uint16(l4[4:6])); {
		case n == 0: // a jumbogram's: the rest of the datagram
			payload = l4[8:]
		case n >= 8 && n <= len(l4):
			payload = l4[8:n]
		default:
			return false
		}
		p.Proto = ProtoUDP
	default:
		return false
	}
	p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
	p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	p.TS, p.WireLen = ci.Timestamp, wireLen(ci)
	d.mac = [6]byte(data[6:12])
	return d.finishTransport(&p, payload, false, b)
}
