package devices

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"
)

// hostile is a name no host name checker would pass: control characters,
// quotes, SQL and a terminal escape. Devices choose their names, so the
// parsers keep them verbatim; the store binds them, the terminal escapes.
const hostile = "evil\x00\x1b[31m'; DROP TABLE devices; --\"\\%_\xff"

func TestParseDHCP(t *testing.T) {
	long := strings.Repeat("x", 255)
	lease := addr("192.168.1.23")
	tests := []struct {
		name string
		msg  []byte
		want dhcpInfo
		ok   bool
	}{
		{"discover with host name", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, macPhone, netip.Addr{}, netip.Addr{},
			hostOpt("Lucas-iPhone")), dhcpInfo{mac: macPhone, name: "Lucas-iPhone"}, true},
		{"request: option 50 and FQDN in wire form", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone, netip.Addr{}, netip.Addr{},
			requestedOpt(lease), fqdnOpt("laptop.home.arpa", true)), dhcpInfo{mac: macPhone, name: "laptop.home.arpa", addr: lease}, true},
		{"request: FQDN in ASCII, trailing dot", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone, netip.Addr{}, netip.Addr{},
			fqdnOpt("laptop.home.arpa.", false)), dhcpInfo{mac: macPhone, name: "laptop.home.arpa"}, true},
		{"option 12 wins over option 81", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone, lease, netip.Addr{},
			fqdnOpt("laptop.home.arpa", true), hostOpt("laptop")), dhcpInfo{mac: macPhone, name: "laptop", addr: lease}, true},
		{"renewal: ciaddr", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone, lease, netip.Addr{}),
			dhcpInfo{mac: macPhone, addr: lease}, true},
		{"ack: yiaddr", dhcpMsg(t, layers.DHCPOpReply, layers.DHCPMsgTypeAck, macPhone, netip.Addr{}, lease, hostOpt("server-says")),
			dhcpInfo{mac: macPhone, addr: lease}, true},
		{"offer: only a proposal", dhcpMsg(t, layers.DHCPOpReply, layers.DHCPMsgTypeOffer, macPhone, netip.Addr{}, lease),
			dhcpInfo{mac: macPhone}, true},
		{"release names no one", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRelease, macPhone, lease, netip.Addr{}, hostOpt("x")),
			dhcpInfo{mac: macPhone}, true},
		{"hostile name verbatim", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, macPhone, netip.Addr{}, netip.Addr{},
			hostOpt(hostile)), dhcpInfo{mac: macPhone, name: hostile}, true},
		{"255-byte name", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, macPhone, netip.Addr{}, netip.Addr{},
			hostOpt(long)), dhcpInfo{mac: macPhone, name: long}, true},
		{"truncated", dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, macPhone, netip.Addr{}, netip.Addr{})[:200],
			dhcpInfo{}, false},
	}
	var d layers.DHCPv4
	for _, tt := range tests {
		got, ok := parseDHCP(&d, tt.msg)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: parseDHCP = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	// A name in wire form longer than 255 bytes is cut there.
	var wire []byte
	for range 5 {
		wire = append(wire, 63)
		wire = append(wire, strings.Repeat("a", 63)...)
	}
	if got := fqdnName(append([]byte{0x04, 0, 0}, wire...)); len(got) != maxName {
		t.Errorf("long wire name: %d bytes, want %d", len(got), maxName)
	}
}

func TestParseDHCPv6(t *testing.T) {
	if got := parseDHCPv6(dhcpv6Solicit(t, "pixel-7.home.arpa")); got != "pixel-7.home.arpa" {
		t.Errorf("SOLICIT with option 39: %q", got)
	}
	reply := dhcpv6Solicit(t, "pixel-7")
	reply[0] = 7 // REPLY: the server's, not the client's
	if got := parseDHCPv6(reply); got != "" {
		t.Errorf("REPLY: %q, want none", got)
	}
	if got := parseDHCPv6(dhcpv6Solicit(t, "pixel-7")[:12]); got != "" {
		t.Errorf("truncated: %q", got)
	}
}

