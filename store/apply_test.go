package store_test

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store/storetest"
)

func withID(w aggregate.Window, id byte) aggregate.Window {
	w.ID = [16]byte{15: id, 0: 0xAB}
	return w
}

// A window written twice counts once; a late window with the same start but
// its own ID adds up; a window without ID keeps the old additive behaviour.
func TestApplyIdempotent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("a")
		win := withID(aggregate.Window{
			Start:       t0,
			Rows:        []aggregate.Row{row(c1, "x.example", "X", source.DNS, 3, 300)},
			Names:       []source.Record{{TS: t0, Addr: r1, Domain: "x.example", Source: source.DNS}},
			Corrections: []aggregate.Correction{{Addr: r2, Old: r2.String(), New: "y.example", NewNickname: "Y", NewSource: source.DNS}},
		}, 1)
		late := withID(aggregate.Window{Start: t0, Rows: []aggregate.Row{row(c1, "x.example", "X", source.DNS, 1, 100)}}, 2)
		noID := aggregate.Window{Start: t1, Rows: []aggregate.Row{row(c2, "z.example", "Z", source.DNS, 5, 500)}}

		for i, tc := range []struct {
			w    *aggregate.Window
			want bool
		}{{&win, true}, {&win, false}, {&late, true}, {&win, false}, {&late, false}, {&noID, true}, {&noID, true}} {
			applied, err := s.Apply(t.Context(), tc.w)
			if err != nil {
				t.Fatalf("Apply #%d: %v", i, err)
			}
			if applied != tc.want {
				t.Errorf("Apply #%d applied = %v, want %v", i, applied, tc.want)
			}
		}
		want := []record{
			{t0, "a", "192.168.1.10", "x.example", "X", "dns", 4, 400},
			{t1, "a", "192.168.1.11", "z.example", "Z", "dns", 10, 1000},
		}
		if diff := cmp.Diff(d.records(), want); diff != "" {
			t.Errorf("tcpdump_records (-got +want):\n%s", diff)
		}
		var ids int
		if err := d.raw.GetContext(t.Context(), &ids, `SELECT COUNT(*) FROM applied_windows WHERE agent = 'a' AND ts = ?`, t0); err != nil || ids != 2 {
			t.Errorf("applied_windows holds %d IDs for the window (%v), want 2", ids, err)
		}

		// The same ID under another agent is another window.
		if applied, err := d.store("b").Apply(t.Context(), &win); err != nil || !applied {
			t.Errorf("agent b's Apply of a's window ID = %v, %v; want applied", applied, err)
		}
	})
}

// Two copies of one window racing (two connections, as after a retry whose
// first attempt is still running on the server) are applied once.
func TestApplyConcurrentCopies(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		copies := make([]*aggregate.Window, 8)
		for i := range copies {
			w := withID(aggregate.Window{Start: t0, Rows: manyRows(300)}, 7)
			copies[i] = &w
		}
		s1, s2 := d.store("a"), open(t, d.dsn, "a")
		var wg sync.WaitGroup
		var mu sync.Mutex
		applied := 0
		for i, w := range copies {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Go(func() {
				ok, err := s.Apply(t.Context(), w)
				if err != nil {
					t.Errorf("Apply: %v", err)
				}
				if ok {
					mu.Lock()
					applied++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if applied != 1 {
			t.Errorf("%d of 8 copies applied, want 1", applied)
		}
		var sum uint64
		if err := d.raw.GetContext(t.Context(), &sum, `SELECT SUM(count) FROM tcpdump_records`); err != nil {
			t.Fatal(err)
		}
		var want uint64
		for _, r := range manyRows(300) {
			want += r.Count
		}
		if sum != want {
			t.Errorf("sum of counts = %d, want %d (one copy)", sum, want)
		}
	})
}
