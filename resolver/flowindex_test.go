package resolver

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFlowIndexMatchesMap drives the flow index and a Go map with the same
// random inserts and removals, with the entries slice reusing freed slots
// as the flow table does, and requires the same answer for every key after
// every step: removal's backward shift must never lose or strand a key.
func TestFlowIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keyOf := func(n int) nameFlowKey {
		return nameFlowKey{a: netip.AddrFrom4([4]byte{10, 0, byte(n >> 8), byte(n)}).As16(),
			b: netip.MustParseAddr("192.0.2.1").As16(), pa: uint16(n), pb: 443, proto: 6}
	}
	x := newFlowIndex()
	var entries []nameFlow
	var free []int32
	ref := map[nameFlowKey]int32{}
	const keys = 3000
	for step := range 60000 {
		k := keyOf(rng.IntN(keys))
		if i, ok := ref[k]; ok && rng.IntN(2) == 0 {
			x.remove(k, i)
			delete(ref, k)
			entries[i] = nameFlow{}
			free = append(free, i)
		} else if !ok {
			var i int32
			if n := len(free); n > 0 {
				i, free = free[n-1], free[:n-1]
			} else {
				i = int32(len(entries))
				entries = append(entries, nameFlow{})
			}
			entries[i].key = k
			x.insert(k, i)
			ref[k] = i
		}
		if x.Len() != len(ref) {
			t.Fatalf("step %d: index holds %d, map %d", step, x.Len(), len(ref))
		}
		if step%997 == 0 || step > 59000 {
			for n := range keys {
				k := keyOf(n)
				i, ok := x.find(k, entries)
				j, want := ref[k]
				if ok != want || ok && i != j {
					t.Fatalf("step %d: key %d found %v at %d; want %v at %d", step, n, ok, i, want, j)
				}
			}
		}
	}
	if n := len(x.slots); x.Len()*4 > n*3 {
		t.Errorf("%d slots for %d keys", n, x.Len())
	}
}
