package memlimit

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestTarget: the limit leaves the heap room for half the live heap above
// it, whatever its size, so the collector never spins; small heaps get the
// floor.
func TestTarget(t *testing.T) {
	for _, c := range []struct{ live, overhead uint64 }{{0, 0}, {4 << 20, 6 << 20}, {14 << 20, 8 << 20}, {1 << 30, 40 << 20}} {
		got := target(c.live, c.overhead)
		if got < Floor || uint64(got) < c.overhead+c.live+c.live/2 {
			t.Errorf("live %d, overhead %d: limit %d leaves no room for half the live heap", c.live, c.overhead, got)
		}
		if c.overhead+2*c.live > Floor && uint64(got) >= c.overhead+2*c.live {
			t.Errorf("live %d, overhead %d: limit %d is no tighter than GOGC=100", c.live, c.overhead, got)
		}
	}
}

// TestStartFollowsCollections: with $GOMEMLIMIT unset, Start sets a limit
// at once and keeps it following the live heap after collections; with it
// set, the runtime's limit is left alone.
func TestStartFollowsCollections(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv(Env, "off")
	debug.SetMemoryLimit(math.MaxInt64)
	if Start() || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("with $%s set, Start changed the limit to %d", Env, debug.SetMemoryLimit(-1))
	}
	t.Setenv(Env, "") // t.Setenv restores it; LookupEnv must see it unset
	if err := os.Unsetenv(Env); err != nil {
		t.Fatal(err)
	}
	if !Start() {
		t.Fatal("Start did nothing with the variable unset")
	}
	if got := debug.SetMemoryLimit(-1); got != Floor {
		t.Fatalf("limit %d at start, want the floor %d", got, Floor)
	}
	// Hold a live heap above the floor's worth: the limit must rise to
	// leave it room.
	keep := make([][]byte, 0, 64)
	for range 48 {
		keep = append(keep, make([]byte, 1<<20))
	}
	// The limit moves in a finalizer after a collection: wait for it (a
	// bound on the tries, not a timed assertion).
	var got int64
	for range 500 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if got = debug.SetMemoryLimit(-1); got >= 48<<20+24<<20 {
			break
		}
	}
	if got < 48<<20+24<<20 || got == math.MaxInt64 {
		t.Errorf("limit %d with 48 MiB live; want at least 1.5 × that, and a limit", got)
	}
	runtime.KeepAlive(keep)
}
