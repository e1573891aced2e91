package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// TestTopFilters checks Until, Device, Nickname and the source and agent
// groupings on queryFixture's rows, on both backends.
func TestTopFilters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := queryFixture(t, b)
		names := func(q store.TopQuery) map[string]uint64 {
			t.Helper()
			res, err := s.Top(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]uint64{}
			for _, r := range res.Rows {
				m[r.Name] = r.Packets
			}
			return m
		}
		for _, tc := range []struct {
			name string
			q    store.TopQuery
			want map[string]uint64
		}{
			{"until", store.TopQuery{By: store.ByService, Until: at("2024-05-01 10:00:10")},
				map[string]uint64{"YouTube": 100, "Netflix": 3}},
			{"device", store.TopQuery{By: store.ByService, Device: "192.168.1.3"},
				map[string]uint64{"Netflix": 120, "YouTube": 10, "\uFFFD": 7}},
			{"nickname by device", store.TopQuery{By: store.ByDevice, Nickname: "Netflix"},
				map[string]uint64{"192.168.1.3": 120, "10.0.0.5": 3}},
			{"source", store.TopQuery{By: store.BySource},
				map[string]uint64{"dns": 167, "sni": 123, "ip": 120}},
			{"agent", store.TopQuery{By: store.ByAgent},
				map[string]uint64{"home": 407, "office": 3}},
			// queryFixture's rows were written without a nickname source.
			{"naming", store.TopQuery{By: store.ByNaming},
				map[string]uint64{"": 410}},
			// A hostile value is only ever a bound parameter: it matches nothing.
			{"hostile device", store.TopQuery{By: store.ByService, Device: "x' OR '1'='1"}, map[string]uint64{}},
		} {
			if diff := cmp.Diff(tc.want, names(tc.q)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

func TestSeries(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := queryFixture(t, b)
		got, err := s.Series(t.Context(), store.SeriesQuery{
			Agent: "home", Since: at("2024-05-01 10:00:00"), Until: at("2024-05-01 10:01:00"), Buckets: 3, Top: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Series{
			Start: at("2024-05-01 10:00:00"), Step: 20 * time.Second,
			Times: []time.Time{at("2024-05-01 10:00:00"), at("2024-05-01 10:00:20"), at("2024-05-01 10:00:40")},
			Lines: []store.SeriesLine{
				{Name: "YouTube", Packets: []uint64{160, 0, 0}, Bytes: []uint64{135000, 0, 0}},
				{Name: "Netflix", Packets: []uint64{0, 120, 0}, Bytes: []uint64{0, 1000, 0}},
				// 203.0.113.9 ties Netflix on packets and has fewer bytes; it
				// and the U+FFFD row sum into (other).
				{Name: store.Other, Packets: []uint64{0, 7, 120}, Bytes: []uint64{0, 700, 999}},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("series (-want +got):\n%s", diff)
		}
		if _, err := s.Series(t.Context(), store.SeriesQuery{Since: at("2024-05-01 10:00:00"), Until: at("2024-05-01 10:00:00"), Buckets: 3, Top: 2}); err == nil {
			t.Error("an empty range was accepted")
		}
		if _, err := s.Series(t.Context(), store.SeriesQuery{Since: at("2024-05-01 10:00:00"), Until: at("2024-05-01 11:00:00"), Buckets: store.MaxBuckets + 1, Top: 2}); err == nil {
			t.Error("too many buckets were accepted")
		}
	})
}
