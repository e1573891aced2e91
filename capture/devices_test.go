package capture

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// devicePort reports whether p is one of DefaultDevicePorts.
func devicePort(p uint16) bool { return slices.Contains(DefaultDevicePorts(), p) }

// TestDefaultFilterDevicePorts checks the device protocols' UDP ports pass
// DefaultFilter untagged and behind VLAN tags, in both directions and over
// IPv4 and IPv6, but not over TCP and not inside PPPoE (the WAN side).
func TestDefaultFilterDevicePorts(t *testing.T) {
	bpf, err := pcap.NewBPF(layers.LinkTypeEthernet, 65535, DefaultFilter)
	if err != nil {
		t.Fatalf("DefaultFilter does not compile: %v", err)
	}
	plain, err := pcap.NewBPF(12, 65535, PlainFilter) // DLT_RAW; libpcap knows 101 by this number
	if err != nil {
		t.Fatalf("PlainFilter does not compile: %v", err)
	}
	for _, lc := range linkCases() {
		if lc.lt != layers.LinkTypeEthernet && lc.lt != layers.LinkTypeRaw {
			// Raw IP stands for the link types that get PlainFilter.
			continue
		}
		inPPPoE := strings.HasSuffix(lc.name, "pppoe")
		for _, port := range append(DefaultDevicePorts(), 138, 5355) {
			for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
				for _, v6 := range []bool{false, true} {
					for _, back := range []bool{false, true} {
						f := flow{v6: v6, proto: proto, sport: 40000, dport: port, back: back, payload: []byte("device")}
						frame := lc.wrap(ipPacket(t, f))
						ci := gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}
						want := proto == ProtoUDP && devicePort(port) && !inPPPoE
						prog := bpf
						if lc.lt == layers.LinkTypeRaw {
							prog = plain
						}
						if got := prog.Matches(ci, frame); got != want {
							t.Errorf("%s %s port %d v6=%v back=%v: Matches = %v, want %v",
								lc.name, map[uint8]string{ProtoTCP: "tcp", ProtoUDP: "udp"}[proto], port, v6, back, got, want)
						}
					}
				}
			}
		}
	}
}

// TestDecodeDevicePayloads checks the Decoder copies the payload of UDP
// datagrams on the device ports in both directions, and nothing of the
// same ports over TCP, nor of device ports it was not given.
func TestDecodeDevicePayloads(t *testing.T) {
	body := []byte("\x01\x01\x06\x00device-announcement")
	var recs []record
	type want struct {
		port    uint16
		proto   uint8
		payload bool
	}
	var wants []want
	for _, port := range []uint16{67, 68, 137, 546, 547, 5353, 5355} {
		for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
			for _, back := range []bool{false, true} {
				f := flow{proto: proto, sport: 40000, dport: port, back: back, payload: body, flags: 0x18}
				recs = append(recs, rec(t0, ether(0x0800, ipPacket(t, f))))
				wants = append(wants, want{port, proto, proto == ProtoUDP && port != 5355})
			}
		}
	}
	for _, cfg := range []DecoderConfig{DefaultDecoderConfig(), with(func(c *DecoderConfig) { c.DevicePorts = nil })} {
		t.Run(fmt.Sprintf("DevicePorts=%v", cfg.DevicePorts), func(t *testing.T) {
			src, err := OpenFile(writePcap(t, t.TempDir(), "devices.pcap", layers.LinkTypeEthernet, recs), "")
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, _, err := collect(t, src, cfg)
			if err != nil || len(got) != len(wants) {
				t.Fatalf("%d packets, err %v; want %d", len(got), err, len(wants))
			}
			for i, w := range wants {
				keep := w.payload && len(cfg.DevicePorts) > 0
				if has := got[i].Payload != nil; has != keep {
					t.Errorf("port %d proto %d (%d→%d): payload kept = %v, want %v",
						w.port, w.proto, got[i].SrcPort, got[i].DstPort, has, keep)
				}
				if keep && string(got[i].Payload) != string(body) {
					t.Errorf("port %d: payload %q", w.port, got[i].Payload)
				}
				if got[i].SrcMAC != [6]byte(macSrc) {
					t.Errorf("port %d: SrcMAC %x, want %x", w.port, got[i].SrcMAC, macSrc)
				}
			}
		})
	}
}

// TestSourceMACLinks checks which link types give a source MAC: an SLL
// header with an address that is not 6 bytes long gives none, and a frame
// of a raw link type never has one, even right after an Ethernet frame.
func TestSourceMACLinks(t *testing.T) {
	ip := ipPacket(t, flow{proto: ProtoUDP, sport: 68, dport: 67, payload: []byte("x")})
	sllLong := cat(be16(0), be16(1), be16(8), []byte{1, 2, 3, 4, 5, 6, 7, 8}, be16(0x0800), ip)
	d := NewDecoder(DefaultDecoderConfig())
	for _, c := range []struct {
		name string
		lk   link
		data []byte
		want [6]byte
	}{
		{"ethernet", linkEthernet, ether(0x0800, ip), [6]byte(macSrc)},
		{"raw after ethernet", linkRawIP, ip, [6]byte{}},
		{"sll 8-byte address", linkSLL, sllLong, [6]byte{}},
		{"vlan", linkEthernet, ether(0x8100, cat(tag(5, 0x0800), ip)), [6]byte(macSrc)},
		{"pppoe", linkEthernet, ether(0x8864, pppoeSession(ip)), [6]byte(macSrc)},
	} {
		b := NewBatch()
		if !d.decode(c.lk, c.data, gopacket.CaptureInfo{CaptureLength: len(c.data), Length: len(c.data)}, b) {
			t.Fatalf("%s: not decoded", c.name)
		}
		if got := b.Packets[0].SrcMAC; got != c.want {
			t.Errorf("%s: SrcMAC %x, want %x", c.name, got, c.want)
		}
	}
}
