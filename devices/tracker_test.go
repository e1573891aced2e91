package devices

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/classify"
)

var (
	bcast4  = addr("255.255.255.255")
	mdns4   = addr("224.0.0.251")
	mdns6   = addr("ff02::fb")
	dhcp6   = addr("ff02::1:2")
	server4 = addr("198.51.100.7")
	server6 = addr("2001:db8:1::7")
)

// TestTrackerNames runs announcements built in code through the decoder
// and the tracker: a DHCP client with options 12 and 81, an mDNS
// announcement, a NetBIOS registration and a DHCPv6 FQDN, each naming its
// device, with the vendor of the MAC, and one device for a MAC's IPv4,
// link-local and IPv6 privacy addresses.
func TestTrackerNames(t *testing.T) {
	phone4, phone6, phoneGUA := addr("192.168.1.23"), addr("fe80::da30:62ff:fe56:1c"), addr("2001:db8:5::a1b2")
	laptop4, laptop6 := addr("192.168.1.24"), addr("fe80::4e6a:f6ff:fe9f:f627")
	random4 := addr("192.168.1.25")
	tr := newTracker(t, DefaultConfig(), Deps{})
	got := byID(observe(t, tr,
		// The phone: DISCOVER from 0.0.0.0, then REQUEST with option 50,
		// host name and FQDN, the router's ACK, then traffic over IPv4,
		// link-local and a global privacy address.
		udpFrame(t, macPhone, addr("0.0.0.0"), bcast4, 68, 67, dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, macPhone,
			netip.Addr{}, netip.Addr{}, hostOpt("Lucas-iPhone"))),
		udpFrame(t, macPhone, addr("0.0.0.0"), bcast4, 68, 67, dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone,
			netip.Addr{}, netip.Addr{}, requestedOpt(phone4), hostOpt("Lucas-iPhone"), fqdnOpt("lucas-iphone.home.arpa", true))),
		udpFrame(t, macRouter, addr("192.168.1.1"), bcast4, 67, 68, dhcpMsg(t, layers.DHCPOpReply, layers.DHCPMsgTypeAck, macPhone,
			netip.Addr{}, phone4)),
		tcpFrame(t, macPhone, phone4, server4, 50000, 443),
		udpFrame(t, macPhone, phone6, mdns6, 5353, 5353, mdnsResponse(t, false, []mdnsRecord{{"Lucas-iPhone-2.local", phone6, 120}}, nil)),
		tcpFrame(t, macPhone, phoneGUA, server6, 50001, 443),
		// The laptop announces itself over mDNS (IPv4 and link-local) and
		// NetBIOS; mDNS is trusted more.
		udpFrame(t, macLaptop, laptop4, addr("192.168.1.255"), 137, 137, nbRegistration("LAPTOP-NB", 0, laptop4, false)),
		udpFrame(t, macLaptop, laptop4, mdns4, 5353, 5353, mdnsResponse(t, false,
			[]mdnsRecord{{"laptop.local", laptop4, 120}}, []mdnsRecord{{"laptop.local", laptop6, 120}})),
		// A randomised MAC with a NetBIOS name and a DHCPv6 FQDN.
		udpFrame(t, macRandom, random4, addr("192.168.1.255"), 137, 137, nbRegistration("TABLET", 0x20, random4, false)),
		udpFrame(t, macRandom, addr("fe80::c42c:3ff:fe60:6a64"), dhcp6, 546, 547, dhcpv6Solicit(t, "tablet.home.arpa")),
	))

	phone := got["d8:30:62:56:00:1c"]
	if phone.Hostname != "Lucas-iPhone" || phone.NameSource != NameDHCP || phone.Vendor != "Apple, Inc." || phone.Randomised ||
		phone.MAC != "d8:30:62:56:00:1c" {
		t.Errorf("phone: %+v", phone)
	}
	if want := []netip.Addr{phone4, phone6, phoneGUA}; !sameAddrs(phone.Addrs, want) {
		t.Errorf("phone addresses %v, want %v", phone.Addrs, want)
	}
	if !phone.FirstSeen.Equal(t0) || !phone.LastSeen.Equal(t0.Add(5e6)) {
		t.Errorf("phone seen %v to %v, want %v to %v", phone.FirstSeen, phone.LastSeen, t0, t0.Add(5e6))
	}
	laptop := got["4c:6a:f6:9f:f6:27"]
	if laptop.Hostname != "laptop" || laptop.NameSource != NameMDNS || laptop.Vendor != "HMD Global Oy" ||
		!sameAddrs(laptop.Addrs, []netip.Addr{laptop4, laptop6}) {
		t.Errorf("laptop: %+v", laptop)
	}
	random := got["c6:2c:03:60:6a:64"]
	if random.Hostname != "tablet.home.arpa" || random.NameSource != NameDHCP || !random.Randomised || random.Vendor != "" {
		t.Errorf("randomised: %+v", random)
	}
	router := got["00:c0:ca:91:a3:ef"]
	if router.Hostname != "" || !sameAddrs(router.Addrs, []netip.Addr{addr("192.168.1.1")}) {
		t.Errorf("router: %+v", router)
	}
	if len(got) != 4 {
		t.Errorf("%d devices, want 4: %v", len(got), got)
	}
	st := tr.Stats()
	if st.Names[NameDHCP] != 2 || st.Names[NameMDNS] != 1 || st.Names[NameNetBIOS] != 2 || st.DHCP != 3 || st.MDNS != 2 ||
		st.NetBIOS != 2 || st.DHCPv6 != 1 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
	if again := tr.Drain(nil); len(again) != 0 {
		t.Errorf("a second drain without traffic: %v", again)
	}
}

