package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/netmon/netmon/capture/capturetest"
)

// Addresses of the frames built in tests (documentation ranges).
var (
	client4 = netip.MustParseAddr("192.0.2.10")
	server4 = netip.MustParseAddr("198.51.100.20")
	client6 = netip.MustParseAddr("2001:db8::10")
	server6 = netip.MustParseAddr("2001:db8:1::20")
)

// flow describes the IP packet a test frame carries.
type flow struct {
	v6         bool
	proto      uint8 // ProtoTCP or ProtoUDP
	sport      uint16
	dport      uint16
	flags      uint8 // TCP flags byte as on the wire
	seq        uint32
	payload    []byte
	ipv4Option bool // add an IPv4 option, so the IHL is not 5
	back       bool // from the server to the client
}

func (f flow) addrs() (src, dst netip.Addr) {
	src, dst = client4, server4
	if f.v6 {
		src, dst = client6, server6
	}
	if f.back {
		src, dst = dst, src
	}
	return src, dst
}

// ipPacket serializes f as an IPv4 or IPv6 packet with real lengths and
// checksums.
func ipPacket(t testing.TB, f flow) []byte {
	t.Helper()
	src, dst := f.addrs()
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if f.v6 {
		l := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
			NextHeader: layers.IPProtocol(f.proto)}
		ip, ipl = l, l
	} else {
		l := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
			Protocol: layers.IPProtocol(f.proto)}
		if f.ipv4Option {
			l.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
		}
		ip, ipl = l, l
	}
	var tl gopacket.SerializableLayer
	switch f.proto {
	case ProtoTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), Seq: f.seq, Window: 65535,
			FIN: f.flags&0x01 != 0, SYN: f.flags&0x02 != 0, RST: f.flags&0x04 != 0, PSH: f.flags&0x08 != 0,
			ACK: f.flags&0x10 != 0, URG: f.flags&0x20 != 0, ECE: f.flags&0x40 != 0, CWR: f.flags&0x80 != 0,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		tl = tcp
	case ProtoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		tl = udp
	default:
		tl = gopacket.Payload(nil)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ipl, tl, gopacket.Payload(f.payload)); err != nil {
		t.Fatalf("serialize %+v: %v", f, err)
	}
	return bytes.Clone(buf.Bytes())
}

func ethertypeOf(ip []byte) uint16 {
	if ip[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

var (
	macDst = []byte{0x02, 0, 0, 0, 0, 0x01}
	macSrc = []byte{0x02, 0, 0, 0, 0, 0x02}
)

// ether builds an Ethernet frame padded to the 60-byte minimum, as a NIC
// sends it (without FCS).
func ether(ethertype uint16, payload []byte) []byte {
	f := cat(macDst, macSrc, be16(ethertype), payload)
	if len(f) < 60 {
		f = append(f, make([]byte, 60-len(f))...)
	}
	return f
}

// tag is an 802.1Q tag body: TCI then the type of what follows.
func tag(vid, next uint16) []byte { return cat(be16(vid&0xfff), be16(next)) }

// pppoeSession is a PPPoE session header with the PPP protocol field.
func pppoeSession(ip []byte) []byte {
	proto := uint16(0x0021)
	if ip[0]>>4 == 6 {
		proto = 0x0057
	}
	return cat([]byte{0x11, 0x00}, be16(0x1234), be16(uint16(len(ip)+2)), be16(proto), ip)
}

// linkCase wraps an IP packet in one kind of link-layer framing.
type linkCase struct {
	name string
	lt   layers.LinkType
	only int // 4 or 6 when the link type carries one IP version only
	wrap func(ip []byte) []byte
}

func linkCases() []linkCase {
	family := func(ip []byte, v4, v6 uint32, order binary.AppendByteOrder) []byte {
		fam := v4
		if ip[0]>>4 == 6 {
			fam = v6
		}
		return cat(order.AppendUint32(nil, fam), ip)
	}
	return []linkCase{
		{"ethernet", layers.LinkTypeEthernet, 0, func(ip []byte) []byte { return ether(ethertypeOf(ip), ip) }},
		{"dot1q", layers.LinkTypeEthernet, 0, func(ip []byte) []byte {
			return ether(0x8100, cat(tag(100, ethertypeOf(ip)), ip))
		}},
		{"qinq-88a8", layers.LinkTypeEthernet, 0, func(ip []byte) []byte {
			return ether(0x88a8, cat(tag(10, 0x8100), tag(20, ethertypeOf(ip)), ip))
		}},
		{"qinq-9100", layers.LinkTypeEthernet, 0, func(ip []byte) []byte {
			return ether(0x9100, cat(tag(10, 0x8100), tag(20, ethertypeOf(ip)), ip))
		}},
		{"pppoe", layers.LinkTypeEthernet, 0, func(ip []byte) []byte { return ether(0x8864, pppoeSession(ip)) }},
		{"vlan-pppoe", layers.LinkTypeEthernet, 0, func(ip []byte) []byte {
			return ether(0x8100, cat(tag(7, 0x8864), pppoeSession(ip)))
		}},
		// PPPoE inside QinQ: an S-tag, a C-tag, then the session.
		{"qinq-pppoe", layers.LinkTypeEthernet, 0, func(ip []byte) []byte {
			return ether(0x88a8, cat(tag(10, 0x8100), tag(7, 0x8864), pppoeSession(ip)))
		}},
		{"qinq-9100-pppoe", layers.LinkTypeEthernet, 0, func(ip []byte) []byte {
			return ether(0x9100, cat(tag(10, 0x8100), tag(7, 0x8864), pppoeSession(ip)))
		}},
		{"sll", layers.LinkTypeLinuxSLL, 0, func(ip []byte) []byte {
			// packet type 0 (to us), ARPHRD_ETHER, 6-byte address in an 8-byte field
			return cat(be16(0), be16(1), be16(6), macSrc, []byte{0, 0}, be16(ethertypeOf(ip)), ip)
		}},
		{"sll2", layers.LinkTypeLinuxSLL2, 0, func(ip []byte) []byte {
			return cat(be16(ethertypeOf(ip)), be16(0), binary.BigEndian.AppendUint32(nil, 2), be16(1),
				[]byte{4, 6}, macSrc, []byte{0, 0}, ip) // outgoing, 6-byte address
		}},
		{"null", layers.LinkTypeNull, 0, func(ip []byte) []byte { return family(ip, 2, 30, binary.LittleEndian) }},
		{"null-linux-af", layers.LinkTypeNull, 0, func(ip []byte) []byte { return family(ip, 2, 10, binary.LittleEndian) }},
		{"loop", layers.LinkTypeLoop, 0, func(ip []byte) []byte { return family(ip, 2, 24, binary.BigEndian) }},
		{"raw-101", layers.LinkTypeRaw, 0, func(ip []byte) []byte { return ip }},
		{"raw-12", 12, 0, func(ip []byte) []byte { return ip }},
		{"raw-14", 14, 0, func(ip []byte) []byte { return ip }},
		{"ipv4-228", layers.LinkTypeIPv4, 4, func(ip []byte) []byte { return ip }},
		{"ipv6-229", layers.LinkTypeIPv6, 6, func(ip []byte) []byte { return ip }},
		{"ppp", layers.LinkTypePPP, 0, func(ip []byte) []byte {
			proto := uint16(0x0021)
			if ip[0]>>4 == 6 {
				proto = 0x0057
			}
			return cat([]byte{0xff, 0x03}, be16(proto), ip)
		}},
		// DLT_PPP without the HDLC address and control bytes, as many
		// PPP captures are written.
		{"ppp-no-address", layers.LinkTypePPP, 0, func(ip []byte) []byte {
			proto := uint16(0x0021)
			if ip[0]>>4 == 6 {
				proto = 0x0057
			}
			return cat(be16(proto), ip)
		}},
	}
}

// record is one frame of a test capture.
type record struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func rec(ts time.Time, data []byte) record {
	return record{ci: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data: data}
}

// writePcap writes records to a classic pcap file (nanosecond variant) in
// dir. It is written by hand: gopacket's pcapgo needs golang.org/x/sys,
// which the module does not require.
func writePcap(t testing.TB, dir, name string, lt layers.LinkType, recs []record) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pcapBytes(lt, recs), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func pcapBytes(lt layers.LinkType, recs []record) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b23c4d) // nanosecond timestamps
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0) // thiszone
	b = le.AppendUint32(b, 0) // sigfigs
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, uint32(lt))
	for _, r := range recs {
		b = le.AppendUint32(b, uint32(r.ci.Timestamp.Unix()))
		b = le.AppendUint32(b, uint32(r.ci.Timestamp.Nanosecond()))
		b = le.AppendUint32(b, uint32(len(r.data)))
		b = le.AppendUint32(b, uint32(r.ci.Length))
		b = append(b, r.data...)
	}
	return b
}

