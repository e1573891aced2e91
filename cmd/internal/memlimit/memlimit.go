// Package memlimit keeps netmon's heap near what its live data needs.
//
// Go's collector, left to GOGC=100, lets the heap grow to twice the live
// heap (plus the globals and stacks) before it collects: on a replay of
// the varied benchmark workload, a live heap of ~14 MiB peaks at ~34. A
// fixed soft limit (GOMEMLIMIT) below that costs little while the live
// heap stays well under it, but makes the collector run without pause
// once the live heap comes near it, as it legitimately does on a larger
// network. So netmon moves the limit after every collection:
//
//	limit = max(Floor, runtime overhead + 1.5 × live heap)
//
// The heap may then grow by up to half the live heap between collections
// (GOGC=50's pace; less while freed pages the runtime has not yet given
// back to the system count against the limit — it gives them back rather
// than let the limit be passed), and since the limit follows the live
// heap up, the collector does not spin whatever the live heap; it never
// grows past what GOGC=100 would allow, which still applies. Overhead is
// the runtime's memory that is neither heap objects nor free or released
// heap pages: stacks, metadata, fragmentation. GOMEMLIMIT, when set (to a size or "off"), is the
// operator's choice and netmon leaves the runtime's limit alone.
package memlimit

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// Floor is the least limit netmon sets: below it the heap is small, and
// collecting more often would save little memory for the CPU it costs.
const Floor = 24 << 20

// Env is Go's own setting, which takes precedence.
const Env = "GOMEMLIMIT"

// Start moves the soft memory limit after every collection, from now on,
// unless $GOMEMLIMIT is set. It returns whether it did.
func Start() bool {
	if _, set := os.LookupEnv(Env); set {
		return false
	}
	a := newAdjuster()
	a.adjust()
	a.arm()
	return true
}

// Samples read after each collection.
const (
	sLive = iota
	sTotal
	sReleased
	sObjects
	sFree
	nSamples
)

type adjuster struct {
	samples []metrics.Sample
	limit   int64
}

func newAdjuster() *adjuster {
	s := make([]metrics.Sample, nSamples)
	s[sLive].Name = "/gc/heap/live:bytes"
	s[sTotal].Name = "/memory/classes/total:bytes"
	s[sReleased].Name = "/memory/classes/heap/released:bytes"
	s[sObjects].Name = "/memory/classes/heap/objects:bytes"
	s[sFree].Name = "/memory/classes/heap/free:bytes"
	return &adjuster{samples: s, limit: math.MaxInt64}
}

// target is the limit for a live heap and the runtime's memory besides the
// heap's objects and free pages (stacks, metadata, fragmentation).
func target(live, overhead uint64) int64 {
	return int64(max(Floor, overhead+live+live/2))
}

func (a *adjuster) adjust() {
	metrics.Read(a.samples)
	v := func(i int) uint64 {
		if a.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return a.samples[i].Value.Uint64()
	}
	total, used := v(sTotal), v(sReleased)+v(sObjects)+v(sFree)
	overhead := uint64(0)
	if total > used {
		overhead = total - used
	}
	t := target(v(sLive), overhead)
	if d := t - a.limit; d > a.limit/16 || -d > a.limit/16 {
		a.limit = t
		debug.SetMemoryLimit(t)
	}
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// next collection, adjusts the limit and makes the next one. (It holds a
// pointer and is too large for the tiny allocator, which would tie its
// fate to its neighbours'.)
type sentinel struct {
	a *adjuster
	_ [16]byte
}

func (a *adjuster) arm() {
	runtime.SetFinalizer(&sentinel{a: a}, func(s *sentinel) {
		s.a.adjust()
		s.a.arm()
	})
}
