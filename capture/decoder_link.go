// The link layers a Decoder takes and how it finds the IP packet inside them.

package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket/layers"
)

// link is how the first header of a frame is found for a link type.
type link uint8

const (
	// The links before linkRawIP index Decoder.parsers: a
	// DecodingLayerParser starts there.
	linkEthernet link = iota
	linkDot1Q
	linkSLL
	linkSLL2
	linkLoopback
	linkIPv4
	linkIPv6
	// The others are resolved by hand to linkIPv4 or linkIPv6 first.
	linkRawIP
	linkPPP
)

const numParsers = int(linkRawIP)

// minLinkLen is the length of the link header a frame starts with.
func minLinkLen(lk link) int {
	switch lk {
	case linkEthernet:
		return 14
	case linkSLL:
		return 16
	case linkSLL2:
		return 20
	case linkLoopback:
		return 4
	}
	return 0
}

// linkFor maps a link type to the first header of its frames.
func linkFor(lt layers.LinkType) (link, error) {
	switch lt {
	case layers.LinkTypeEthernet:
		return linkEthernet, nil
	case layers.LinkTypeLinuxSLL:
		return linkSLL, nil
	case layers.LinkTypeLinuxSLL2:
		return linkSLL2, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return linkLoopback, nil
	// DLT_RAW is 12 on most systems and 14 on OpenBSD; libpcap reports
	// LINKTYPE_RAW (101) files as one of those, or as 101.
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return linkRawIP, nil
	case layers.LinkTypePPP:
		return linkPPP, nil
	}
	return 0, fmt.Errorf("%w %d (%s): netmon reads Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD loopback and PPP",
		ErrUnsupportedLink, int(lt), lt)
}

// sourceMAC notes the link-layer source of the frame whose first layers
// were just decoded from link lk. Later steps (VLAN tags, PPPoE) decode no
// further link addresses, and the Ethernet layer keeps what it holds.
func (d *Decoder) sourceMAC(lk link) {
	if len(d.decoded) == 0 {
		return
	}
	switch {
	case lk == linkEthernet && d.decoded[0] == layers.LayerTypeEthernet && len(d.eth.SrcMAC) == 6:
		d.mac = [6]byte(d.eth.SrcMAC)
	case lk == linkSLL && d.decoded[0] == layers.LayerTypeLinuxSLL && len(d.sll.Addr) == 6:
		d.mac = [6]byte(d.sll.Addr)
	case lk == linkSLL2 && d.decoded[0] == layers.LayerTypeLinuxSLL2 && len(d.sll2.Addr) == 6:
		d.mac = [6]byte(d.sll2.Addr)
	}
}

// rawIP picks IPv4 or IPv6 from the version nibble, for link types that
// start with the IP header.
func (d *Decoder) rawIP(data []byte) (link, bool) {
	if len(data) == 0 {
		d.stats.truncated.Add(1)
		return 0, false
	}
	switch data[0] >> 4 {
	case 4:
		return linkIPv4, true
	case 6:
		return linkIPv6, true
	}
	d.stats.notIP.Add(1)
	return 0, false
}

// pppoe opens a PPPoE session header (RFC 2516) and the PPP protocol
// field after it. gopacket's PPPoE and PPP layers cannot be used by a
// DecodingLayerParser, and eight bytes are quickly read by hand.
func (d *Decoder) pppoe(b []byte) (link, []byte, bool) {
	if len(b) < 8 {
		d.stats.truncated.Add(1)
		return 0, nil, false
	}
	if b[0] != 0x11 || b[1] != 0x00 { // version 1, type 1, code "session data"
		d.stats.malformed.Add(1)
		return 0, nil, false
	}
	ppp := b[6:]
	if n := int(binary.BigEndian.Uint16(b[4:6])); n < len(ppp) {
		ppp = ppp[:n] // drop the Ethernet padding
	}
	return d.ppp(ppp)
}

// ppp opens a PPP header (RFC 1661): an optional HDLC address and control
// (0xff 0x03), then the protocol, one byte when compressed.
func (d *Decoder) ppp(b []byte) (link, []byte, bool) {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) < 1 {
		d.stats.truncated.Add(1)
		return 0, nil, false
	}
	proto := uint16(b[0])
	if proto&1 == 0 { // not compressed: two bytes
		if len(b) < 2 {
			d.stats.truncated.Add(1)
			return 0, nil, false
		}
		proto = binary.BigEndian.Uint16(b)
		b = b[2:]
	} else {
		b = b[1:]
	}
	switch proto {
	case 0x0021:
		return linkIPv4, b, true
	case 0x0057:
		return linkIPv6, b, true
	}
	d.stats.notIP.Add(1) // LCP, IPCP, CHAP...
	return 0, nil, false
}

// linkPayload returns the protocol the last decoded link layer announces
// and the bytes after it.
func (d *Decoder) linkPayload() (layers.EthernetType, []byte, bool) {
	if len(d.decoded) == 0 {
		return 0, nil, false
	}
	switch d.decoded[len(d.decoded)-1] {
	case layers.LayerTypeEthernet:
		return d.eth.EthernetType, d.eth.Payload, true
	case layers.LayerTypeDot1Q:
		return d.dot1q.Type, d.dot1q.Payload, true
	case layers.LayerTypeLinuxSLL:
		return d.sll.EthernetType, d.sll.Payload, true
	case layers.LayerTypeLinuxSLL2:
		return d.sll2.ProtocolType, d.sll2.Payload, true
	case layers.LayerTypeLoopback:
		switch d.loop.Family.LayerType() {
		case layers.LayerTypeIPv4:
			return layers.EthernetTypeIPv4, d.loop.Payload, true
		case layers.LayerTypeIPv6:
			return layers.EthernetTypeIPv6, d.loop.Payload, true
		}
	}
	return 0, nil, false
}
