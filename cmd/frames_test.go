package cmd

import (
	be "encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frameWriter writes Ethernet frames built in code to a pcap file.
type frameWriter struct {
	t    testing.TB
	f    *os.File
	w    *pcapgo.Writer
	buf  gopacket.SerializeBuffer
	Path string
}

func newFrameWriter(t testing.TB, name string) *frameWriter {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &frameWriter{t: t, f: f, w: w, buf: gopacket.NewSerializeBuffer(), Path: path}
}

func (fw *frameWriter) Close() {
	if err := fw.f.Close(); err != nil {
		fw.t.Fatal(err)
	}
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func (fw *frameWriter) write(ts time.Time, ls ...gopacket.SerializableLayer) {
	if err := gopacket.SerializeLayers(fw.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		fw.t.Fatal(err)
	}
	data := fw.buf.Bytes()
	if err := fw.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		fw.t.Fatal(err)
	}
}

func ipv4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	s, d := src.As4(), dst.As4()
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP(s[:]), DstIP: net.IP(d[:])}
}

// UDP writes one IPv4 UDP datagram.
func (fw *frameWriter) UDP(ts time.Time, src, dst netip.Addr, sport, dport uint16, payload []byte) {
	ip := ipv4(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	fw.write(ts, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(payload))
}

// TCP writes one IPv4 TCP segment; syn makes it a bare SYN, else an ACK
// carrying payload.
func (fw *frameWriter) TCP(ts time.Time, src, dst netip.Addr, sport, dport uint16, seq uint32, syn bool, payload []byte) {
	ip := ipv4(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: syn, ACK: !syn, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	fw.write(ts, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, tcp, gopacket.Payload(payload))
}

// rawDNS builds a DNS message by hand, so that a name may hold any bytes
// in its labels (dnsmessage's builder refuses some): a question for the
// labels, and, for a response, one A answer pointing back at it.
func rawDNS(id uint16, response bool, labels []string, addr netip.Addr) []byte {
	m := make([]byte, 12, 64)
	be.BigEndian.PutUint16(m[0:], id)
	flags := uint16(0x0100) // RD
	if response {
		flags |= 0x8080 // QR, RA
	}
	be.BigEndian.PutUint16(m[2:], flags)
	be.BigEndian.PutUint16(m[4:], 1) // QDCOUNT
	if response {
		be.BigEndian.PutUint16(m[6:], 1) // ANCOUNT
	}
	for _, l := range labels {
		m = append(m, byte(len(l)))
		m = append(m, l...)
	}
	m = append(m, 0, 0, 1, 0, 1) // root, type A, class IN
	if response {
		a := addr.As4()
		m = append(m, 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4) // name → question, A, IN, TTL 300, RDLENGTH 4
		m = append(m, a[:]...)
	}
	return m
}
