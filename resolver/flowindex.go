package resolver

import "hash/maphash"

// flowIndex finds a flow's entry in the flow table by its key: open
// addressing with linear probing over a power-of-two slice of slots, each
// the upper 32 bits of the key's hash and the entry's index + 1 (0: empty).
// A slot is 8 bytes where a Go map's is 64 (the 56-byte key and the
// index), so at the default 32,768 flows the index takes 512 KiB instead
// of 4 MiB, and it holds no pointers for the collector to scan. The hash
// is seeded per process, so nobody can choose keys that pile up in one
// run of slots. Removal shifts the run back (no tombstones), so lookups
// never slow down as flows come and go.
type flowIndex struct {
	slots []uint64
	n     int
	seed  maphash.Seed
}

const minIndexSlots = 64

func newFlowIndex() flowIndex { return flowIndex{seed: maphash.MakeSeed()} }

func (x *flowIndex) hash(k nameFlowKey) uint32 {
	return uint32(maphash.Comparable(x.seed, k) >> 32)
}

// Len is the number of flows indexed.
func (x *flowIndex) Len() int { return x.n }

// find returns the index of the entry keyed k.
func (x *flowIndex) find(k nameFlowKey, entries []nameFlow) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	h := x.hash(k)
	mask := uint32(len(x.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		s := x.slots[j]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == h {
			if i := int32(uint32(s)) - 1; entries[i].key == k {
				return i, true
			}
		}
	}
}

// insert indexes entry i under k, which is not indexed.
func (x *flowIndex) insert(k nameFlowKey, i int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.put(uint64(x.hash(k))<<32 | uint64(uint32(i+1)))
	x.n++
}

func (x *flowIndex) put(s uint64) {
	mask := uint32(len(x.slots) - 1)
	j := uint32(s>>32) & mask
	for x.slots[j] != 0 {
		j = (j + 1) & mask
	}
	x.slots[j] = s
}

func (x *flowIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, max(minIndexSlots, 2*len(old)))
	for _, s := range old {
		if s != 0 {
			x.put(s)
		}
	}
}

// remove takes k, indexed for entry i, out of the index.
func (x *flowIndex) remove(k nameFlowKey, i int32) {
	if x.n == 0 {
		return
	}
	h := x.hash(k)
	want := uint64(h)<<32 | uint64(uint32(i+1))
	mask := uint32(len(x.slots) - 1)
	j := h & mask
	for x.slots[j] != want {
		if x.slots[j] == 0 {
			return // not indexed
		}
		j = (j + 1) & mask
	}
	x.n--
	// Backward shift: move later slots of the run into the hole when
	// their home is not between the hole and them.
	for next := (j + 1) & mask; ; next = (next + 1) & mask {
		s := x.slots[next]
		if s == 0 {
			break
		}
		home := uint32(s>>32) & mask
		if (next-home)&mask >= (next-j)&mask {
			x.slots[j] = s
			j = next
		}
	}
	x.slots[j] = 0
}
