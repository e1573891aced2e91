package capture

import "testing"

// At MaxFlowStarts the table evicts in tiers: entries that copy nothing
// any more first, then connections with no first bytes yet (a flood of
// SYNs), and a connection in the middle of its first bytes (its name
// would be lost) only when nothing else is left.
func TestFlowStartsTieredEviction(t *testing.T) {
	d := &Decoder{}
	fs := newFlowStarts(DefaultFlowStartBytes, 640)
	key := func(i int) uint64 { return fs.key(startKey{sport: uint16(i), dport: 443}) }
	started := key(60000)
	fs.m[started] = flowStart{first: true, syn: true, last: 1}
	for i := range 100 {
		fs.m[key(i)] = flowStart{done: true, last: 1}
	}
	for i := 100; i < 639; i++ {
		fs.m[key(i)] = flowStart{syn: true, last: 1}
	}
	for range 40 { // 40 × 10 evictions: the done ones, then 300 fresh
		fs.evict(d, 2)
	}
	if _, ok := fs.m[started]; !ok {
		t.Error("the connection in the middle of its first bytes was evicted")
	}
	if n := len(fs.m); n != 640-400 {
		t.Errorf("%d entries left, want %d", n, 640-400)
	}
	if got := d.stats.nameFlowsEvicted.Load(); got != 300 {
		t.Errorf("nameFlowsEvicted %d, want 300 (done entries are not counted)", got)
	}
	// Only started ones left: they go too, counted apart.
	clear(fs.m)
	for i := range 20 {
		fs.m[key(i)] = flowStart{first: true, last: 1}
	}
	fs.evict(d, 2)
	if got := d.stats.nameFlowsStartedEvicted.Load(); got != 10 || len(fs.m) != 10 {
		t.Errorf("started evicted %d, %d left; want 10 and 10", got, len(fs.m))
	}
}
