package devices

import (
	"fmt"
	"testing"
)

// BenchmarkObserve measures the learn-stage cost of the tracker on a batch
// of traffic from 16 known devices, half uploads from local addresses and
// half downloads from remote ones: the steady state, which must not
// allocate.
func BenchmarkObserve(b *testing.B) {
	tr := newTracker(b, DefaultConfig(), Deps{})
	var frames [][]byte
	for i := range 256 {
		mac := [6]byte{0xd8, 0x30, 0x62, 0, 0, byte(i % 16)}
		local := addr(fmt.Sprintf("192.168.1.%d", 10+i%16))
		if i%2 == 0 {
			frames = append(frames, tcpFrame(b, mac, local, server4, 40000, 443))
		} else {
			frames = append(frames, tcpFrame(b, macRouter, server4, local, 443, 40000))
		}
	}
	bs := decodeFrames(b, frames)
	for _, batch := range bs {
		tr.Observe(batch)
	}
	tr.Drain(nil)
	n := 0
	for _, batch := range bs {
		n += len(batch.Packets)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, batch := range bs {
			tr.Observe(batch)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}
