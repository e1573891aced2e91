package capture

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// TestDefaultFilterMatches compiles DefaultFilter as libpcap does for an
// offline Ethernet handle (the `vlan` and `pppoes` keywords then shift
// offsets in the expression text) and runs it on frames built here: every
// encapsulation netmon decodes, with the wanted ports and fragments, must
// match; the same frames on other ports must not.
func TestDefaultFilterMatches(t *testing.T) {
	bpf, err := pcap.NewBPF(layers.LinkTypeEthernet, 65535, DefaultFilter)
	if err != nil {
		t.Fatalf("DefaultFilter does not compile: %v", err)
	}
	frag4 := func(port uint16) []byte {
		// A non-first fragment: its bytes are the middle of a datagram
		// and carry no ports; the filter must pass it whatever it holds.
		f := fragments4(t, ipPacket(t, flow{proto: ProtoUDP, sport: port, dport: port, payload: bigDNS()}), 1480)
		return f[1]
	}
	frag6 := func(port uint16) []byte {
		f := fragments6(t, ipPacket(t, flow{v6: true, proto: ProtoUDP, sport: port, dport: port, payload: bigDNS()}), 1448, 9)
		return f[1]
	}
	type packet struct {
		name string
		ip   func(port uint16) []byte
		want bool // for a wanted port; other ports never match, except fragments
	}
	var packets []packet
	for _, v6 := range []bool{false, true} {
		for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
			for _, dir := range []string{"to", "from"} {
				packets = append(packets, packet{
					name: fmt.Sprintf("ipv%d-%s-%s", map[bool]int{false: 4, true: 6}[v6],
						map[uint8]string{ProtoTCP: "tcp", ProtoUDP: "udp"}[proto], dir),
					ip: func(port uint16) []byte {
						f := flow{v6: v6, proto: proto, sport: 40000, dport: port, ipv4Option: true}
						if dir == "from" {
							f.sport, f.dport = port, 40000
						}
						return ipPacket(t, f)
					},
					want: true,
				})
			}
		}
	}
	packets = append(packets, packet{"ipv4-fragment", frag4, true}, packet{"ipv6-fragment", frag6, true})

	// Encapsulations from linkCases that use Ethernet.
	var encaps []linkCase
	for _, lc := range linkCases() {
		if lc.lt == layers.LinkTypeEthernet {
			encaps = append(encaps, lc)
		}
	}
	for _, enc := range encaps {
		for _, pk := range packets {
			for _, port := range []uint16{53, 80, 443, 853, 22, 8080} {
				frame := enc.wrap(pk.ip(port))
				ci := gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}
				wanted := port == 53 || port == 80 || port == 443 || port == 853 || strings.Contains(pk.name, "fragment")
				if got := bpf.Matches(ci, frame); got != wanted {
					t.Errorf("%s/%s port %d: Matches = %v, want %v", enc.name, pk.name, port, got, wanted)
				}
			}
		}
	}
	// Frames that are not IP at all must not match either.
	for name, frame := range map[string][]byte{
		"arp":       ether(0x0806, make([]byte, 28)),
		"vlan-arp":  ether(0x8100, cat(tag(1, 0x0806), make([]byte, 28))),
		"pppoe-lcp": ether(0x8864, cat([]byte{0x11, 0}, be16(1), be16(6), be16(0xc021), []byte{1, 1, 0, 4})),
	} {
		if bpf.Matches(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, frame) {
			t.Errorf("%s matches", name)
		}
	}
}

// TestPPPFilterMatches compiles DefaultFilter for DLT_PPP (PPPFilter) and
// runs it on frames with and without the HDLC address and control bytes:
// the wanted ports and fragments match, other ports and PPP control
// frames do not.
func TestPPPFilterMatches(t *testing.T) {
	bpf, err := pcap.NewBPF(layers.LinkTypePPP, 65535, filterFor(DefaultFilter, layers.LinkTypePPP))
	if err != nil {
		t.Fatalf("PPPFilter does not compile: %v", err)
	}
	var cases []linkCase
	for _, lc := range linkCases() {
		if lc.lt == layers.LinkTypePPP {
			cases = append(cases, lc)
		}
	}
	if len(cases) < 2 {
		t.Fatalf("%d PPP link cases, want with and without address and control", len(cases))
	}
	for _, lc := range cases {
		for _, v6 := range []bool{false, true} {
			for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
				for _, port := range []uint16{53, 80, 443, 853, 22, 8080} {
					for _, up := range []bool{false, true} {
						f := flow{v6: v6, proto: proto, sport: 40000, dport: port, ipv4Option: up}
						if up {
							f.sport, f.dport = port, 40000
						}
						frame := lc.wrap(ipPacket(t, f))
						want := wantedPort(port)
						if got := bpf.Matches(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, frame); got != want {
							t.Errorf("%s v6=%v proto %d port %d (source %v): Matches = %v, want %v", lc.name, v6, proto, port, up, got, want)
						}
					}
				}
			}
		}
		frag := fragments4(t, ipPacket(t, flow{proto: ProtoUDP, sport: 22, dport: 22, payload: bigDNS()}), 1480)[1]
		if frame := lc.wrap(frag); !bpf.Matches(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, frame) {
			t.Errorf("%s: a non-first IPv4 fragment does not match", lc.name)
		}
	}
	for name, frame := range map[string][]byte{
		"lcp":         cat([]byte{0xff, 0x03}, be16(0xc021), []byte{1, 1, 0, 4}),
		"lcp-no-addr": cat(be16(0xc021), []byte{1, 1, 0, 4}),
	} {
		if bpf.Matches(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, frame) {
			t.Errorf("%s matches", name)
		}
	}
}

