package store_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

func TestPrune(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		day := 24 * time.Hour
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		cutoff := now.Add(-90 * day)
		// 100 windows from 95 to 85 days ago, for two agents; the cutoff falls
		// in the middle, and one window sits exactly on it (kept: older than).
		var older int64
		for _, agent := range []string{"a", "b"} {
			for i := range 100 {
				start := now.Add(-95*day + time.Duration(i)*144*time.Minute)
				if i == 50 {
					start = cutoff
				}
				w := withID(aggregate.Window{
					Start: start,
					Rows: []aggregate.Row{
						row(c1, "x.example", "X", source.DNS, 1, 1),
						row(c2, "y.example", "Y", source.DNS, 1, 1),
					},
					Names: []source.Record{{TS: start, Addr: netipFrom(i), Domain: "x.example", Source: source.DNS}},
				}, byte(i))
				if _, err := d.store(agent).Apply(t.Context(), &w); err != nil {
					t.Fatal(err)
				}
				if start.Before(cutoff) {
					older++
				}
			}
		}
		count := func(q string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := d.raw.GetContext(t.Context(), &n, q, args...); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Writers keep writing new windows while prune runs.
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				w := withID(aggregate.Window{Start: now.Add(time.Duration(i) * 10 * time.Second),
					Rows: []aggregate.Row{row(c3, "z.example", "Z", source.DNS, 1, 1)}}, byte(i))
				w.ID[1] = byte(i >> 8)
				if _, err := d.store("c").Apply(ctx, &w); err != nil && ctx.Err() == nil {
					t.Errorf("write during prune: %v", err)
				}
			}
		})
		var batches int
		res, err := d.store("a").Prune(t.Context(), cutoff, 7, func(string, int64) { batches++ })
		stop()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if res.Records != 2*older || res.Names != older || res.Applied != older {
			t.Errorf("Prune = %+v, want %d records, %d names, %d IDs", res, 2*older, older, older)
		}
		if batches < int(2*older/7) {
			t.Errorf("%d batches for %d rows at 7 per batch", batches, 4*older)
		}
		for _, table := range []string{"tcpdump_records", "dns_records", "applied_windows"} {
			if n := count("SELECT COUNT(*) FROM "+table+" WHERE ts < ?", cutoff); n != 0 {
				t.Errorf("%s: %d rows older than the cutoff remain", table, n)
			}
		}
		if n := count("SELECT COUNT(*) FROM tcpdump_records WHERE agent IN ('a','b')"); n != 400-2*older {
			t.Errorf("%d newer rows remain, want %d", n, 400-2*older)
		}
		if n := count("SELECT COUNT(*) FROM tcpdump_records WHERE ts = ?", cutoff); n != 4 {
			t.Errorf("rows exactly at the cutoff: %d, want 4 (kept)", n)
		}
		// A second run finds nothing.
		if res, err := d.store("a").Prune(t.Context(), cutoff, 0, nil); err != nil || res != (store.PruneResult{}) {
			t.Errorf("second Prune = %+v, %v; want nothing", res, err)
		}
	})
}

func netipFrom(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
