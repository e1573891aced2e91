package store_test

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// BenchmarkWriteWindow10k writes windows of 10,000 rows (and 500 names),
// each in its one transaction with its own ID, as the writer does, and
// reports rows per second: the database must never set netmon's pace.
func BenchmarkWriteWindow10k(b *testing.B) {
	const rows = 10_000
	for _, backend := range storetest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Config{DSN: storetest.NewDSN(b, backend), Agent: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			if _, _, err := s.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			w := aggregate.Window{Rows: make([]aggregate.Row, rows)}
			for i := range w.Rows {
				w.Rows[i] = aggregate.Row{
					Client: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i % 250)}),
					Domain: fmt.Sprintf("host%d.service%d.example", i, i%40), Nickname: fmt.Sprintf("Service%d", i%40),
					Source: source.SNI, Count: uint64(i + 1), Bytes: uint64(1500 * (i + 1)),
				}
			}
			for i := range 500 {
				w.Names = append(w.Names, source.Record{TS: t0, Addr: netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(i % 250)}),
					Domain: fmt.Sprintf("n%d.example", i), Source: source.DNS})
			}
			start := t0
			b.ReportAllocs()
			for b.Loop() {
				w.Start = start
				_, _ = rand.Read(w.ID[:])
				if applied, err := s.Apply(b.Context(), &w); err != nil || !applied {
					b.Fatalf("applied %v, err %v", applied, err)
				}
				start = start.Add(10 * time.Second)
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