func sameAddrs(got []Addr, want []netip.Addr) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Addr != want[i] {
			return false
		}
	}
	return true
}

// TestTrackerTrust checks the order of trust: a better name replaces a
// worse one, never the reverse, and the config file's name beats all.
func TestTrackerTrust(t *testing.T) {
	a := addr("192.168.1.50")
	ptr := &fakePTR{}
	cfg := DefaultConfig()
	cfg.Names = map[string]string{"4C:6A:F6:9F:F6:27": "Dad's laptop"}
	tr := newTracker(t, cfg, Deps{PTR: ptr})
	steps := []struct {
		frame []byte
		ptr   string
		mac   [6]byte
		want  string
		src   NameSource
	}{
		{frame: tcpFrame(t, macPhone, a, server4, 40000, 443), mac: macPhone, want: "", src: NameNone},
		{ptr: "phone.fritz.box", mac: macPhone, want: "phone.fritz.box", src: NamePTR},
		{frame: udpFrame(t, macPhone, a, addr("192.168.1.255"), 137, 137, nbRegistration("PHONE-NB", 0, a, false)), mac: macPhone,
			want: "PHONE-NB", src: NameNetBIOS},
		{ptr: "worse.fritz.box", mac: macPhone, want: "PHONE-NB", src: NameNetBIOS},
		{frame: udpFrame(t, macPhone, a, mdns4, 5353, 5353, mdnsResponse(t, false, []mdnsRecord{{"phone.local", a, 120}}, nil)),
			mac: macPhone, want: "phone", src: NameMDNS},
		{frame: udpFrame(t, macPhone, a, bcast4, 68, 67, dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, macPhone,
			a, netip.Addr{}, hostOpt(hostile))), mac: macPhone, want: hostile, src: NameDHCP},
		{frame: udpFrame(t, macPhone, a, addr("192.168.1.255"), 137, 137, nbRegistration("LATER-NB", 0, a, false)), mac: macPhone,
			want: hostile, src: NameDHCP},
		{frame: udpFrame(t, macLaptop, addr("192.168.1.51"), bcast4, 68, 67, dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest,
			macLaptop, addr("192.168.1.51"), netip.Addr{}, hostOpt("laptop"))), mac: macLaptop, want: "Dad's laptop", src: NameConfig},
	}
	for i, s := range steps {
		var ds []Device
		if s.frame != nil {
			ds = observe(t, tr, s.frame)
		} else {
			tr.PTRName(a, s.ptr)
			ds = tr.Drain(nil)
		}
		d, ok := byID(ds)[formatMAC(s.mac)]
		if s.want == "" && len(ds) == 1 && ds[0].Hostname == "" {
			continue
		}
		if !ok && s.src != NameNone {
			// An unchanged device is not drained: its name must be the old one.
			if s.want != steps[i-1].want {
				t.Errorf("step %d: device not drained, want name %q", i, s.want)
			}
			continue
		}
		if d.Hostname != s.want || d.NameSource != s.src {
			t.Errorf("step %d: name %q (%v), want %q (%v)", i, d.Hostname, d.NameSource, s.want, s.src)
		}
	}
	// The device without a name had its address asked for, once.
	if got := ptr.asked(); len(got) != 1 || got[0] != a {
		t.Errorf("PTR requests %v, want [%v]", got, a)
	}
}

