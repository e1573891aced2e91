package devices

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dhcpMsg serializes a DHCPv4 message with gopacket.
func dhcpMsg(t testing.TB, op layers.DHCPOp, msgType layers.DHCPMsgType, chaddr [6]byte, ciaddr, yiaddr netip.Addr, opts ...layers.DHCPOption) []byte {
	t.Helper()
	d := &layers.DHCPv4{
		Operation: op, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6, Xid: 0x1234,
		ClientHWAddr: net.HardwareAddr(chaddr[:]),
		ClientIP:     net.IPv4zero.To4(), YourClientIP: net.IPv4zero.To4(),
		NextServerIP: net.IPv4zero.To4(), RelayAgentIP: net.IPv4zero.To4(),
	}
	if ciaddr.IsValid() {
		d.ClientIP = ciaddr.AsSlice()
	}
	if yiaddr.IsValid() {
		d.YourClientIP = yiaddr.AsSlice()
	}
	d.Options = append(layers.DHCPOptions{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(msgType)})}, opts...)
	d.Options = append(d.Options, layers.NewDHCPOption(layers.DHCPOptEnd, nil))
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func hostOpt(name string) layers.DHCPOption {
	return layers.NewDHCPOption(layers.DHCPOptHostname, []byte(name))
}

// fqdnOpt is option 81 with the E flag (wire form) or without (ASCII).
func fqdnOpt(name string, wire bool) layers.DHCPOption {
	data := []byte{0x01, 0, 0}
	if wire {
		data[0] |= 0x04
		for _, l := range strings.Split(name, ".") {
			data = append(data, byte(len(l)))
			data = append(data, l...)
		}
		data = append(data, 0)
	} else {
		data = append(data, name...)
	}
	return layers.NewDHCPOption(dhcpOptClientFQDN, data)
}

func requestedOpt(a netip.Addr) layers.DHCPOption {
	return layers.NewDHCPOption(layers.DHCPOptRequestIP, a.AsSlice())
}

// mdnsRecord is one A or AAAA record of an mDNS response.
type mdnsRecord struct {
	name string
	addr netip.Addr
	ttl  uint32
}

// mdnsResponse serializes an mDNS response (or, with query, a query with
// known answers) with gopacket; answer records carry the cache-flush bit
// as devices send them.
func mdnsResponse(t testing.TB, query bool, answers []mdnsRecord, additionals []mdnsRecord) []byte {
	t.Helper()
	rr := func(r mdnsRecord) layers.DNSResourceRecord {
		x := layers.DNSResourceRecord{Name: []byte(r.name), Class: layers.DNSClass(0x8001), TTL: r.ttl}
		if r.addr.Is4() {
			x.Type, x.IP = layers.DNSTypeA, r.addr.AsSlice()
		} else {
			x.Type, x.IP = layers.DNSTypeAAAA, r.addr.AsSlice()
		}
		return x
	}
	d := &layers.DNS{QR: !query, AA: !query, OpCode: layers.DNSOpCodeQuery}
	if query {
		d.Questions = []layers.DNSQuestion{{Name: []byte("_airplay._tcp.local"), Type: layers.DNSTypePTR, Class: layers.DNSClassIN}}
	}
	for _, r := range answers {
		d.Answers = append(d.Answers, rr(r))
	}
	// A PTR record between them, which the parser must skip.
	d.Answers = append(d.Answers, layers.DNSResourceRecord{Name: []byte("_services._dns-sd._udp.local"),
		Type: layers.DNSTypePTR, Class: layers.DNSClassIN, TTL: 4500, PTR: []byte("_smb._tcp.local")})
	for _, r := range additionals {
		d.Additionals = append(d.Additionals, rr(r))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// nbEncode is the first-level encoding of a NetBIOS name (RFC 1001
// 14.1): padded to 15 bytes with spaces, the suffix, each byte as two
// letters.
func nbEncode(name string, suffix byte) []byte {
	raw := []byte(name + strings.Repeat(" ", max(0, 15-len(name))))[:15]
	raw = append(raw, suffix)
	out := []byte{32}
	for _, c := range raw {
		out = append(out, 'A'+c>>4, 'A'+c&0xf)
	}
	return append(out, 0)
}

// nbRegistration is a name registration request for name, with its NB
// record in the additional section pointing back at the question, as
// Windows broadcasts it; group sets the G flag.
func nbRegistration(name string, suffix byte, a netip.Addr, group bool) []byte {
	b := []byte{0x12, 0x34, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1} // opcode 5, RD, B
	b = append(b, nbEncode(name, suffix)...)
	b = binary.BigEndian.AppendUint16(b, nbTypeNB)
	b = binary.BigEndian.AppendUint16(b, nbClassIN)
	b = append(b, 0xc0, 0x0c) // the question's name
	b = binary.BigEndian.AppendUint16(b, nbTypeNB)
	b = binary.BigEndian.AppendUint16(b, nbClassIN)
	b = binary.BigEndian.AppendUint32(b, 300000)
	b = binary.BigEndian.AppendUint16(b, 6)
	flags := uint16(0)
	if group {
		flags = 0x8000
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	return append(b, a.AsSlice()...)
}

// nbPositiveResponse is a positive name query response binding name to
// addrs.
func nbPositiveResponse(name string, suffix byte, addrs ...netip.Addr) []byte {
	b := []byte{0x56, 0x78, 0x85, 0x00, 0, 0, 0, 1, 0, 0, 0, 0} // response, AA, RD
	b = append(b, nbEncode(name, suffix)...)
	b = binary.BigEndian.AppendUint16(b, nbTypeNB)
	b = binary.BigEndian.AppendUint16(b, nbClassIN)
	b = binary.BigEndian.AppendUint32(b, 300000)
	b = binary.BigEndian.AppendUint16(b, uint16(6*len(addrs)))
	for _, a := range addrs {
		b = append(b, 0, 0)
		b = append(b, a.AsSlice()...)
	}
	return b
}

// dhcpv6Solicit serializes a DHCPv6 SOLICIT with a Client FQDN option
// (39) with gopacket.
func dhcpv6Solicit(t testing.TB, fqdn string) []byte {
	t.Helper()
	data := []byte{0x01}
	for _, l := range strings.Split(fqdn, ".") {
		data = append(data, byte(len(l)))
		data = append(data, l...)
	}
	d := &layers.DHCPv6{MsgType: layers.DHCPv6MsgTypeSolicit, TransactionID: []byte{1, 2, 3},
		Options: layers.DHCPv6Options{
			layers.NewDHCPv6Option(layers.DHCPv6OptElapsedTime, []byte{0, 0}),
			layers.NewDHCPv6Option(layers.DHCPv6Opt(dhcp6OptFQDN), data),
		}}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}