func TestParseMDNS(t *testing.T) {
	mac4, mac6 := addr("192.168.1.30"), addr("fe80::1c2:3ff:fe04:506")
	var p dnsmessage.Parser
	tests := []struct {
		name string
		msg  []byte
		want []hostAddr
	}{
		{"announcement, cache-flush class, A and AAAA in answers and additionals",
			mdnsResponse(t, false, []mdnsRecord{{"Lucas-iMac.local", mac4, 120}}, []mdnsRecord{{"Lucas-iMac.local", mac6, 120}}),
			[]hostAddr{{"Lucas-iMac", mac4}, {"Lucas-iMac", mac6}}},
		{"upper-case suffix", mdnsResponse(t, false, []mdnsRecord{{"printer.LOCAL", mac4, 120}}, nil),
			[]hostAddr{{"printer", mac4}}},
		{"goodbye (TTL 0) is skipped", mdnsResponse(t, false, []mdnsRecord{{"gone.local", mac4, 0}}, nil), nil},
		{"not .local", mdnsResponse(t, false, []mdnsRecord{{"www.example.com", mac4, 120}, {"local", mac4, 120}}, nil), nil},
		{"a query's known answers name no one", mdnsResponse(t, true, []mdnsRecord{{"other.local", mac4, 120}}, nil), nil},
		{"hostile name verbatim", mdnsResponse(t, false, []mdnsRecord{{"evil\x1b[31m'\"; --.local", mac4, 120}}, nil),
			[]hostAddr{{"evil\x1b[31m'\"; --", mac4}}},
	}
	for _, tt := range tests {
		got, whole := parseMDNS(&p, tt.msg, nil)
		if !whole {
			t.Errorf("%s: not whole", tt.name)
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hostAddr{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	// Damage inside the second record (the PTR record after it is 59
	// bytes): what came before it is kept.
	msg := mdnsResponse(t, false, []mdnsRecord{{"a.local", mac4, 120}, {"b.local", mac4, 120}}, nil)
	got, whole := parseMDNS(&p, msg[:len(msg)-61], nil)
	if whole || len(got) != 1 || got[0].name != "a" {
		t.Errorf("damaged message: %v, whole %v; want a alone, not whole", got, whole)
	}
}

func TestParseNetBIOS(t *testing.T) {
	a := addr("192.168.1.40")
	tests := []struct {
		name string
		msg  []byte
		want []hostAddr
	}{
		{"registration, workstation name, padding trimmed", nbRegistration("DESKTOP-7QK", 0x00, a, false), []hostAddr{{"DESKTOP-7QK", a}}},
		{"registration, server name", nbRegistration("NAS", 0x20, a, false), []hostAddr{{"NAS", a}}},
		{"group name (workgroup) names no host", nbRegistration("WORKGROUP", 0x00, a, true), nil},
		{"master browser suffix names no host", nbRegistration("WORKGROUP", 0x1d, a, false), nil},
		{"positive response", nbPositiveResponse("PRINTER", 0x20, a), []hostAddr{{"PRINTER", a}}},
		{"15-byte name with quotes", nbRegistration(`A'B"C;--\x%_12`, 0x00, a, false), []hostAddr{{`A'B"C;--\x%_12`, a}}},
		{"truncated", nbRegistration("DESKTOP", 0x00, a, false)[:40], nil},
	}
	for _, tt := range tests {
		got := parseNetBIOS(tt.msg, nil)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hostAddr{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	// A query (not a response) names no one.
	q := nbRegistration("DESKTOP", 0x00, a, false)
	q[2], q[3] = 0x01, 0x10 // opcode 0, not a response
	if got := parseNetBIOS(q, nil); len(got) != 0 {
		t.Errorf("query: %v", got)
	}
}

// FuzzAnnouncements runs every device protocol parser on the same bytes:
// none may panic, and every name they return is at most maxName bytes.
func FuzzAnnouncements(f *testing.F) {
	f.Add(dhcpMsg(f, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone, netip.Addr{}, netip.Addr{},
		requestedOpt(addr("192.168.1.2")), fqdnOpt("a.b", true), hostOpt("host")))
	f.Add(mdnsResponse(f, false, []mdnsRecord{{"x.local", addr("192.168.1.3"), 120}}, []mdnsRecord{{"x.local", addr("fe80::1"), 120}}))
	f.Add(nbRegistration("DESKTOP", 0, addr("192.168.1.4"), false))
	f.Add(nbPositiveResponse("NAS", 0x20, addr("192.168.1.5"), addr("192.168.1.6")))
	f.Add(dhcpv6Solicit(f, "pixel.home"))
	var d layers.DHCPv4
	var p dnsmessage.Parser
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, ok := parseDHCP(&d, b); ok && len(info.name) > maxName {
			t.Errorf("DHCP name of %d bytes", len(info.name))
		}
		if n := parseDHCPv6(b); len(n) > maxName {
			t.Errorf("DHCPv6 name of %d bytes", len(n))
		}
		recs, _ := parseMDNS(&p, b, nil)
		recs = parseNetBIOS(b, recs)
		if len(recs) > 2*maxRecords {
			t.Errorf("%d records", len(recs))
		}
		for _, r := range recs {
			if len(r.name) > maxName || !r.addr.IsValid() {
				t.Errorf("record %q %v", r.name, r.addr)
			}
		}
	})
}