type fakePTR struct {
	mu  sync.Mutex
	req []netip.Addr
}

func (f *fakePTR) RequestDevice(a netip.Addr) {
	f.mu.Lock()
	f.req = append(f.req, a)
	f.mu.Unlock()
}

func (f *fakePTR) asked() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]netip.Addr(nil), f.req...)
}

// TestTrackerBounds checks the caps: addresses per device (oldest
// dropped), devices (least recently seen forgotten, its last change still
// drained), and a MAC with many IPv4 addresses taken for a router whose
// hosts become devices of their own.
func TestTrackerBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxDevices, cfg.MaxAddrs = 3, 4
	tr := newTracker(t, cfg, Deps{})
	var frames [][]byte
	for i := range 6 {
		frames = append(frames, tcpFrame(t, macPhone, addr(fmt.Sprintf("fe80::%d", i+1)), server6, 40000, 443))
	}
	got := byID(observe(t, tr, frames...))
	if d := got[formatMAC(macPhone)]; len(d.Addrs) != 4 || d.Addrs[0].Addr != addr("fe80::3") {
		t.Errorf("addresses %v, want fe80::3 to fe80::6", d.Addrs)
	}
	if st := tr.Stats(); st.AddrsDropped != 2 {
		t.Errorf("%d addresses dropped, want 2", st.AddrsDropped)
	}

	// The router: its four addresses, then a fifth makes it a router, and
	// the fifth and sixth are devices by address.
	frames = frames[:0]
	for i := range 6 {
		frames = append(frames, tcpFrame(t, macRouter, addr(fmt.Sprintf("10.0.%d.1", i)), server4, 40000, 443))
	}
	got = byID(observe(t, tr, frames...))
	if d := got[formatMAC(macRouter)]; len(d.Addrs) != 4 {
		t.Errorf("router addresses %v, want its first 4", d.Addrs)
	}
	for _, id := range []string{"10.0.4.1", "10.0.5.1"} {
		if d, ok := got[id]; !ok || d.MAC != "" || len(d.Addrs) != 1 {
			t.Errorf("host behind the router %s: %+v", id, d)
		}
	}
	st := tr.Stats()
	if st.Routers != 1 || st.Devices != 3 || st.Evicted != 1 {
		t.Errorf("stats %+v, want 1 router, 3 devices, 1 evicted (the phone)", st)
	}
}

