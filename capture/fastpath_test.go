package capture

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
)

// The fast path must emit exactly what gopacket's layers give: the same
// Packets (payload bytes included) and the same counters, frame for frame.
// Every frame of the shared captures goes through a decoder with it and
// one without; so do copies of the Ethernet frames with random header
// bytes changed (lengths, offsets, flags, types), which is where the two
// could part.
func TestFastPathMatchesLayers(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(pcapDir(t), "*.pcap*"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 21))
	frames, fastHits := 0, 0
	for _, name := range names {
		src, err := OpenFile(name, "")
		if err != nil {
			t.Fatal(err)
		}
		lk, err := linkFor(src.LinkType())
		if err != nil {
			src.Close()
			continue
		}
		fast, slow := NewDecoder(DefaultDecoderConfig()), NewDecoder(DefaultDecoderConfig())
		slow.noFast = true
		fb, sb := NewBatch(), NewBatch()
		counter, probe := NewDecoder(DefaultDecoderConfig()), NewBatch()
		check := func(data []byte, ci gopacket.CaptureInfo, what string) {
			t.Helper()
			before := len(fb.Packets)
			okF := fast.decode(lk, data, ci, fb)
			okS := slow.decode(lk, data, ci, sb)
			frames++
			if okF != okS || !reflect.DeepEqual(fb.Packets[before:], sb.Packets[before:]) || fast.Stats() != slow.Stats() {
				t.Fatalf("%s %s: fast path gave %v %+v %+v, layers %v %+v %+v", filepath.Base(name), what,
					okF, fb.Packets[before:], fast.Stats(), okS, sb.Packets[before:], slow.Stats())
			}
			if len(fb.Packets) > 0 {
				fb.Reset()
				sb.Reset()
			}
		}
		for n := 0; ; n++ {
			data, ci, err := src.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break // a damaged tail
			}
			data = bytes.Clone(data)
			check(data, ci, "frame")
			if lk != linkEthernet || len(data) < 14 {
				continue
			}
			probe.Reset()
			if counter.fast(data, ci, probe) {
				fastHits++
			}
			for range 8 {
				m := bytes.Clone(data)
				for range 1 + rng.IntN(3) {
					i := 12 + rng.IntN(min(len(m)-12, 80))
					m[i] = byte(rng.Uint32())
				}
				if rng.IntN(4) == 0 {
					m = m[:14+rng.IntN(len(m)-13)]
				}
				ci2 := ci
				ci2.CaptureLength = len(m)
				check(m, ci2, "mutated frame")
			}
		}
		src.Close()
	}
	if frames < 10000 || fastHits < 5000 {
		t.Fatalf("only %d frames compared, %d through the fast path", frames, fastHits)
	}
	t.Logf("%d frames decoded alike, %d real frames through the fast path", frames, fastHits)
}
