package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var cmpPacket = cmpopts.EquateComparable(netip.Addr{})

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// TestDecodeLinkTypes writes frames of every supported link type, IPv4 and
// IPv6, TCP and UDP, port 53 and 443, to a capture file of that link type
// and checks every field of every Packet read back.
func TestDecodeLinkTypes(t *testing.T) {
	dns := []byte("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
	tls := []byte("\x16\x03\x01\x00\x05hello")
	for _, lc := range linkCases() {
		t.Run(lc.name, func(t *testing.T) {
			var recs []record
			var want []Packet
			for _, v6 := range []bool{false, true} {
				if (lc.only == 4 && v6) || (lc.only == 6 && !v6) {
					continue
				}
				for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
					for _, port := range []uint16{53, 443} {
						f := flow{v6: v6, proto: proto, sport: 50000 + port, dport: port, payload: tls,
							ipv4Option: port == 443}
						if port == 53 {
							f.payload = dns
						}
						var flags uint8
						if proto == ProtoTCP {
							// SYN with ECN setup: ECE and CWR must be cleared.
							f.flags, f.seq, flags = 0x02|0x40|0x80, 0xdeadbeef, 0x02
						}
						data := lc.wrap(ipPacket(t, f))
						ts := t0.Add(time.Duration(len(recs)) * time.Millisecond)
						r := rec(ts, data)
						r.ci.Length += 4 // the FCS the NIC stripped: WireLen must come from here
						recs = append(recs, r)
						src, dst := f.addrs()
						p := Packet{TS: ts, WireLen: uint32(len(data) + 4), Src: src, Dst: dst,
							SrcPort: f.sport, DstPort: f.dport, Proto: proto, TCPFlags: flags, Seq: f.seq}
						switch lc.lt {
						case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2:
							p.SrcMAC = [6]byte(macSrc) // behind tags and PPPoE too
						}
						switch {
						case port == 53:
							p.Payload = dns
						case proto == ProtoTCP:
							// A ClientHello in the SYN (TCP Fast Open) is
							// the connection's first bytes.
							p.Payload = tls
						}
						want = append(want, p)
					}
				}
			}
			path := writePcap(t, t.TempDir(), lc.name+".pcap", lc.lt, recs)
			src, err := OpenFile(path, "")
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, st, err := collect(t, src, DefaultDecoderConfig())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(want, got, cmpPacket); diff != "" {
				t.Errorf("packets (-want +got):\n%s", diff)
			}
			if st.Read != uint64(len(recs)) || st.Decoded != uint64(len(recs)) {
				t.Errorf("stats %+v, want %d read and decoded", st, len(recs))
			}
		})
	}
}

