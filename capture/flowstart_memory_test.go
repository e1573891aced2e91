package capture

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestFlowStartsMemory fills the first-bytes table to its cap and churns
// through four times as many connections again (evictions, deletions),
// and bounds what the table holds per connection: keyed by a 64-bit hash
// (24 bytes a slot) it takes 130 bytes a connection after this; keyed by
// the 36-byte connection (56 bytes a slot) it took 264.
func TestFlowStartsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 80k connections")
	}
	d := NewDecoder(DefaultDecoderConfig())
	n := d.starts.max
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Unix(1_700_000_000, 0)
	dst := netip.MustParseAddr("192.0.2.1")
	for i := range 5 * n {
		p := Packet{TS: t0, Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Dst: dst,
			SrcPort: 40000, DstPort: 443, Proto: ProtoTCP, TCPFlags: 0x02, Seq: 1}
		d.keepStart(&p, nil)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(d)
	if got := len(d.starts.m); got < n-n/64 || got > n {
		t.Fatalf("%d connections held, want about the cap %d", got, n)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("first-bytes table: %.0f bytes/connection at %d connections", per, n)
	if per > 180 {
		t.Errorf("%.0f bytes/connection, want at most 180", per)
	}
}
