package cmd

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netmon/netmon/store/storetest"

	"github.com/netmon/netmon/capture/capturetest"
)

// TestDevicesFromRealCaptures replays the shared captures that carry DHCP
// and mDNS frames through the built binary into the real MariaDB, with a
// config file naming one MAC, and checks what netmon devices and netmon top
// --by device then say. The expected names, MACs and sources are what
// tshark shows in those captures (tshark -Y 'dhcp || mdns || nbns'); the
// vendors are Debian's ieee-data registry's.
func TestDevicesFromRealCaptures(t *testing.T) {
	if _, err := os.Stat("/usr/share/ieee-data/oui.csv"); err != nil {
		capturetest.Missing(t, "no IEEE OUI registry at /usr/share/ieee-data/oui.csv: apt-get install ieee-data")
	}
	dir := pcapDir(t)
	conf := filepath.Join(t.TempDir(), "netmon.yaml")
	// The iMac's own MAC (its DHCP name is Lucas-iMac) gets the user's name,
	// which beats every name the network gives.
	if err := os.WriteFile(conf, []byte("devices:\n  - {mac: \"D8:30:62:56:00:1C\", name: \"Study iMac\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := storetest.NewDSN(t, storetest.MariaDB)
	netmon(t, "migrate", "--dsn", dsn).mustSucceed(t)
	var files []string
	for _, f := range []string{"iphone.pcap", "android.pcap", "teams.pcap", "alexa-app.pcapng"} {
		files = append(files, filepath.Join(dir, f))
	}
	r := netmon(t, append([]string{"replay", "--config", conf, "--dsn", dsn, "--agent", "lan", "--no-ptr"}, files...)...)
	r.mustSucceed(t)

	var doc devicesDoc
	decodeStrict(t, netmon(t, "devices", "--dsn", dsn, "--json").stdout, &doc)
	byMAC := map[string]int{}
	for i, d := range doc.Devices {
		byMAC[d.MAC] = i
	}
	want := []struct {
		mac, hostname, source, vendor string
		randomised                    bool
	}{
		{"d8:30:62:56:00:1c", "Study iMac", "config", "Apple", false},
		{"c4:61:8b:35:82:a9", "Lucas-iPhone", "dhcp", "Apple", false},
		{"c6:2c:03:60:6a:64", "Lucas-iMac", "mdns", "", true}, // a private Wi-Fi address
		{"d8:0d:17:d6:55:ab", "TL-SG116E", "dhcp", "TP-LINK", false},
		{"00:80:8f:9a:ae:bd", "pi3.ntop.org", "dhcp", "", false},
		{"78:f8:82:d3:fb:c2", "android-1c1335ec95a27318", "dhcp", "LG Electronics", false},
		{"4c:6a:f6:9f:f6:27", "", "", "HMD Global", false}, // asked DHCP for an address, gave no name
	}
	for _, w := range want {
		i, ok := byMAC[w.mac]
		if !ok {
			t.Errorf("no device %s in %+v", w.mac, doc.Devices)
			continue
		}
		d := doc.Devices[i]
		if d.Agent != "lan" || d.ID != w.mac || d.Hostname != w.hostname || d.NameSource != w.source ||
			!strings.HasPrefix(d.Vendor, w.vendor) || (w.vendor == "" && w.randomised && d.Vendor != "") || d.Randomised != w.randomised {
			t.Errorf("device %s = %+v, want hostname %q from %q, vendor %q…, randomised %v", w.mac, d, w.hostname, w.source, w.vendor, w.randomised)
		}
	}
	// The Android phone's DHCP name and its LG vendor label its traffic.
	top := topJSONOf(t, "--dsn", dsn, "--since", "all", "--by", "device")
	found := false
	for _, row := range top.Rows {
		if row.Device != nil && row.Device.MAC == "78:f8:82:d3:fb:c2" {
			found = true
			if !strings.HasPrefix(row.Name, "android-1c1335ec95a27318 (LG Electronics") || row.Packets == 0 ||
				len(row.Device.Clients) != 1 || row.Device.Clients[0] != "172.16.42.216" {
				t.Errorf("top --by device, the Android phone: %+v %+v", row, row.Device)
			}
		}
		if row.Name == "172.16.42.216" {
			t.Errorf("the Android phone's traffic is under its bare address: %+v", row)
		}
	}
	if !found {
		t.Errorf("top --by device has no line for the Android phone: %+v", top.Rows)
	}
}

// TestDevicesHostileNamesFromTheWire sends hostile host names the way a
// device would, in a DHCP request (option 12) and an mDNS announcement,
// through the built binary into the real MariaDB: the database holds their
// bytes verbatim, and netmon devices shows them escaped.
func TestDevicesHostileNamesFromTheWire(t *testing.T) {
	dhcpName := "a'b\"c\\d\x1b[2J\x07" + strings.Repeat("x", 255-13) // 255 bytes: the most option 12 holds
	mdnsName := "q'); DROP TABLE devices; --\r\n\x1b]0;owned\x07"
	dhcpMAC := net.HardwareAddr{0x3c, 0x22, 0xfb, 0x11, 0x22, 0x33}
	mdnsMAC := net.HardwareAddr{0x3c, 0x22, 0xfb, 0x44, 0x55, 0x66}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ts := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

	fw := newFrameWriter(t, "hostile.pcap")
	dhcp := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		Xid: 0x1234, ClientHWAddr: dhcpMAC, Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeRequest)}),
			layers.NewDHCPOption(layers.DHCPOptRequestIP, []byte{192, 168, 1, 50}),
			layers.NewDHCPOption(layers.DHCPOptHostname, []byte(dhcpName)),
		}}
	ip := ipv4(netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 68, DstPort: 67}
	_ = udp.SetNetworkLayerForChecksum(ip)
	fw.write(ts, &layers.Ethernet{SrcMAC: dhcpMAC, DstMAC: bcast, EthernetType: layers.EthernetTypeIPv4}, ip, udp, dhcp)

	mdnsAddr := netip.MustParseAddr("192.168.1.51")
	msg := rawDNS(0, true, []string{mdnsName, "local"}, mdnsAddr)
	msg[2] |= 0x04 // AA, as an announcement has it
	ip = ipv4(mdnsAddr, netip.MustParseAddr("224.0.0.251"), layers.IPProtocolUDP)
	udp = &layers.UDP{SrcPort: 5353, DstPort: 5353}
	_ = udp.SetNetworkLayerForChecksum(ip)
	fw.write(ts.Add(time.Second), &layers.Ethernet{SrcMAC: mdnsMAC, DstMAC: net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 0xfb},
		EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(msg))
	fw.Close()

	dsn, db := migratedDB(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "lan", "--no-ptr", fw.Path).mustSucceed(t)

	var stored []struct {
		MAC      string `db:"mac"`
		Hostname []byte `db:"hostname"`
		Source   string `db:"name_source"`
	}
	if err := db.Select(&stored, `SELECT mac, hostname, name_source FROM devices WHERE agent = 'lan' ORDER BY mac`); err != nil {
		t.Fatal(err)
	}
	want := []struct{ mac, name, source string }{
		{dhcpMAC.String(), dhcpName, "dhcp"},
		{mdnsMAC.String(), mdnsName, "mdns"},
	}
	if len(stored) != len(want) {
		t.Fatalf("stored %d devices, want %d: %+v", len(stored), len(want), stored)
	}
	for i, w := range want {
		if s := stored[i]; s.MAC != w.mac || string(s.Hostname) != w.name || s.Source != w.source {
			t.Errorf("stored %s %q (%s), want %s %q (%s)", s.MAC, s.Hostname, s.Source, w.mac, w.name, w.source)
		}
	}

	r := netmon(t, "devices", "--dsn", dsn, "--agent", "lan")
	r.mustSucceed(t)
	checkTerminalSafe(t, r.stdout)
	for _, w := range []string{`a'b"c\\d\x1b[2J\a`, `q'); DROP TABLE devices; --…`} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no %q in\n%s", w, r.stdout)
		}
	}
}
