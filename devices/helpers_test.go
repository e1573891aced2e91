package devices

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netmon/netmon/capture"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Test MACs: a globally administered one whose OUI the test registry
// names, a second one, and a randomised ("private Wi-Fi") one.
var (
	macPhone  = [6]byte{0xd8, 0x30, 0x62, 0x56, 0x00, 0x1c}
	macLaptop = [6]byte{0x4c, 0x6a, 0xf6, 0x9f, 0xf6, 0x27}
	macRandom = [6]byte{0xc6, 0x2c, 0x03, 0x60, 0x6a, 0x64}
	macRouter = [6]byte{0x00, 0xc0, 0xca, 0x91, 0xa3, 0xef}
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// udpFrame serializes an Ethernet broadcast frame carrying one UDP datagram.
func udpFrame(t testing.TB, mac [6]byte, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	return frame(t, mac, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src, dst, layers.IPProtocolUDP, udp, payload)
}

// tcpFrame is a TCP segment (ACK) of a flow, for traffic that is not an
// announcement, sent to the gateway's MAC.
func tcpFrame(t testing.TB, mac [6]byte, src, dst netip.Addr, sport, dport uint16) []byte {
	t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true, Window: 1000}
	return frame(t, mac, [6]byte{2, 0, 0, 0, 0, 1}, src, dst, layers.IPProtocolTCP, tcp, nil)
}

// transport is a UDP or TCP layer, whose checksum covers the IP addresses.
type transport interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}

// frame serializes Ethernet from srcMAC to dstMAC, IPv4 or IPv6 (as src
// is) from src to dst, the transport l4 and its payload.
func frame(t testing.TB, srcMAC, dstMAC [6]byte, src, dst netip.Addr, proto layers.IPProtocol, l4 transport, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(srcMAC[:]), DstMAC: net.HardwareAddr(dstMAC[:])}
	var ip gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		l := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, nl = l, l
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		l := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, nl = l, l
	}
	if err := l4.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// decodeFrames writes frames to a pcap file (one per millisecond from t0)
// and reads them back through capture.OpenFile with DefaultFilter and the
// Decoder netmon runs, so the packets are what the pipeline sees.
func decodeFrames(t testing.TB, frames [][]byte) []*capture.Batch {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frames.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return decodeFile(t, path)
}

// decodeFile reads a capture through DefaultFilter and the Decoder.
func decodeFile(t testing.TB, path string) []*capture.Batch {
	t.Helper()
	src, err := capture.OpenFile(path, capture.DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := make(chan *capture.Batch, 1024)
	if err := capture.NewDecoder(capture.DefaultDecoderConfig()).Run(context.Background(), src, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var bs []*capture.Batch
	for b := range out {
		bs = append(bs, b)
	}
	return bs
}

// testVendors is a registry of two assignments, written as ieee-data
// writes it, so that tests of the tracker do not need the package.
func testVendors(t testing.TB) *Vendors {
	t.Helper()
	dir := t.TempDir()
	csv := "Registry,Assignment,Organization Name,Organization Address\n" +
		"MA-L,D83062,\"Apple, Inc.\",1 Infinite Loop Cupertino CA US 95014 \n" +
		"MA-L,4C6AF6,HMD Global Oy,Bertel Jungin aukio 9 Espoo  FI 02600 \n"
	if err := os.WriteFile(filepath.Join(dir, "oui.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := LoadVendors(filepath.Join(dir, "oui.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newTracker is a tracker of the default local networks with the test
// registry.
func newTracker(t testing.TB, cfg Config, deps Deps) *Tracker {
	t.Helper()
	if deps.Vendors == nil {
		deps.Vendors = testVendors(t)
	}
	return New(cfg, deps)
}

// observe runs frames through the decoder and the tracker, and returns
// the tracker's first drain.
func observe(t testing.TB, tr *Tracker, frames ...[]byte) []Device {
	t.Helper()
	for _, b := range decodeFrames(t, frames) {
		tr.Observe(b)
	}
	return tr.Drain(nil)
}

// byID indexes drained devices by ID.
func byID(ds []Device) map[string]Device {
	m := map[string]Device{}
	for _, d := range ds {
		m[d.ID] = d
	}
	return m
}