// TestDecodeSkips checks that frames without a TCP/UDP packet are skipped
// and counted under the right reason, and never panic.
func TestDecodeSkips(t *testing.T) {
	udp4 := ipPacket(t, flow{proto: ProtoUDP, sport: 5353, dport: 53, payload: []byte("q")})
	tcp6 := ipPacket(t, flow{v6: true, proto: ProtoTCP, sport: 40000, dport: 443})
	icmp := ipPacket(t, flow{proto: 1, payload: []byte{8, 0, 0, 0, 0, 0, 0, 0}})
	arp := ether(0x0806, make([]byte, 28))
	lldp := ether(0x88cc, make([]byte, 20))
	mpls := ether(0x8847, cat([]byte{0, 0, 0x11, 64}, udp4))
	lcp := ether(0x8864, cat([]byte{0x11, 0x00}, be16(1), be16(6), be16(0xc021), []byte{1, 1, 0, 4}))
	badPPPoE := ether(0x8864, cat([]byte{0x22, 0x00}, be16(1), be16(4), be16(0x0021), []byte{0x45, 0}))
	badIHL := ether(0x0800, cat([]byte{0x44}, udp4[1:])) // IHL 4 < 5
	deepTags := cat(macDst, macSrc, be16(0x8100))
	for range 10 {
		deepTags = cat(deepTags, tag(1, 0x9100))
	}
	tests := []struct {
		name  string
		lt    layers.LinkType
		frame []byte
		snap  int // capture only this many bytes, as a snap length would
		want  DecoderStats
	}{
		{"arp", layers.LinkTypeEthernet, arp, 0, DecoderStats{NotIP: 1}},
		{"lldp", layers.LinkTypeEthernet, lldp, 0, DecoderStats{NotIP: 1}},
		{"icmp", layers.LinkTypeEthernet, ether(0x0800, icmp), 0, DecoderStats{OtherIP: 1}},
		{"mpls", layers.LinkTypeEthernet, mpls, 0, DecoderStats{UnsupportedEncap: 1}},
		{"pppoe-lcp", layers.LinkTypeEthernet, lcp, 0, DecoderStats{NotIP: 1}},
		{"pppoe-bad-version", layers.LinkTypeEthernet, badPPPoE, 0, DecoderStats{Malformed: 1}},
		{"ipv4-bad-ihl", layers.LinkTypeEthernet, badIHL, 0, DecoderStats{Malformed: 1}},
		{"too-many-tags", layers.LinkTypeEthernet, deepTags, 0, DecoderStats{UnsupportedEncap: 1}},
		{"empty", layers.LinkTypeEthernet, nil, 0, DecoderStats{Truncated: 1}},
		{"ethernet-short", layers.LinkTypeEthernet, macDst, 0, DecoderStats{Truncated: 1}},
		{"ethernet-only", layers.LinkTypeEthernet, cat(macDst, macSrc, be16(0x0800)), 0, DecoderStats{Truncated: 1}},
		{"snap-in-ip-header", layers.LinkTypeEthernet, ether(0x0800, udp4), 14 + 12, DecoderStats{Truncated: 1}},
		{"snap-after-ip-header", layers.LinkTypeEthernet, ether(0x0800, udp4), 14 + 20, DecoderStats{Truncated: 1}},
		{"snap-in-tcp-header", layers.LinkTypeEthernet, ether(0x86dd, tcp6), 14 + 40 + 10, DecoderStats{Truncated: 1}},
		{"snap-in-payload", layers.LinkTypeEthernet, ether(0x0800, udp4), 14 + 28, DecoderStats{Decoded: 1, PartialPayload: 1}},
		{"raw-not-ip", layers.LinkTypeRaw, []byte{0x10, 1, 2, 3}, 0, DecoderStats{NotIP: 1}},
		{"raw-empty", layers.LinkTypeRaw, []byte{}, 0, DecoderStats{Truncated: 1}},
		{"loopback-unknown-family", layers.LinkTypeNull, cat([]byte{99, 0, 0, 0}, udp4), 0, DecoderStats{NotIP: 1}},
		{"sll-too-short", layers.LinkTypeLinuxSLL, make([]byte, 10), 0, DecoderStats{Truncated: 1}},
		{"sll-bad-address-length", layers.LinkTypeLinuxSLL, cat(be16(0), be16(1), be16(9), make([]byte, 10), udp4), 0, DecoderStats{Malformed: 1}},
		{"ppp-ipcp", layers.LinkTypePPP, cat([]byte{0xff, 0x03}, be16(0x8021), []byte{1, 1, 0, 4}), 0, DecoderStats{NotIP: 1}},
		{"ppp-compressed-proto", layers.LinkTypePPP, cat([]byte{0x21}, udp4), 0, DecoderStats{Decoded: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(t0, tt.frame)
			if tt.snap > 0 {
				r.data = r.data[:tt.snap]
				r.ci.CaptureLength = tt.snap
			}
			_, st, err := collect(t, &memSource{lt: tt.lt, recs: []record{r}}, DefaultDecoderConfig())
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Read = 1
			if tt.want.Decoded > 0 {
				tt.want.Batches = 1
			}
			if diff := cmp.Diff(tt.want, st); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeOtherIPEmitted(t *testing.T) {
	frame := ether(0x86dd, ipPacket(t, flow{v6: true, proto: 58, payload: []byte{128, 0, 0, 0, 0, 1, 0, 1}}))
	got, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: []record{rec(t0, frame)}},
		with(func(c *DecoderConfig) { c.OtherIP = true }))
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{{TS: t0, WireLen: uint32(len(frame)), Src: client6, Dst: server6, Proto: 58, SrcMAC: [6]byte(macSrc)}}
	if diff := cmp.Diff(want, got, cmpPacket); diff != "" {
		t.Errorf("packets (-want +got):\n%s", diff)
	}
	if st.OtherIP != 1 || st.Decoded != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDecodeIPv6ExtensionHeaders puts destination options, routing and
// hop-by-hop headers in front of UDP.
func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	udp := ipPacket(t, flow{v6: true, proto: ProtoUDP, sport: 53, dport: 33333, payload: []byte("answer")})
	hdr, l4 := udp[:40], udp[40:]
	ext := func(next byte) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} } // PadN
	routing := []byte{60, 0, 0, 0, 0, 0, 0, 0}                                 // type 0, no segments left, then destination options
	pkt := cat(hdr, ext(43), routing, ext(17), l4)
	pkt[6] = 0 // hop-by-hop first
	copy(pkt[4:6], be16(uint16(len(pkt)-40)))
	got, _, err := collect(t, &memSource{lt: layers.LinkTypeRaw, recs: []record{rec(t0, pkt)}}, DefaultDecoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{{TS: t0, WireLen: uint32(len(pkt)), Src: client6, Dst: server6, SrcPort: 53, DstPort: 33333,
		Proto: ProtoUDP, Payload: []byte("answer")}}
	if diff := cmp.Diff(want, got, cmpPacket); diff != "" {
		t.Errorf("packets (-want +got):\n%s", diff)
	}
}

// fragments4 cuts an IPv4 packet into fragments of at most size payload
// bytes (a multiple of 8).
func fragments4(t testing.TB, pkt []byte, size int) [][]byte {
	t.Helper()
	var ip layers.IPv4
	if err := ip.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	payload := ip.Payload
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := ip
		f.Options = nil
		f.FragOffset = uint16(off / 8)
		f.Flags = 0
		if end < len(payload) {
			f.Flags = layers.IPv4MoreFragments
		}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&f, gopacket.Payload(payload[off:end]))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(buf.Bytes()))
	}
	return out
}

