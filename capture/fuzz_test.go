package capture

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fuzzLinks are the link kinds FuzzDecode spreads its inputs over.
var fuzzLinks = []struct {
	lt layers.LinkType
	lk link
}{
	{layers.LinkTypeEthernet, linkEthernet},
	{layers.LinkTypeLinuxSLL, linkSLL},
	{layers.LinkTypeLinuxSLL2, linkSLL2},
	{layers.LinkTypeNull, linkLoopback},
	{layers.LinkTypeRaw, linkRawIP},
	{layers.LinkTypePPP, linkPPP},
}

// FuzzDecode feeds arbitrary bytes as a frame of any supported link type.
// Decoding must not panic, and the frame must be counted exactly once.
func FuzzDecode(f *testing.F) {
	for _, lc := range linkCases() {
		for _, fl := range []flow{
			{proto: ProtoUDP, sport: 53, dport: 40000, payload: []byte("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00")},
			{v6: true, proto: ProtoTCP, sport: 40000, dport: 443, flags: 0x18, payload: []byte("\x16\x03\x01")},
		} {
			if (lc.only == 4 && fl.v6) || (lc.only == 6 && !fl.v6) {
				continue
			}
			for j, l := range fuzzLinks {
				if l.lt == lc.lt || (l.lk == linkRawIP && (lc.lt == 12 || lc.lt == 14 || lc.lt == 228 || lc.lt == 229)) {
					f.Add(lc.wrap(ipPacket(f, fl)), uint8(j))
				}
			}
		}
	}
	frag := fragments6(f, ipPacket(f, flow{v6: true, proto: ProtoUDP, sport: 53, dport: 1, payload: bigDNS()}), 1448, 3)
	f.Add(ether(0x86dd, frag[0]), uint8(0))
	f.Fuzz(func(t *testing.T, frame []byte, which uint8) {
		l := fuzzLinks[int(which)%len(fuzzLinks)]
		d := NewDecoder(with(func(c *DecoderConfig) { c.OtherIP = which&0x80 != 0 }))
		b := GetBatch()
		defer b.Release()
		ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(frame), Length: len(frame) + int(which&0x40)}
		d.decode(l.lk, frame, ci, b)
		st := d.Stats()
		if n := st.Decoded + st.NotIP + st.Truncated + st.Malformed + st.UnsupportedEncap + st.FragmentsHeld +
			st.FragmentsDropped + st.OtherIP; n != 1 && !(st.Decoded == 1 && st.OtherIP == 1) {
			t.Errorf("frame counted %d times: %+v", n, st)
		}
		if len(b.Packets) > 1 {
			t.Errorf("%d packets from one frame", len(b.Packets))
		}
		for _, p := range b.Packets {
			if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
				t.Errorf("bad addresses in %+v", p)
			}
			if len(p.Payload) > len(frame) {
				t.Errorf("payload of %d bytes from a %d-byte frame", len(p.Payload), len(frame))
			}
		}
	})
}
