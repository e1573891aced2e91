package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// queryFixture is a migrated database holding rows written directly, so
// that the expected sums are plain arithmetic on the lines below.
func queryFixture(t *testing.T, b storetest.Backend) *store.Store {
	t.Helper()
	dsn := storetest.NewDSN(t, b)
	s := open(t, dsn, "")
	if _, _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, dsn)
	rows := []struct {
		ts                    string
		agent, client, domain string
		nickname, source      string
		count, bytes          uint64
	}{
		{"2024-05-01 10:00:00", "home", "192.168.1.2", "r1.googlevideo.com", "YouTube", "dns", 100, 90000},
		{"2024-05-01 10:00:10", "home", "192.168.1.2", "r2.googlevideo.com", "YouTube", "dns", 50, 40000},
		{"2024-05-01 10:00:10", "home", "192.168.1.3", "r1.googlevideo.com", "YouTube", "dns", 10, 5000},
		{"2024-05-01 10:00:20", "home", "192.168.1.3", "www.netflix.com", "Netflix", "sni", 120, 1000},
		{"2024-05-01 10:00:30", "home", "192.168.1.3", "\xff\x00bad", "\uFFFD", "dns", 7, 700},
		// Same packets as Netflix, fewer bytes: the tie is broken by bytes.
		{"2024-05-01 10:00:40", "home", "192.168.1.4", "203.0.113.9", "203.0.113.9", "ip", 120, 999},
		{"2024-05-01 09:00:00", "office", "10.0.0.5", "www.netflix.com", "Netflix", "sni", 3, 300},
	}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ts, r.agent, r.client, []byte(r.domain), r.nickname, r.source, r.count, r.bytes); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// unknownDevice is r as Top by device returns an address no device holds.
func unknownDevice(r store.TopRow) store.TopRow {
	r.Device = &store.TopDevice{ID: r.Name, Clients: []string{r.Name}}
	return r
}

func at(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTop(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := queryFixture(t, b)
		row := func(name string, p, b uint64, first, last string) store.TopRow {
			return store.TopRow{Name: name, Packets: p, Bytes: b, FirstSeen: at(first), LastSeen: at(last)}
		}
		tests := []struct {
			name string
			q    store.TopQuery
			want store.TopResult
		}{
			{
				name: "services, every agent",
				q:    store.TopQuery{By: store.ByService},
				want: store.TopResult{
					Rows: []store.TopRow{
						row("YouTube", 160, 135000, "2024-05-01 10:00:00", "2024-05-01 10:00:10"),
						row("Netflix", 123, 1300, "2024-05-01 09:00:00", "2024-05-01 10:00:20"),
						row("203.0.113.9", 120, 999, "2024-05-01 10:00:40", "2024-05-01 10:00:40"),
						row("\uFFFD", 7, 700, "2024-05-01 10:00:30", "2024-05-01 10:00:30"),
					},
					Groups: 4,
					Total:  row("", 410, 137999, "2024-05-01 09:00:00", "2024-05-01 10:00:40"),
				},
			},
			{
				name: "domains of one agent, limited: totals still cover the rest",
				q:    store.TopQuery{By: store.ByDomain, Agent: "home", Limit: 2},
				want: store.TopResult{
					Rows: []store.TopRow{
						row("www.netflix.com", 120, 1000, "2024-05-01 10:00:20", "2024-05-01 10:00:20"),
						row("203.0.113.9", 120, 999, "2024-05-01 10:00:40", "2024-05-01 10:00:40"),
					},
					Groups: 5,
					Total:  row("", 407, 137699, "2024-05-01 10:00:00", "2024-05-01 10:00:40"),
				},
			},
			{
				name: "devices since a time",
				q:    store.TopQuery{By: store.ByDevice, Since: at("2024-05-01 10:00:10")},
				want: store.TopResult{
					// No device holds these addresses: each is its own,
					// named by its address.
					Rows: []store.TopRow{
						unknownDevice(row("192.168.1.3", 137, 6700, "2024-05-01 10:00:10", "2024-05-01 10:00:30")),
						unknownDevice(row("192.168.1.4", 120, 999, "2024-05-01 10:00:40", "2024-05-01 10:00:40")),
						unknownDevice(row("192.168.1.2", 50, 40000, "2024-05-01 10:00:10", "2024-05-01 10:00:10")),
					},
					Groups: 3,
					Total:  row("", 307, 47699, "2024-05-01 10:00:10", "2024-05-01 10:00:40"),
				},
			},
			{
				name: "invalid bytes of a domain come back as they are",
				q:    store.TopQuery{By: store.ByDomain, Since: at("2024-05-01 10:00:30"), Limit: 1},
				want: store.TopResult{
					Rows:   []store.TopRow{row("203.0.113.9", 120, 999, "2024-05-01 10:00:40", "2024-05-01 10:00:40")},
					Groups: 2,
					Total:  row("", 127, 1699, "2024-05-01 10:00:30", "2024-05-01 10:00:40"),
				},
			},
			{
				name: "nothing matches",
				q:    store.TopQuery{By: store.ByService, Agent: "nobody"},
				want: store.TopResult{},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Top(t.Context(), tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("Top(%+v) (-want +got):\n%s", tt.q, d)
				}
			})
		}

		got, err := s.Top(t.Context(), store.TopQuery{By: store.ByDomain, Since: at("2024-05-01 10:00:30")})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Rows) != 2 || got.Rows[1].Name != "\xff\x00bad" {
			t.Errorf("domains since 10:00:30 = %+v, want the raw bytes \\xff\\x00bad second", got.Rows)
		}
	})
}