// fragments6 cuts an IPv6 packet into fragments with a Fragment header.
func fragments6(t testing.TB, pkt []byte, size int, id uint32) [][]byte {
	t.Helper()
	var ip layers.IPv6
	if err := ip.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	payload := ip.Payload
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		h := ip
		h.NextHeader = layers.IPProtocolIPv6Fragment
		fh := &layers.IPv6Fragment{NextHeader: ip.NextHeader, FragmentOffset: uint16(off / 8),
			MoreFragments: end < len(payload), Identification: id}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
			&h, fh, gopacket.Payload(payload[off:end]))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(buf.Bytes()))
	}
	return out
}

// bigDNS is a DNS response too large for one 1500-byte frame.
func bigDNS() []byte {
	b := []byte("\xab\xcd\x81\x80\x00\x01\x00\x40\x00\x00\x00\x00\x03big\x07example\x00\x00\x1c\x00\x01")
	for i := range 0x40 {
		// AAAA answers pointing at the question name
		b = append(b, 0xc0, 0x0c, 0, 0x1c, 0, 1, 0, 0, 0x0e, 0x10, 0, 16)
		b = append(b, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i))
		b = append(b, make([]byte, 20)...) // pad each record past 1500 bytes total
	}
	return b
}

func TestDecodeFragments(t *testing.T) {
	dns := bigDNS()
	resp4 := ipPacket(t, flow{proto: ProtoUDP, sport: 53, dport: 40000, payload: dns})
	resp6 := ipPacket(t, flow{v6: true, proto: ProtoUDP, sport: 53, dport: 40000, payload: dns})
	tests := []struct {
		name  string
		frags [][]byte
		v6    bool
		order []int // delivery order of the fragments
	}{
		{"ipv4-in-order", fragments4(t, resp4, 1480), false, nil},
		{"ipv4-reversed", fragments4(t, resp4, 1480), false, []int{2, 1, 0}},
		{"ipv4-small", fragments4(t, resp4, 512), false, nil},
		{"ipv6-in-order", fragments6(t, resp6, 1448, 7), true, nil},
		{"ipv6-reversed", fragments6(t, resp6, 1448, 7), true, []int{2, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.frags) < 2 {
				t.Fatalf("only %d fragments", len(tt.frags))
			}
			order := tt.order
			if order == nil {
				for i := range tt.frags {
					order = append(order, i)
				}
			}
			var recs []record
			var wire uint32
			// An unrelated packet first, so that the datagram lands in a
			// batch with others.
			recs = append(recs, rec(t0, ether(0x0800, ipPacket(t, flow{proto: ProtoTCP, sport: 1, dport: 443}))))
			for i, k := range order {
				et := uint16(0x0800)
				if tt.v6 {
					et = 0x86dd
				}
				data := ether(et, tt.frags[k])
				recs = append(recs, rec(t0.Add(time.Duration(i+1)*time.Millisecond), data))
				wire += uint32(len(data))
			}
			got, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, DefaultDecoderConfig())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("got %d packets, want 2; stats %+v", len(got), st)
			}
			p := got[1]
			src, dst := flow{v6: tt.v6}.addrs()
			want := Packet{TS: recs[len(recs)-1].ci.Timestamp, WireLen: wire, Src: src, Dst: dst,
				SrcPort: 53, DstPort: 40000, Proto: ProtoUDP, Payload: dns, SrcMAC: [6]byte(macSrc)}
			if diff := cmp.Diff(want, p, cmpPacket); diff != "" {
				t.Errorf("reassembled packet (-want +got):\n%s", diff)
			}
			wantSt := DecoderStats{Read: uint64(len(recs)), Decoded: 2, FragmentsHeld: uint64(len(order) - 1),
				Reassembled: 1, Batches: 1}
			if diff := cmp.Diff(wantSt, st); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFragmentLimits checks the age limit (packet time) and the cap on
// datagrams waiting for fragments.
func TestFragmentLimits(t *testing.T) {
	dns := bigDNS()
	mk := func(id uint16) [][]byte {
		pkt := ipPacket(t, flow{proto: ProtoUDP, sport: 53, dport: 40000 + id, payload: dns})
		pkt[4], pkt[5] = byte(id>>8), byte(id) // IPv4 identification
		return fragments4(t, pkt, 1480)
	}
	other := ether(0x0800, ipPacket(t, flow{proto: ProtoTCP, sport: 1, dport: 443}))

	t.Run("expiry", func(t *testing.T) {
		a := mk(1)
		recs := []record{
			rec(t0, ether(0x0800, a[0])),
			rec(t0.Add(10*time.Second), other),
			rec(t0.Add(45*time.Second), other), // the first fragment is now too old
			rec(t0.Add(46*time.Second), ether(0x0800, a[1])),
			rec(t0.Add(46*time.Second), ether(0x0800, a[2])),
		}
		_, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, DefaultDecoderConfig())
		if err != nil {
			t.Fatal(err)
		}
		if st.FragmentsExpired != 1 || st.Reassembled != 0 || st.FragmentsHeld != 3 {
			t.Errorf("stats %+v: want 1 expired, 0 reassembled, 3 held", st)
		}
	})
	t.Run("within-time", func(t *testing.T) {
		a := mk(1)
		recs := []record{
			rec(t0, ether(0x0800, a[0])),
			rec(t0.Add(14*time.Second), ether(0x0800, a[1])),
			rec(t0.Add(16*time.Second), other), // a new generation starts; a is kept
			rec(t0.Add(20*time.Second), ether(0x0800, a[2])),
		}
		_, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, DefaultDecoderConfig())
		if err != nil {
			t.Fatal(err)
		}
		if st.FragmentsExpired != 0 || st.Reassembled != 1 {
			t.Errorf("stats %+v: want 0 expired, 1 reassembled", st)
		}
	})
	t.Run("cap", func(t *testing.T) {
		var recs []record
		for id := range uint16(3) {
			recs = append(recs, rec(t0, ether(0x0800, mk(id)[0])))
		}
		recs = append(recs, rec(t0, ether(0x0800, mk(0)[1])), rec(t0, ether(0x0800, mk(0)[2])))
		_, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs},
			with(func(c *DecoderConfig) { c.MaxPendingDatagrams = 2 }))
		if err != nil {
			t.Fatal(err)
		}
		if st.FragmentsDropped != 1 || st.Reassembled != 1 {
			t.Errorf("stats %+v: want 1 dropped (third datagram), 1 reassembled", st)
		}
	})
	t.Run("too-many-pieces", func(t *testing.T) {
		pkt := ipPacket(t, flow{proto: ProtoUDP, sport: 53, dport: 40000, payload: dns})
		frags := fragments4(t, pkt, 16)
		var recs []record
		for _, f := range frags {
			recs = append(recs, rec(t0, ether(0x0800, f)))
		}
		_, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, DefaultDecoderConfig())
		if err != nil {
			t.Fatal(err)
		}
		if st.Reassembled != 0 || st.FragmentsHeld != maxFragmentsPerDatagram ||
			st.FragmentsDropped != uint64(len(frags)-maxFragmentsPerDatagram) {
			t.Errorf("stats %+v for %d fragments", st, len(frags))
		}
	})
	t.Run("overlap", func(t *testing.T) {
		a := mk(1)
		bad := slices.Clone(a[1])
		bad[7]-- // fragment offset 8 bytes too early: overlaps the first
		recs := []record{rec(t0, ether(0x0800, a[0])), rec(t0, ether(0x0800, bad))}
		_, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, DefaultDecoderConfig())
		if err != nil {
			t.Fatal(err)
		}
		if st.FragmentsDropped != 1 || st.FragmentsHeld != 1 {
			t.Errorf("stats %+v: want the overlapping fragment dropped", st)
		}
	})
}

