package devices

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/netmon/netmon/capture/capturetest"
)

// realVendors loads Debian's registry, failing with what to install when
// it is missing.
func realVendors(t testing.TB) *Vendors {
	t.Helper()
	v, err := LoadVendors(DefaultOUIFile)
	if errors.Is(err, ErrNoRegistry) {
		t.Fatalf("%v: this test needs the IEEE registry: apt-get install ieee-data", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSharedCaptures runs the shared captures that hold DHCP, mDNS or
// NetBIOS frames through DefaultFilter, the Decoder and the tracker. The
// expected devices are what tshark shows in them:
//
//	tshark -r F -Y 'dhcp || mdns || nbns || dhcpv6' -T fields -e eth.src -e ip.src \
//	  -e dhcp.hw.mac_addr -e dhcp.option.hostname -e dhcp.option.requested_ip_address \
//	  -e dhcp.ip.your -e dns.resp.name -e dns.a -e dns.aaaa -e nbns.name
//
// and the vendors are the registry's for their OUIs. None of the 46 shared
// captures has a NetBIOS name service frame or a DHCPv6 Client FQDN.
func TestSharedCaptures(t *testing.T) {
	type want struct {
		name   string
		src    NameSource
		vendor string
		random bool
		addrs  []string // among the device's addresses
	}
	const apple = "Apple, Inc."
	tests := map[string]map[string]want{
		"android.pcap": {
			// DHCP DISCOVERs with option 12 (frames 13-57).
			"d8:30:62:56:00:1c": {"Lucas-iMac", NameDHCP, apple, false, []string{"169.254.225.216"}},
			// No host name; REQUEST option 50 and the ACK's yiaddr
			// (frames 71, 72), DHCPv6 SOLICIT from its link-local (69).
			"4c:6a:f6:9f:f6:27": {"", NameNone, "HMD Global Oy", false, []string{"192.168.2.16", "fe80::4e6a:f6ff:fe9f:f627"}},
			// The DHCP server, a randomised MAC (Internet Sharing).
			"c6:2c:03:60:6a:64": {"", NameNone, "", true, []string{"192.168.2.1"}},
		},
		"iphone.pcap": {
			"d8:30:62:56:00:1c": {"Lucas-iMac", NameDHCP, apple, false, []string{"169.254.225.216"}},
			// Frames 3 and 4: mDNS announcement of Lucas-iMac.local, A
			// 192.168.2.1 and AAAA fe80::c42c:3ff:fe60:6a64.
			"c6:2c:03:60:6a:64": {"Lucas-iMac", NameMDNS, "", true, []string{"192.168.2.1", "fe80::c42c:3ff:fe60:6a64"}},
			// Frames 29-36: DISCOVER and REQUEST with option 12, ACK.
			"c4:61:8b:35:82:a9": {"Lucas-iPhone", NameDHCP, apple, false, []string{"192.168.2.17", "fe80::823:3f17:8298:a29c"}},
		},
		"whatsapp_login_call.pcap": {
			"d8:30:62:56:00:1c": {"Lucas-iMac", NameDHCP, apple, false, []string{"169.254.166.207", "fe80::da30:62ff:fe56:1c"}},
			// Frames 864, 865: mDNS answer Lucas-iMac.local A 192.168.2.1.
			"c6:2c:03:60:6a:64": {"Lucas-iMac", NameMDNS, "", true, []string{"192.168.2.1", "fe80::c42c:3ff:fe60:6a64"}},
		},
		"teams.pcap": {
			// A TP-Link switch's DISCOVERs from its old address (frame 1).
			"d8:0d:17:d6:55:ab": {"TL-SG116E", NameDHCP, "TP-LINK TECHNOLOGIES CO.,LTD.", false, []string{"192.168.0.1"}},
			// Frame 250: option 12 holding a dotted name.
			"00:80:8f:9a:ae:bd": {"pi3.ntop.org", NameDHCP, "C. ITOH ELECTRONICS, INC.", false, nil},
		},
		"alexa-app.pcapng": {
			// Frames 7-9: REQUEST with option 12 and 50, the ACK.
			"78:f8:82:d3:fb:c2": {"android-1c1335ec95a27318", NameDHCP, "LG Electronics (Mobile Communications)", false,
				[]string{"172.16.42.216"}},
			"00:c0:ca:91:a3:ef": {"", NameNone, "ALFA, INC.", false, []string{"172.16.42.1"}},
		},
	}
	dir := capturetest.Dir(t)
	vendors := realVendors(t)
	for file, devs := range tests {
		t.Run(file, func(t *testing.T) {
			tr := New(DefaultConfig(), Deps{Vendors: vendors})
			for _, b := range decodeFile(t, filepath.Join(dir, file)) {
				tr.Observe(b)
			}
			got := map[string]Device{}
			for _, d := range tr.Drain(nil) {
				got[d.ID] = d
			}
			for mac, w := range devs {
				d, ok := got[mac]
				if !ok {
					t.Errorf("%s: no device", mac)
					continue
				}
				if d.Hostname != w.name || d.NameSource != w.src || d.Vendor != w.vendor || d.Randomised != w.random {
					t.Errorf("%s: %q (%v) vendor %q randomised %v; want %q (%v) vendor %q randomised %v",
						mac, d.Hostname, d.NameSource, d.Vendor, d.Randomised, w.name, w.src, w.vendor, w.random)
				}
				for _, a := range w.addrs {
					if !slices.ContainsFunc(d.Addrs, func(x Addr) bool { return x.Addr == netip.MustParseAddr(a) }) {
						t.Errorf("%s: address %s missing from %v", mac, a, d.Addrs)
					}
				}
			}
			st := tr.Stats()
			t.Logf("%d devices; names: dhcp %d, mdns %d, netbios %d; messages: dhcp %d, dhcpv6 %d, mdns %d, netbios %d, malformed %d",
				st.Devices, st.Names[NameDHCP], st.Names[NameMDNS], st.Names[NameNetBIOS], st.DHCP, st.DHCPv6, st.MDNS, st.NetBIOS, st.Malformed)
			for _, d := range got {
				t.Logf("  %s %q (%v) %q random=%v addrs=%v", d.ID, d.Hostname, d.NameSource, d.Vendor, d.Randomised, d.Addrs)
			}
		})
	}
}

// TestVendorsRegistry reads Debian's full registry: MA-L, MA-M and MA-S
// lookups, and what it costs in memory.
func TestVendorsRegistry(t *testing.T) {
	v := realVendors(t)
	for mac, want := range map[[6]byte]string{
		{0xd8, 0x30, 0x62, 1, 2, 3}:       "Apple, Inc.",
		{0x4c, 0x6a, 0xf6, 1, 2, 3}:       "HMD Global Oy",
		{0x70, 0xb3, 0xd5, 0xf2, 0xf0, 0}: "TELEPLATFORMS",    // MA-S 70B3D5F2F, inside a MA-L of the IEEE RA
		{0x20, 0x85, 0x93, 0xb0, 0, 0}:    "IOG Products LLC", // MA-M 208593B
		{0x02, 0, 0, 0, 0, 1}:             "",
	} {
		if got := v.Lookup(mac); got != want {
			t.Errorf("%x: %q, want %q", mac, got, want)
		}
	}
	if v.Len() < 40000 {
		t.Errorf("%d assignments, want the whole registry", v.Len())
	}
	t.Logf("%d assignments in %d bytes", v.Len(), v.Bytes())
	if _, err := LoadVendors(filepath.Join(t.TempDir(), "oui.csv")); !errors.Is(err, ErrNoRegistry) {
		t.Errorf("missing file: %v, want ErrNoRegistry", err)
	}
}