// TestTrackerIdentity checks which sources make devices: a local source
// with a unicast MAC; not a remote source, a multicast MAC or a
// loopback; without a MAC (raw IP), the address itself. A MAC that
// forwards remote IPv4 traffic (the gateway) takes no IPv6 address of the
// internet; a device's own global IPv6 address toward a server port is
// its own.
func TestTrackerIdentity(t *testing.T) {
	tr := newTracker(t, DefaultConfig(), Deps{})
	mcast := [6]byte{0x01, 0x00, 0x5e, 0, 0, 0xfb}
	got := byID(observe(t, tr,
		tcpFrame(t, macRouter, addr("192.168.1.1"), server4, 53000, 443),
		tcpFrame(t, macRouter, server4, addr("192.168.1.23"), 443, 40000),  // forwarded: the router is a gateway
		tcpFrame(t, macRouter, server6, addr("2001:db8:5::1"), 50000, 443), // forwarded to a local server
		tcpFrame(t, mcast, addr("192.168.1.9"), server4, 40000, 443),
		tcpFrame(t, macPhone, addr("2001:db8:5::2"), server6, 40000, 443), // unknown MAC, global address: not yet
		tcpFrame(t, macPhone, addr("192.168.1.2"), server4, 40000, 443),
		tcpFrame(t, macPhone, addr("2001:db8:5::2"), server6, 40000, 443),
		tcpFrame(t, macPhone, addr("2001:db8:5::3"), server6, 443, 40000), // from a server port: not a client
	))
	if len(got) != 2 {
		t.Errorf("devices %v, want the router and the phone", got)
	}
	if d := got[formatMAC(macRouter)]; !sameAddrs(d.Addrs, []netip.Addr{addr("192.168.1.1")}) {
		t.Errorf("gateway addresses %v", d.Addrs)
	}
	if d := got[formatMAC(macPhone)]; !sameAddrs(d.Addrs, []netip.Addr{addr("192.168.1.2"), addr("2001:db8:5::2")}) {
		t.Errorf("phone addresses %v", d.Addrs)
	}

	// Raw IP: no MAC, so the address is the device.
	raw := newTracker(t, DefaultConfig(), Deps{})
	b := &capture.Batch{Packets: []capture.Packet{
		{TS: t0, Src: addr("192.168.1.5"), Dst: server4, Proto: capture.ProtoTCP, SrcPort: 1, DstPort: 443},
		{TS: t0, Src: server4, Dst: addr("192.168.1.5"), Proto: capture.ProtoTCP, SrcPort: 443, DstPort: 1},
		{TS: t0, Src: addr("127.0.0.1"), Dst: addr("127.0.0.1"), Proto: capture.ProtoTCP, SrcPort: 1, DstPort: 443},
	}}
	raw.Observe(b)
	if ds := raw.Drain(nil); len(ds) != 1 || ds[0].ID != "192.168.1.5" || ds[0].MAC != "" {
		t.Errorf("raw IP devices %+v, want 192.168.1.5 by address", ds)
	}
}