// pcapngBytes writes records as pcapng: a section header, one interface
// with nanosecond timestamps, and an enhanced packet block per record.
func pcapngBytes(lt layers.LinkType, recs []record) []byte {
	frames := make([]capturetest.Frame, len(recs))
	for i, r := range recs {
		frames[i] = capturetest.Frame{Ticks: uint64(r.ci.Timestamp.UnixNano()), Data: r.data, OrigLen: r.ci.Length}
	}
	return capturetest.PcapNG(lt, 0, frames...)
}

// collect runs a new Decoder over src and returns every Packet, with its
// payload copied out of the released batch.
func collect(t testing.TB, src Source, cfg DecoderConfig) ([]Packet, DecoderStats, error) {
	t.Helper()
	return collectCtx(context.Background(), t, src, NewDecoder(cfg))
}

func collectCtx(ctx context.Context, t testing.TB, src Source, d *Decoder) ([]Packet, DecoderStats, error) {
	t.Helper()
	out := make(chan *Batch, 4)
	done := make(chan []Packet)
	go func() {
		var pkts []Packet
		for b := range out {
			for _, p := range b.Packets {
				p.Payload = bytes.Clone(p.Payload)
				pkts = append(pkts, p)
			}
			b.Release()
		}
		done <- pkts
	}()
	err := d.Run(ctx, src, out)
	close(out)
	return <-done, d.Stats(), err
}

// memSource replays frames from memory, then returns end.
type memSource struct {
	lt   layers.LinkType
	recs []record
	i    int
	end  error // io.EOF when nil
}

func (s *memSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if s.i >= len(s.recs) {
		if s.end != nil {
			return nil, gopacket.CaptureInfo{}, s.end
		}
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	r := s.recs[s.i]
	s.i++
	return r.data, r.ci, nil
}

func (s *memSource) LinkType() layers.LinkType { return s.lt }
func (s *memSource) Stats() (Stats, error)     { return Stats{}, nil }
func (s *memSource) Close()                    {}

// loopbackUp reports whether live tests can use the lo interface.
func loopbackUp() bool {
	ifc, err := net.InterfaceByName("lo")
	return err == nil && ifc.Flags&net.FlagUp != 0
}

// with returns netmon's decoder configuration changed by f.
func with(f func(*DecoderConfig)) DecoderConfig {
	cfg := DefaultDecoderConfig()
	f(&cfg)
	return cfg
}
