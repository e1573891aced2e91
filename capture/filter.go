package capture

import (
	"container/list"
	"sync"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// The default filter is built from the pieces below. libpcap's `vlan` and
// `pppoes` keywords do not test a header and move on: each one shifts the
// offsets of everything written after it in the expression, parentheses or
// not, and after `pppoes` the link type is PPP, where `vlan` is an error.
// So a chain of keywords can only go deeper: untagged, then one tag, then
// two tags. PPPoE is tested with absolute `ether[]` offsets instead (`vlan`
// does not move those), right after the Ethernet header and after one tag,
// and the `pppoes` keyword is not used at all: on a live Linux handle
// libpcap 1.10 compiles `vlan ... pppoes` into code that reads a scratch
// slot it never wrote (as in libpcap issue #834), the kernel refuses it
// ("Kernel filter failed: Invalid argument") and libpcap silently filters
// in user space, copying every frame of the link. PPPoE inside two tags is
// matched by the same absolute offsets after two tags (filterQinQPPPoE).
//
// On a live Linux handle libpcap compiles the first `vlan` so that it also
// matches a tag the NIC stripped into packet metadata, and the kernel runs
// the filter on the untagged frame: a tagged frame then matches the
// untagged part, and a tagged PPPoE frame the untagged PPPoE part.
const (
	// filterWanted is what netmon keeps at the current offsets: DNS, HTTP
	// and HTTPS (QUIC included) over TCP or UDP, DNS over TLS and over QUIC
	// (853, so that devices that bypass the local resolver show up as
	// such), and IP fragments that carry no ports, so that a fragmented DNS
	// answer can be reassembled.
	filterWanted = "port 53 or port 80 or port 443 or port 853" +
		" or (ip and ip[6:2] & 0x1fff != 0) or (ip6 and ip6[6] = 44)" +
		" or " + filterDevices

	// filterDevices is how devices name themselves on the local link:
	// DHCP, NetBIOS name service, DHCPv6 and mDNS. It is part of
	// filterWanted, so it matches untagged and behind VLAN tags, but not
	// inside PPPoE, which is the WAN side where no device of the home
	// announces itself.
	filterDevices = "(udp and (port 67 or port 68 or port 137 or port 546 or port 547 or port 5353))"

	// filterPPPoE is filterWanted for a PPPoE session frame right after the
	// Ethernet header: PPPoE header at 14, PPP protocol at 20, IP at 22.
	filterPPPoE = "(ether[12:2] = 0x8864 and (" +
		"(ether[20:2] = 0x21 and (ether[28:2] & 0x1fff != 0 or ((ether[31] = 6 or ether[31] = 17) and (" +
		"ether[22 + (ether[22] & 0xf) * 4:2] = 53 or ether[22 + (ether[22] & 0xf) * 4:2] = 80 or " +
		"ether[22 + (ether[22] & 0xf) * 4:2] = 443 or ether[22 + (ether[22] & 0xf) * 4:2] = 853 or " +
		"ether[24 + (ether[22] & 0xf) * 4:2] = 53 or ether[24 + (ether[22] & 0xf) * 4:2] = 80 or " +
		"ether[24 + (ether[22] & 0xf) * 4:2] = 443 or ether[24 + (ether[22] & 0xf) * 4:2] = 853)))) or " +
		"(ether[20:2] = 0x57 and (ether[28] = 44 or ((ether[28] = 6 or ether[28] = 17) and (" +
		"ether[62:2] = 53 or ether[62:2] = 80 or ether[62:2] = 443 or ether[62:2] = 853 or " +
		"ether[64:2] = 53 or ether[64:2] = 80 or ether[64:2] = 443 or ether[64:2] = 853))))))"

	// filterVLANPPPoE is the same after one VLAN tag (the usual DSL uplink):
	// PPPoE header at 18, PPP protocol at 24, IP at 26.
	filterVLANPPPoE = "((ether[12:2] = 0x8100 or ether[12:2] = 0x88a8 or ether[12:2] = 0x9100) and " +
		"ether[16:2] = 0x8864 and (" +
		"(ether[24:2] = 0x21 and (ether[32:2] & 0x1fff != 0 or ((ether[35] = 6 or ether[35] = 17) and (" +
		"ether[26 + (ether[26] & 0xf) * 4:2] = 53 or ether[26 + (ether[26] & 0xf) * 4:2] = 80 or " +
		"ether[26 + (ether[26] & 0xf) * 4:2] = 443 or ether[26 + (ether[26] & 0xf) * 4:2] = 853 or " +
		"ether[28 + (ether[26] & 0xf) * 4:2] = 53 or ether[28 + (ether[26] & 0xf) * 4:2] = 80 or " +
		"ether[28 + (ether[26] & 0xf) * 4:2] = 443 or ether[28 + (ether[26] & 0xf) * 4:2] = 853)))) or " +
		"(ether[24:2] = 0x57 and (ether[32] = 44 or ((ether[32] = 6 or ether[32] = 17) and (" +
		"ether[66:2] = 53 or ether[66:2] = 80 or ether[66:2] = 443 or ether[66:2] = 853 or " +
		"ether[68:2] = 53 or ether[68:2] = 80 or ether[68:2] = 443 or ether[68:2] = 853))))))"

	// filterQinQPPPoE is the same after two tags (an outer S-tag, 0x88a8
	// or 0x9100 or 0x8100, then a C-tag 0x8100), as some ISPs deliver
	// PPPoE: PPPoE header at 22, PPP protocol at 28, IP at 30.
	filterQinQPPPoE = "((ether[12:2] = 0x8100 or ether[12:2] = 0x88a8 or ether[12:2] = 0x9100) and ether[16:2] = 0x8100 and " +
		"ether[20:2] = 0x8864 and (" +
		"(ether[28:2] = 0x21 and (ether[36:2] & 0x1fff != 0 or ((ether[39] = 6 or ether[39] = 17) and (" +
		"ether[30 + (ether[30] & 0xf) * 4:2] = 53 or ether[30 + (ether[30] & 0xf) * 4:2] = 80 or " +
		"ether[30 + (ether[30] & 0xf) * 4:2] = 443 or ether[30 + (ether[30] & 0xf) * 4:2] = 853 or " +
		"ether[32 + (ether[30] & 0xf) * 4:2] = 53 or ether[32 + (ether[30] & 0xf) * 4:2] = 80 or " +
		"ether[32 + (ether[30] & 0xf) * 4:2] = 443 or ether[32 + (ether[30] & 0xf) * 4:2] = 853)))) or " +
		"(ether[28:2] = 0x57 and (ether[36] = 44 or ((ether[36] = 6 or ether[36] = 17) and (" +
		"ether[70:2] = 53 or ether[70:2] = 80 or ether[70:2] = 443 or ether[70:2] = 853 or " +
		"ether[72:2] = 53 or ether[72:2] = 80 or ether[72:2] = 443 or ether[72:2] = 853))))))"
)

// DefaultFilter is the BPF expression netmon captures with on Ethernet:
// TCP and UDP ports 53, 80, 443 and 853 and IPv4/IPv6 fragments, untagged,
// behind one or two VLAN tags (0x8100, 0x88a8, 0x9100), and inside PPPoE
// sessions, untagged or behind one or two tags; and UDP ports 67, 68, 137, 546,
// 547 and 5353 (the device tracker's DHCP, NetBIOS and mDNS), untagged and
// behind VLAN tags. OpenLive, OpenFile and
// ValidateFilter replace it with PlainFilter on other link types, where
// `vlan` and `ether[]` do not compile.
const DefaultFilter = filterWanted +
	" or " + filterPPPoE +
	" or " + filterVLANPPPoE +
	" or " + filterQinQPPPoE +
	" or (vlan and (" + filterWanted + " or (vlan and (" + filterWanted + "))))"

// PlainFilter is DefaultFilter for link types without VLAN tags or PPPoE
// (Linux cooked, raw IP, loopback).
const PlainFilter = filterWanted

// PPPFilter is DefaultFilter for DLT_PPP. libpcap compiles filterWanted for
// a PPP header with the HDLC address and control bytes (0xff 0x03, then
// the protocol at 2 and IP at 4); many PPP captures leave those two bytes
// out, so the same test is written again for the protocol at 0 and IP at 2.
const PPPFilter = filterWanted + " or (link[0:2] != 0xff03 and (" +
	"(link[0:2] = 0x21 and (link[8:2] & 0x1fff != 0 or ((link[11] = 6 or link[11] = 17) and (" +
	"link[2 + (link[2] & 0xf) * 4:2] = 53 or link[2 + (link[2] & 0xf) * 4:2] = 80 or " +
	"link[2 + (link[2] & 0xf) * 4:2] = 443 or link[2 + (link[2] & 0xf) * 4:2] = 853 or " +
	"link[4 + (link[2] & 0xf) * 4:2] = 53 or link[4 + (link[2] & 0xf) * 4:2] = 80 or " +
	"link[4 + (link[2] & 0xf) * 4:2] = 443 or link[4 + (link[2] & 0xf) * 4:2] = 853)))) or " +
	"(link[0:2] = 0x57 and (link[8] = 44 or ((link[8] = 6 or link[8] = 17) and (" +
	"link[42:2] = 53 or link[42:2] = 80 or link[42:2] = 443 or link[42:2] = 853 or " +
	"link[44:2] = 53 or link[44:2] = 80 or link[44:2] = 443 or link[44:2] = 853))))))"

// filterFor adapts DefaultFilter to the link type; any other expression is
// the user's and is used as written.
func filterFor(expr string, lt layers.LinkType) string {
	if expr == DefaultFilter && lt == layers.LinkTypePPP {
		return PPPFilter
	}
	if expr == DefaultFilter && lt != layers.LinkTypeEthernet {
		return PlainFilter
	}
	return expr
}

// maxCompiledFilters bounds the cache of compiled filters. A replay of many
// files meets one or two link types; 64 leaves room for a test suite's
// many expressions without holding more than a few hundred KiB.
const maxCompiledFilters = 64

// filterKey is what a compiled program depends on.
type filterKey struct {
	expr    string
	lt      layers.LinkType
	snaplen int
}

type compiledFilter struct {
	key filterKey
	ins []pcap.BPFInstruction
	err error
}

// filterCache holds the programs libpcap compiled, most recently used at
// the front, so that a replay of 100,000 one-packet files compiles the
// 2,200-character default filter once per link type, not once per file
// (it took 4 ms each time).
var filterCache = struct {
	sync.Mutex
	byKey map[filterKey]*list.Element
	order *list.List // of *compiledFilter
	// compiles counts the calls into libpcap's compiler, for tests.
	compiles int
}{byKey: map[filterKey]*list.Element{}, order: list.New()}

// compileFilter compiles expr (DefaultFilter adapted to lt by filterFor)
// for link type lt and snap length snaplen (0: DefaultSnapLen), or returns
// the program compiled before. A link type the decoder cannot read is
// refused first, in one line: the default filter would not compile on it
// either, and libpcap's error would quote all of it.
func compileFilter(expr string, lt layers.LinkType, snaplen int) ([]pcap.BPFInstruction, error) {
	if _, err := linkFor(lt); err != nil {
		return nil, err
	}
	if snaplen <= 0 {
		snaplen = DefaultSnapLen
	}
	key := filterKey{expr, lt, snaplen}
	c := &filterCache
	c.Lock()
	defer c.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		f := e.Value.(*compiledFilter)
		return f.ins, f.err
	}
	// A file header holds a LINKTYPE_ value; the compiler takes a DLT_ one.
	// They differ for raw IP (LINKTYPE_RAW 101, OpenBSD's DLT_RAW 14), as
	// pcap_open_offline knows.
	dlt := lt
	if lt == layers.LinkTypeRaw || lt == 14 {
		dlt = dltRaw
	}
	c.compiles++
	ins, err := pcap.CompileBPFFilter(dlt, snaplen, filterFor(expr, lt))
	if err != nil {
		err = invalidFilter(expr, err)
	}
	c.byKey[key] = c.order.PushFront(&compiledFilter{key: key, ins: ins, err: err})
	if c.order.Len() > maxCompiledFilters {
		old := c.order.Remove(c.order.Back()).(*compiledFilter)
		delete(c.byKey, old.key)
	}
	return ins, err
}