// TestSnappedFragments: a fragment cut by the snap length can never be
// reassembled; a first one still yields its ports and partial payload.
func TestSnappedFragments(t *testing.T) {
	dns := bigDNS()
	f4 := fragments4(t, ipPacket(t, flow{proto: ProtoUDP, sport: 53, dport: 40000, payload: dns}), 1480)
	f6 := fragments6(t, ipPacket(t, flow{v6: true, proto: ProtoUDP, sport: 53, dport: 40000, payload: dns}), 1448, 5)
	snap := func(frag []byte, et uint16) record {
		r := rec(t0, ether(et, frag))
		r.data = r.data[:300]
		r.ci.CaptureLength = 300
		return r
	}
	recs := []record{snap(f4[0], 0x0800), snap(f4[1], 0x0800), snap(f6[0], 0x86dd), snap(f6[1], 0x86dd)}
	got, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, DefaultDecoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{TS: t0, WireLen: uint32(recs[0].ci.Length), Src: client4, Dst: server4, SrcPort: 53, DstPort: 40000,
			Proto: ProtoUDP, Payload: dns[:300-14-20-8], SrcMAC: [6]byte(macSrc)},
		{TS: t0, WireLen: uint32(recs[2].ci.Length), Src: client6, Dst: server6, SrcPort: 53, DstPort: 40000,
			Proto: ProtoUDP, Payload: dns[:300-14-40-8-8], SrcMAC: [6]byte(macSrc)},
	}
	if diff := cmp.Diff(want, got, cmpPacket); diff != "" {
		t.Errorf("packets (-want +got):\n%s", diff)
	}
	wantSt := DecoderStats{Read: 4, Decoded: 2, PartialPayload: 2, FragmentsDropped: 2, Batches: 1}
	if diff := cmp.Diff(wantSt, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestBatching checks when batches are sent: full, spanning more than
// maxBatchAge of packet time, on a read timeout, and at the end.
func TestBatching(t *testing.T) {
	frame := ether(0x0800, ipPacket(t, flow{proto: ProtoTCP, sport: 1, dport: 443}))
	var recs []record
	for i := range BatchSize + 10 {
		recs = append(recs, rec(t0.Add(time.Duration(i)*time.Microsecond), frame))
	}
	recs = append(recs, rec(t0.Add(time.Second), frame)) // too late for the open batch
	src := &timeoutSource{memSource: memSource{lt: layers.LinkTypeEthernet, recs: recs}, timeoutAfter: BatchSize + 5}
	out := make(chan *Batch, 10)
	d := NewDecoder(DefaultDecoderConfig())
	if err := d.Run(context.Background(), src, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var sizes []int
	for b := range out {
		sizes = append(sizes, len(b.Packets))
		b.Release()
	}
	want := []int{BatchSize, 5, 5, 1} // full, timeout, age, end
	if diff := cmp.Diff(want, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	if st := d.Stats(); st.Batches != 4 {
		t.Errorf("Batches = %d, want 4", st.Batches)
	}
}

// timeoutSource returns ErrTimeout once after timeoutAfter frames.
type timeoutSource struct {
	memSource
	timeoutAfter int
	fired        bool
}

func (s *timeoutSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if s.i == s.timeoutAfter && !s.fired {
		s.fired = true
		return nil, gopacket.CaptureInfo{}, ErrTimeout
	}
	return s.memSource.ReadPacketData()
}

// TestRunStops checks the three ways Run ends: ctx (nil, after sending
// what it has), a read error (returned, after sending), and a consumer
// that went away (Run still returns).
func TestRunStops(t *testing.T) {
	frame := ether(0x0800, ipPacket(t, flow{proto: ProtoUDP, sport: 1, dport: 53}))
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		src := &funcSource{next: func(i int) ([]byte, gopacket.CaptureInfo, error) {
			if i == 4 {
				cancel()
				return nil, gopacket.CaptureInfo{}, ErrTimeout
			}
			if i > 4 {
				return nil, gopacket.CaptureInfo{}, ErrTimeout
			}
			r := rec(t0, frame)
			return r.data, r.ci, nil
		}}
		got, st, err := collectCtx(ctx, t, src, NewDecoder(DefaultDecoderConfig()))
		if err != nil || len(got) != 3 {
			t.Errorf("Run = %v with %d packets (%+v), want nil with 3", err, len(got), st)
		}
	})
	t.Run("read-error", func(t *testing.T) {
		boom := errors.New("boom")
		src := &memSource{lt: layers.LinkTypeEthernet, recs: []record{rec(t0, frame), rec(t0, frame)}, end: boom}
		got, _, err := collect(t, src, DefaultDecoderConfig())
		if !errors.Is(err, boom) || len(got) != 2 {
			t.Errorf("Run = %v with %d packets, want boom with 2", err, len(got))
		}
	})
	t.Run("consumer-gone", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		src := &funcSource{next: func(i int) ([]byte, gopacket.CaptureInfo, error) {
			r := rec(t0, frame)
			return r.data, r.ci, nil
		}}
		d := NewDecoder(DefaultDecoderConfig())
		d.grace = 100 * time.Millisecond
		start := time.Now()
		err := d.Run(ctx, src, make(chan *Batch)) // nobody reads
		if err != nil || time.Since(start) > d.grace+time.Second {
			t.Errorf("Run = %v after %v", err, time.Since(start))
		}
		if st := d.Stats(); st.DroppedAtStop == 0 {
			t.Errorf("DroppedAtStop = 0, want the last batch counted")
		}
	})
	t.Run("slow-consumer-at-end", func(t *testing.T) {
		// At the end of a file the last batch waits for a slow consumer.
		src := &memSource{lt: layers.LinkTypeEthernet, recs: []record{rec(t0, frame)}}
		out := make(chan *Batch)
		d := NewDecoder(DefaultDecoderConfig())
		d.grace = 100 * time.Millisecond
		go func() {
			time.Sleep(d.grace + 300*time.Millisecond)
			(<-out).Release()
		}()
		if err := d.Run(context.Background(), src, out); err != nil {
			t.Fatal(err)
		}
		if st := d.Stats(); st.DroppedAtStop != 0 || st.Batches != 1 {
			t.Errorf("stats %+v: the last batch must wait for the consumer", st)
		}
	})
	t.Run("unsupported-link", func(t *testing.T) {
		err := NewDecoder(DefaultDecoderConfig()).Run(context.Background(), &memSource{lt: layers.LinkTypeFDDI}, make(chan *Batch))
		if !errors.Is(err, ErrUnsupportedLink) || !strings.Contains(err.Error(), "unsupported link type 10") {
			t.Errorf("Run = %v, want unsupported link type 10", err)
		}
	})
}

