// IP fragments and transport headers: how a Decoder hands fragments to the
// reassembler and reads the transport header of a whole or reassembled packet.

package capture

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fragment4 hands an IPv4 fragment to the reassembler and, when it
// completes a datagram, decodes the datagram's transport header.
func (d *Decoder) fragment4(ci gopacket.CaptureInfo, b *Batch) bool {
	d.reasm.advance(ci.Timestamp)
	d.publishExpired()
	ip, wire, st := d.reasm.ipv4(&d.ip4, ci.Timestamp, int(wireLen(ci)))
	if !d.countFragment(st) {
		return false
	}
	p := Packet{
		TS:      ci.Timestamp,
		WireLen: uint32(min(wire, 1<<32-1)),
		Src:     netip.AddrFrom4([4]byte(ip.SrcIP)),
		Dst:     netip.AddrFrom4([4]byte(ip.DstIP)),
	}
	return d.transportFrom(&p, ip.Protocol, ip.Payload, false, b)
}

// fragment6 is fragment4 for IPv6.
func (d *Decoder) fragment6(ci gopacket.CaptureInfo, b *Batch) bool {
	d.reasm.advance(ci.Timestamp)
	d.publishExpired()
	ip, wire, st := d.reasm.ipv6(&d.ip6, &d.frag, ci.Timestamp, int(wireLen(ci)))
	if !d.countFragment(st) {
		return false
	}
	p := Packet{
		TS:      ci.Timestamp,
		WireLen: uint32(min(wire, 1<<32-1)),
		Src:     netip.AddrFrom16([16]byte(ip.SrcIP)),
		Dst:     netip.AddrFrom16([16]byte(ip.DstIP)),
	}
	return d.transportFrom(&p, ip.NextHeader, ip.Payload, false, b)
}

// snappedFragment handles a fragment the snap length cut short: it can
// never be reassembled. A first fragment still has the ports and the
// start of the payload (the first records of a DNS answer), so it becomes
// a Packet with a partial payload; a later one is dropped.
func (d *Decoder) snappedFragment(p *Packet, first bool, proto layers.IPProtocol, payload []byte, b *Batch) bool {
	if !first {
		d.stats.fragDropped.Add(1)
		return false
	}
	return d.transportFrom(p, proto, payload, true, b)
}

func (d *Decoder) countFragment(st fragStatus) bool {
	switch st {
	case fragHeld:
		d.stats.fragHeld.Add(1)
		return false
	case fragDropped:
		d.stats.fragDropped.Add(1)
		return false
	}
	d.stats.reassembled.Add(1)
	return true
}

// transportFrom decodes the transport header of a reassembled datagram or
// a first fragment, skipping IPv6 extension headers that were inside the
// fragmentable part.
func (d *Decoder) transportFrom(p *Packet, proto layers.IPProtocol, payload []byte, partial bool, b *Batch) bool {
	for i := 0; i < 8 && (proto == layers.IPProtocolIPv6Destination ||
		proto == layers.IPProtocolIPv6Routing || proto == layers.IPProtocolIPv6HopByHop); i++ {
		if len(payload) < 2 || len(payload) < (int(payload[1])+1)*8 {
			d.stats.malformed.Add(1)
			return false
		}
		proto, payload = layers.IPProtocol(payload[0]), payload[(int(payload[1])+1)*8:]
	}
	var err error
	var t gopacket.LayerType
	switch proto {
	case layers.IPProtocolTCP:
		t, err = layers.LayerTypeTCP, d.tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback)
	case layers.IPProtocolUDP:
		t, err = layers.LayerTypeUDP, d.udp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback)
	default:
		return d.other(p, proto, b)
	}
	switch {
	case err != nil && partial:
		d.stats.truncated.Add(1)
		return false
	case err != nil:
		d.stats.malformed.Add(1)
		return false
	}
	return d.transport(p, t, partial, b)
}

// wireLen is the frame's length on the wire; a file that left it zero
// gets the captured length.
func wireLen(ci gopacket.CaptureInfo) uint32 {
	return uint32(max(ci.Length, ci.CaptureLength, 0))
}