// TestLiveFilterAttaches compiles DefaultFilter on a live Linux handle,
// where libpcap generates different code for `vlan` (it also checks tags
// the NIC stripped), and attaches the program to a socket: a program the
// kernel refuses makes libpcap filter in user space, silently and slowly.
func TestLiveFilterAttaches(t *testing.T) {
	if !loopbackUp() {
		t.Skip("no lo interface")
	}
	src, err := OpenLive(DefaultLiveConfig("lo"))
	if errors.Is(err, ErrPermission) {
		t.Skip("capture not permitted here:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h := src.(*liveSource).h
	for name, expr := range map[string]string{"DefaultFilter": DefaultFilter, "PlainFilter": PlainFilter} {
		insns, err := h.CompileBPFFilter(expr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		prog := make([]syscall.SockFilter, len(insns))
		for i, in := range insns {
			prog[i] = syscall.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		//lint:ignore SA1019 the kernel's classic BPF check is what is tested
		if err := syscall.AttachLsf(fd, prog); err != nil {
			t.Errorf("kernel refuses %s as compiled for a live handle (%d instructions): %v", name, len(prog), err)
		}
		syscall.Close(fd)
	}
	// The libpcap bug that made `pppoes` unusable: if this starts to pass,
	// the `pppoes` keyword may come back into DefaultFilter.
	insns, err := h.CompileBPFFilter("vlan and pppoes and udp port 53")
	if err == nil {
		prog := make([]syscall.SockFilter, len(insns))
		for i, in := range insns {
			prog[i] = syscall.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		fd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		t.Logf("libpcap %s: kernel accepts `vlan and pppoes`: %v", pcap.Version(), syscall.AttachLsf(fd, prog))
		syscall.Close(fd)
	}
}

// TestDefaultFilterBot checks the shared 802.1Q capture: every frame with
// one of the wanted ports passes the filter, and no other.
func TestDefaultFilterBot(t *testing.T) {
	path := pcapDir(t) + "/bot.pcap"
	all := decodeFile(t, path, "")
	filtered := decodeFile(t, path, DefaultFilter)
	var want int
	for _, p := range all {
		if wantedPort(p.SrcPort) || wantedPort(p.DstPort) {
			want++
		}
	}
	if want == 0 || len(filtered) != want {
		t.Errorf("bot.pcap: %d packets pass DefaultFilter, want %d (of %d)", len(filtered), want, len(all))
	}
}

func wantedPort(p uint16) bool { return p == 53 || p == 80 || p == 443 || p == 853 }

// TestFilterCompilesForEveryLinkType checks DefaultFilter is adapted to
// link types where `vlan` does not compile.
func TestFilterCompilesForEveryLinkType(t *testing.T) {
	for _, lc := range linkCases() {
		if err := ValidateFilter(DefaultFilter, lc.lt); err != nil {
			t.Errorf("%s (%d): %v", lc.name, lc.lt, err)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	for _, expr := range []string{"", "tcp port 443", "vlan and udp port 53"} {
		if err := ValidateFilter(expr, layers.LinkTypeEthernet); err != nil {
			t.Errorf("ValidateFilter(%q) = %v", expr, err)
		}
	}
	err := ValidateFilter("tcp prt 80", layers.LinkTypeEthernet)
	if !errors.Is(err, ErrInvalidFilter) || !strings.HasPrefix(err.Error(), `invalid filter "tcp prt 80": `) ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("ValidateFilter(bad) = %q, want one line starting with invalid filter \"tcp prt 80\": ", err)
	}
	t.Log(err)
}

// TestQinQPPPoEAndPPPThroughFilterAndDecoder writes capture files of
// PPPoE inside QinQ and of DLT_PPP with and without the address and
// control bytes, and reads them as a replay does, with DefaultFilter: the
// HTTPS and DNS packets come out decoded with their addresses and ports,
// the SSH one is filtered out.
func TestQinQPPPoEAndPPPThroughFilterAndDecoder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"qinq-pppoe", "qinq-9100-pppoe", "ppp", "ppp-no-address"} {
		var lc linkCase
		for _, c := range linkCases() {
			if c.name == name {
				lc = c
			}
		}
		for _, v6 := range []bool{false, true} {
			var recs []record
			ts := time.Unix(1700000000, 0)
			for i, port := range []uint16{443, 22, 53} {
				proto := uint8(ProtoTCP)
				if port == 53 {
					proto = ProtoUDP
				}
				recs = append(recs, rec(ts.Add(time.Duration(i)*time.Second), lc.wrap(ipPacket(t, flow{v6: v6, proto: proto, sport: 40000, dport: port}))))
			}
			path := writePcap(t, dir, fmt.Sprintf("%s-%v.pcap", name, v6), lc.lt, recs)
			pkts, st := decodeFileStats(t, path, DefaultFilter)
			var ports []uint16
			for _, p := range pkts {
				if p.Src.Is6() != v6 {
					t.Errorf("%s v6=%v: packet of the other IP version: %v", name, v6, p.Src)
				}
				ports = append(ports, p.DstPort)
			}
			if fmt.Sprint(ports) != "[443 53]" {
				t.Errorf("%s v6=%v: decoded destination ports %v (stats %+v), want [443 53]", name, v6, ports, st)
			}
		}
	}
}