func TestTopErrors(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		dsn := storetest.NewDSN(t, b)
		s := open(t, dsn, "")

		_, err := s.Top(t.Context(), store.TopQuery{By: store.ByService})
		if !errors.Is(err, store.ErrNoSchema) {
			t.Errorf("Top on an empty database = %v, want ErrNoSchema", err)
		}
		if err != nil && err.Error() != `table tcpdump_records is missing: run "netmon migrate" first` {
			t.Errorf("Top on an empty database says %q", err)
		}
		if _, err := s.Extent(t.Context(), ""); !errors.Is(err, store.ErrNoSchema) {
			t.Errorf("Extent on an empty database = %v, want ErrNoSchema", err)
		}
		// A database an older netmon migrated (00003, before
		// nickname_source): the remedy, not "query failed".
		old := storetest.NewDSN(t, b)
		storetest.MigrateTo(t, old, 3)
		so := open(t, old, "")
		for _, by := range []store.TopBy{store.ByService, store.ByNaming} {
			_, err := so.Top(t.Context(), store.TopQuery{By: by})
			want := `column nickname_source of tcpdump_records is missing, the schema is older than this netmon: run "netmon migrate" first`
			if !errors.Is(err, store.ErrNoSchema) || err.Error() != want {
				t.Errorf("Top by %s on a database at 00003 = %v, want %q", by, err, want)
			}
		}
		if _, err := so.Top(t.Context(), store.TopQuery{By: store.ByDomain}); err != nil {
			t.Errorf("Top by domain on a database at 00003 = %v; it reads no new column", err)
		}
		if _, err := s.Top(t.Context(), store.TopQuery{By: "nickname"}); err == nil {
			t.Error("Top by an unknown grouping did not fail")
		}
		if _, err := s.Top(t.Context(), store.TopQuery{By: store.ByDevice, Limit: -1}); err == nil {
			t.Error("Top with a negative limit did not fail")
		}
	})
}

func TestExtent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := queryFixture(t, b)
		tests := []struct {
			agent string
			want  store.Extent
		}{
			{"", store.Extent{Oldest: at("2024-05-01 09:00:00"), Newest: at("2024-05-01 10:00:40"), Agents: []string{"home", "office"}}},
			{"office", store.Extent{Oldest: at("2024-05-01 09:00:00"), Newest: at("2024-05-01 09:00:00"), Agents: []string{"home", "office"}}},
			{"nobody", store.Extent{Agents: []string{"home", "office"}}},
		}
		for _, tt := range tests {
			got, err := s.Extent(t.Context(), tt.agent)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Extent(%q) (-want +got):\n%s", tt.agent, d)
			}
			if got.Empty() != (tt.agent == "nobody") {
				t.Errorf("Extent(%q).Empty() = %v", tt.agent, got.Empty())
			}
		}
	})
}