type funcSource struct {
	i    int
	next func(i int) ([]byte, gopacket.CaptureInfo, error)
}

func (s *funcSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	s.i++
	return s.next(s.i)
}
func (s *funcSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (s *funcSource) Stats() (Stats, error)     { return Stats{}, nil }
func (s *funcSource) Close()                    {}

// TestKeepPayloadPorts checks the payload is copied for configured ports
// only, in either direction.
func TestKeepPayloadPorts(t *testing.T) {
	var recs []record
	for _, ports := range [][2]uint16{{53, 40000}, {40000, 53}, {40000, 443}, {443, 40000}, {40000, 80}} {
		recs = append(recs, rec(t0, ether(0x0800, ipPacket(t, flow{proto: ProtoUDP, sport: ports[0], dport: ports[1],
			payload: []byte(fmt.Sprint(ports))}))))
	}
	for _, tt := range []struct {
		cfg  DecoderConfig
		kept []bool
	}{
		{DefaultDecoderConfig(), []bool{true, true, false, false, false}},
		{with(func(c *DecoderConfig) { c.KeepPayloadPorts = []uint16{53, 443} }), []bool{true, true, true, true, false}},
		{with(func(c *DecoderConfig) { c.KeepPayloadPorts = nil }), []bool{false, false, false, false, false}},
	} {
		got, _, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var kept []bool
		for _, p := range got {
			kept = append(kept, p.Payload != nil)
		}
		if diff := cmp.Diff(tt.kept, kept); diff != "" {
			t.Errorf("%v: kept (-want +got):\n%s", tt.cfg.KeepPayloadPorts, diff)
		}
	}
}

// A pooled batch reuses its payload arenas: after a first round of large
// payloads, filling it again allocates nothing, and every payload still
// holds its own bytes.
func TestBatchArenaReuse(t *testing.T) {
	b := NewBatch()
	payload := func(i int) []byte {
		p := make([]byte, 700)
		for j := range p {
			p[j] = byte(i + j)
		}
		return p
	}
	src := make([][]byte, BatchSize)
	for i := range src {
		src[i] = payload(i)
	}
	fill := func() [][]byte {
		got := make([][]byte, 0, BatchSize)
		for _, p := range src {
			got = append(got, b.keep(p))
		}
		return got
	}
	fill()
	b.Reset()
	var got [][]byte
	allocs := testing.AllocsPerRun(10, func() {
		b.Reset()
		got = got[:0]
		for _, p := range src {
			got = append(got, b.keep(p))
		}
	})
	if allocs != 0 {
		t.Fatalf("refilling a batch allocated %.0f times", allocs)
	}
	for i := range got {
		if !bytes.Equal(got[i], src[i]) {
			t.Fatalf("payload %d overwritten", i)
		}
	}
	// Release trims what a burst left beyond maxPooledArena.
	big := make([]byte, maxPooledArena)
	b.keep(big)
	b.trim()
	total := 0
	for _, a := range b.arenas {
		total += cap(a)
	}
	if total > maxPooledArena {
		t.Fatalf("a released batch keeps %d arena bytes", total)
	}
}

func TestNewDecoderRefusesUnusableConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  DecoderConfig
	}{
		{"zero", DecoderConfig{}},
		{"no flow starts", with(func(c *DecoderConfig) { c.MaxFlowStarts = 0 })},
		{"no first bytes", with(func(c *DecoderConfig) { c.FlowStartBytes = -1 })},
		{"no fragments", with(func(c *DecoderConfig) { c.MaxPendingDatagrams = 0 })},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Fatal("NewDecoder took a configuration it cannot work with")
				}
			}()
			NewDecoder(tt.cfg)
		})
	}
	// Without name ports the first-bytes bounds are not used.
	NewDecoder(with(func(c *DecoderConfig) { c.NamePorts, c.MaxFlowStarts, c.FlowStartBytes = nil, 0, 0 }))
}
