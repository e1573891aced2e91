package devices

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxName caps a host name taken from the wire, in bytes: a DNS name holds
// at most 255, and nothing a device announces deserves more.
const maxName = 255

// dhcpInfo is what a DHCPv4 message says about the client it is about.
type dhcpInfo struct {
	mac  [6]byte    // chaddr: the client, even when a relay sent the frame
	name string     // option 12, else option 81; "" when neither
	addr netip.Addr // the client's address: ciaddr or option 50 (request), yiaddr (ACK)
}

// dhcpOptClientFQDN is option 81 (RFC 4702), which gopacket does not name.
const dhcpOptClientFQDN layers.DHCPOpt = 81

// DHCP message types (option 53) that say something about the client.
const (
	dhcpDiscover = 1
	dhcpRequest  = 3
	dhcpACK      = 5
	dhcpInform   = 8
)

// parseDHCP reads a DHCPv4 message. Names come only from the client's own
// messages (DISCOVER, REQUEST, INFORM): what a server echoes back is the
// server's idea. An address comes from ciaddr or the requested address
// (option 50) of a REQUEST, and from yiaddr of an ACK; an OFFER is only a
// proposal. ok is false when the message is not DHCP about an Ethernet
// client.
func parseDHCP(d *layers.DHCPv4, payload []byte) (info dhcpInfo, ok bool) {
	if err := d.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		return info, false
	}
	if d.HardwareType != layers.LinkTypeEthernet || d.HardwareLen != 6 || len(d.ClientHWAddr) != 6 {
		return info, false
	}
	info.mac = [6]byte(d.ClientHWAddr)
	var msgType byte
	var host, fqdn []byte
	var requested netip.Addr
	for _, o := range d.Options {
		switch o.Type {
		case layers.DHCPOptMessageType:
			if len(o.Data) == 1 {
				msgType = o.Data[0]
			}
		case layers.DHCPOptHostname:
			host = o.Data
		case dhcpOptClientFQDN:
			fqdn = o.Data
		case layers.DHCPOptRequestIP:
			if len(o.Data) == 4 {
				requested = netip.AddrFrom4([4]byte(o.Data))
			}
		}
	}
	switch d.Operation {
	case layers.DHCPOpRequest:
		if msgType != dhcpDiscover && msgType != dhcpRequest && msgType != dhcpInform {
			return info, true // DECLINE, RELEASE: nothing to learn
		}
		switch {
		case len(host) > 0:
			info.name = string(host[:min(len(host), maxName)])
		case len(fqdn) > 0:
			info.name = fqdnName(fqdn)
		}
		if msgType != dhcpDiscover {
			if ci := addr4(d.ClientIP); ci.IsValid() && !ci.IsUnspecified() {
				info.addr = ci
			} else if msgType == dhcpRequest && requested.IsValid() && !requested.IsUnspecified() {
				info.addr = requested
			}
		}
	case layers.DHCPOpReply:
		if msgType == dhcpACK {
			if yi := addr4(d.YourClientIP); yi.IsValid() && !yi.IsUnspecified() {
				info.addr = yi
			}
		}
	}
	return info, true
}

func addr4(ip []byte) netip.Addr {
	if len(ip) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(ip))
}

// fqdnName reads the Client FQDN option (RFC 4702: flags, two obsolete
// RCODE bytes, then the name), whose name is in DNS wire form when the E
// flag is set and ASCII otherwise.
func fqdnName(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	flags, name := b[0], b[3:]
	if flags&0x04 == 0 {
		n := name
		if len(n) > 0 && n[len(n)-1] == '.' {
			n = n[:len(n)-1]
		}
		return string(n[:min(len(n), maxName)])
	}
	return wireName(name)
}

// wireName joins the labels of a DNS wire-form name with dots, verbatim,
// stopping at the root label, at the end of the bytes (a partial name), or
// at anything that is not a plain label (compression has no place here).
func wireName(b []byte) string {
	out := make([]byte, 0, min(len(b), maxName))
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || n > 63 || 1+n > len(b) {
			break
		}
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, b[1:1+n]...)
		b = b[1+n:]
		if len(out) >= maxName {
			return string(out[:maxName])
		}
	}
	return string(out)
}

// DHCPv6 message types sent by clients (RFC 8415) and the Client FQDN
// option (RFC 4704).
const (
	dhcp6Solicit     = 1
	dhcp6Request     = 3
	dhcp6Renew       = 5
	dhcp6Rebind      = 6
	dhcp6InfoRequest = 11
	dhcp6OptFQDN     = 39
)

// parseDHCPv6 returns the name a client's DHCPv6 message gives in its
// Client FQDN option, or "". The client is the frame's sender: clients
// speak from their link-local address, and relayed messages (another
// type) are not read.
func parseDHCPv6(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	switch b[0] {
	case dhcp6Solicit, dhcp6Request, dhcp6Renew, dhcp6Rebind, dhcp6InfoRequest:
	default:
		return ""
	}
	opts := b[4:]
	for len(opts) >= 4 {
		code, n := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
		if 4+n > len(opts) {
			return ""
		}
		if code == dhcp6OptFQDN && n >= 1 {
			return wireName(opts[5 : 4+n])
		}
		opts = opts[4+n:]
	}
	return ""
}