// TestTrackerConsumesPayloads checks the tracker takes the device
// protocols' payloads out of the batch (the learner would follow them as
// flows) and leaves every other payload.
func TestTrackerConsumesPayloads(t *testing.T) {
	tr := newTracker(t, DefaultConfig(), Deps{})
	a := addr("192.168.1.23")
	for _, b := range decodeFrames(t, [][]byte{
		udpFrame(t, macPhone, a, mdns4, 5353, 5353, mdnsResponse(t, false, []mdnsRecord{{"p.local", a, 120}}, nil)),
		udpFrame(t, macPhone, a, addr("192.168.1.1"), 40000, 53, []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")),
	}) {
		tr.Observe(b)
		if len(b.Packets) != 2 || b.Packets[0].Payload != nil || b.Packets[1].Payload == nil {
			t.Errorf("payloads after Observe: mDNS %v, DNS %v", b.Packets[0].Payload != nil, b.Packets[1].Payload != nil)
		}
	}
}

// TestDeviceTrafficNotCounted proves the resolve stage skips the device
// protocols' packets: they go between local addresses and broadcast or
// multicast ones, so none reaches tcpdump_records.
func TestDeviceTrafficNotCounted(t *testing.T) {
	a, a6 := addr("192.168.1.23"), addr("fe80::1")
	c := classify.New(classify.Deps{})
	for _, b := range decodeFrames(t, [][]byte{
		udpFrame(t, macPhone, addr("0.0.0.0"), bcast4, 68, 67, dhcpMsg(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, macPhone,
			netip.Addr{}, netip.Addr{}, hostOpt("x"))),
		udpFrame(t, macRouter, addr("192.168.1.1"), a, 67, 68, dhcpMsg(t, layers.DHCPOpReply, layers.DHCPMsgTypeAck, macPhone,
			netip.Addr{}, a)),
		udpFrame(t, macPhone, a, mdns4, 5353, 5353, mdnsResponse(t, false, []mdnsRecord{{"p.local", a, 120}}, nil)),
		udpFrame(t, macPhone, a6, mdns6, 5353, 5353, mdnsResponse(t, false, []mdnsRecord{{"p.local", a6, 120}}, nil)),
		udpFrame(t, macPhone, a, addr("192.168.1.255"), 137, 137, nbRegistration("P", 0, a, false)),
		udpFrame(t, macPhone, a6, dhcp6, 546, 547, dhcpv6Solicit(t, "p")),
	}) {
		c.Classify(b)
		for _, p := range b.Packets {
			if p.Dir != capture.DirSkip {
				t.Errorf("%v:%d → %v:%d: verdict %v, want skip", p.Src, p.SrcPort, p.Dst, p.DstPort, p.Dir)
			}
		}
		if n := len(b.Packets); n != 6 {
			t.Errorf("%d packets decoded, want 6", n)
		}
	}
	if st := c.Stats(); st.BothLocal.Load() != 6 || st.Counted.Load() != 0 {
		t.Errorf("classifier: %d both local, %d counted; want 6 and 0", st.BothLocal.Load(), st.Counted.Load())
	}
}

// TestTrackerConcurrent runs Observe, Drain and PTRName at once, as the
// learn stage, the windows and the PTR workers do (for -race).
func TestTrackerConcurrent(t *testing.T) {
	tr := newTracker(t, DefaultConfig(), Deps{PTR: &fakePTR{}})
	bs := decodeFrames(t, [][]byte{tcpFrame(t, macPhone, addr("192.168.1.2"), server4, 1, 443)})
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			tr.Observe(bs[0])
		}
	})
	wg.Go(func() {
		for range 200 {
			tr.Drain(nil)
		}
	})
	wg.Go(func() {
		for range 200 {
			tr.PTRName(addr("192.168.1.2"), "p.lan")
		}
	})
	wg.Wait()
	if st := tr.Stats(); st.Devices != 1 {
		t.Errorf("%d devices", st.Devices)
	}
}

// TestReadRegistryLate checks that devices seen before the registry was
// read get their vendor when it is, and are drained again for it; a
// missing registry leaves vendors empty.
func TestReadRegistryLate(t *testing.T) {
	dir := t.TempDir()
	csv := "Registry,Assignment,Organization Name,Organization Address\nMA-L,D83062,\"Apple, Inc.\",x\n"
	if err := os.WriteFile(filepath.Join(dir, "oui.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.OUIFile = filepath.Join(dir, "oui.csv")
	tr := New(cfg, Deps{})
	if d := observe(t, tr, tcpFrame(t, macPhone, addr("192.168.1.2"), server4, 1, 443)); len(d) != 1 || d[0].Vendor != "" {
		t.Fatalf("before the registry: %+v", d)
	}
	tr.ReadRegistry()
	if d := tr.Drain(nil); len(d) != 1 || d[0].Vendor != "Apple, Inc." {
		t.Errorf("after the registry: %+v, want the vendor", d)
	}
	if st := tr.Stats(); st.Vendors != 1 {
		t.Errorf("%d vendors loaded", st.Vendors)
	}
	cfg.OUIFile = filepath.Join(dir, "none.csv")
	missing := New(cfg, Deps{})
	missing.ReadRegistry()
	if st := missing.Stats(); st.Vendors != 0 {
		t.Errorf("missing registry: %d vendors", st.Vendors)
	}
}
