package store_test

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// t0 is a window start just before the 2024 European DST change, so that
// anything converting through a local zone shows up as a wrong hour.
var (
	t0 = time.Date(2024, 3, 31, 0, 59, 50, 0, time.UTC)
	t1 = t0.Add(10 * time.Second)
	t2 = t1.Add(10 * time.Second)
)

var (
	c1 = netip.MustParseAddr("192.168.1.10")
	c2 = netip.MustParseAddr("192.168.1.11")
	c3 = netip.MustParseAddr("fd00::1234:5678")
	r1 = netip.MustParseAddr("203.0.113.7")
	r2 = netip.MustParseAddr("2001:db8::53")
)

// record is one tcpdump_records row as read back. Domain is a string so
// that cmp compares it byte for byte and prints it readably.
type record struct {
	TS       time.Time `db:"ts"`
	Agent    string    `db:"agent"`
	Client   string    `db:"client"`
	Domain   string    `db:"domain"`
	Nickname string    `db:"nickname"`
	Source   string    `db:"source"`
	Count    uint64    `db:"count"`
	Bytes    uint64    `db:"bytes"`
}

// name is one dns_records row as read back.
type name struct {
	TS         time.Time `db:"ts"`
	Agent      string    `db:"agent"`
	IPAddr     string    `db:"ip_addr"`
	Domain     string    `db:"domain"`
	IsDefinite bool      `db:"is_definite"`
	Source     string    `db:"source"`
}

// step is one WriteWindow call by one agent.
type step struct {
	agent string
	w     aggregate.Window
}

// db is a migrated scratch database with stores opened on demand, one per
// agent, as separate netmon instances would.
type db struct {
	t      *testing.T
	dsn    string
	raw    *sqlx.DB
	stores map[string]*store.Store
}

func newDB(t *testing.T, b storetest.Backend) *db {
	t.Helper()
	dsn := storetest.NewDSN(t, b)
	d := &db{t: t, dsn: dsn, raw: storetest.Open(t, dsn), stores: map[string]*store.Store{}}
	if _, _, err := d.store("a").Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return d
}

func (d *db) store(agent string) *store.Store {
	if s, ok := d.stores[agent]; ok {
		return s
	}
	s := open(d.t, d.dsn, agent)
	d.stores[agent] = s
	return s
}

func (d *db) write(steps ...step) {
	d.t.Helper()
	for i, st := range steps {
		if err := d.store(st.agent).WriteWindow(d.t.Context(), &st.w); err != nil {
			d.t.Fatalf("step %d: WriteWindow: %v", i, err)
		}
	}
}

func (d *db) records() []record {
	d.t.Helper()
	var got []record
	err := d.raw.SelectContext(d.t.Context(), &got,
		`SELECT ts, agent, client, domain, nickname, source, count, bytes FROM tcpdump_records
		 ORDER BY agent, ts, client, domain`)
	if err != nil {
		d.t.Fatalf("read tcpdump_records: %v", err)
	}
	return got
}

func (d *db) names() []name {
	d.t.Helper()
	var got []name
	err := d.raw.SelectContext(d.t.Context(), &got,
		`SELECT ts, agent, ip_addr, domain, is_definite, source FROM dns_records ORDER BY agent, ip_addr`)
	if err != nil {
		d.t.Fatalf("read dns_records: %v", err)
	}
	return got
}

func row(client netip.Addr, domain, nickname string, src source.Source, count, bytes uint64) aggregate.Row {
	return aggregate.Row{Client: client, Domain: domain, Nickname: nickname, Source: src, Count: count, Bytes: bytes}
}

func TestWriteWindow(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		// SQLite's integers are signed: a value beyond them is cut to fit,
		// as a too-long name is.
		maxBytes := uint64(1<<63 + 1)
		if b == storetest.SQLite {
			maxBytes = math.MaxInt64
		}
		tests := []struct {
			name  string
			steps []step
			want  []record
		}{
			{
				name: "rows of one window",
				steps: []step{{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
					row(c1, "www.youtube.com", "YouTube", source.SNI, 10, 15000),
					row(c1, "203.0.113.7", "203.0.113.7", source.IP, 1, 60),
					row(c3, "dns.google", "Google DNS", source.DNS, 2, 180),
				}}}},
				want: []record{
					{t0, "a", "192.168.1.10", "203.0.113.7", "203.0.113.7", "ip", 1, 60},
					{t0, "a", "192.168.1.10", "www.youtube.com", "YouTube", "sni", 10, 15000},
					{t0, "a", "fd00::1234:5678", "dns.google", "Google DNS", "dns", 2, 180},
				},
			},
			{
				name: "same key again adds and takes the later name",
				steps: []step{
					{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{row(c1, "x.example", "X", source.DNS, 3, 300)}}},
					{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{row(c1, "x.example", "Ex", source.SNI, 4, 400)}}},
				},
				want: []record{{t0, "a", "192.168.1.10", "x.example", "Ex", "sni", 7, 700}},
			},
			{
				name: "same key twice in one window adds",
				steps: []step{{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
					row(c1, "x.example", "X", source.DNS, 3, 300),
					row(c1, "x.example", "X", source.DNS, 4, 400),
				}}}},
				want: []record{{t0, "a", "192.168.1.10", "x.example", "X", "dns", 7, 700}},
			},
			{
				name: "windows, clients and agents are separate keys",
				steps: []step{
					{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{row(c1, "x.example", "X", source.DNS, 1, 10)}}},
					{"a", aggregate.Window{Start: t1, Rows: []aggregate.Row{row(c1, "x.example", "X", source.DNS, 2, 20)}}},
					{"a", aggregate.Window{Start: t1, Rows: []aggregate.Row{row(c2, "x.example", "X", source.DNS, 3, 30)}}},
					{"b", aggregate.Window{Start: t1, Rows: []aggregate.Row{row(c2, "x.example", "X", source.DNS, 4, 40)}}},
					// Agents compare exactly, not case-folded.
					{"A", aggregate.Window{Start: t1, Rows: []aggregate.Row{row(c2, "x.example", "X", source.DNS, 5, 50)}}},
				},
				want: []record{
					{t1, "A", "192.168.1.11", "x.example", "X", "dns", 5, 50},
					{t0, "a", "192.168.1.10", "x.example", "X", "dns", 1, 10},
					{t1, "a", "192.168.1.10", "x.example", "X", "dns", 2, 20},
					{t1, "a", "192.168.1.11", "x.example", "X", "dns", 3, 30},
					{t1, "b", "192.168.1.11", "x.example", "X", "dns", 4, 40},
				},
			},
			{
				name: "domains differing only in case are separate keys",
				steps: []step{{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
					row(c1, "X.example", "X", source.DNS, 1, 10),
					row(c1, "x.example", "X", source.DNS, 2, 20),
				}}}},
				want: []record{
					{t0, "a", "192.168.1.10", "X.example", "X", "dns", 1, 10},
					{t0, "a", "192.168.1.10", "x.example", "X", "dns", 2, 20},
				},
			},
			{
				name: "start in another zone is stored as UTC",
				steps: []step{{"a", aggregate.Window{
					Start: t0.In(time.FixedZone("CEST", 2*3600)),
					Rows:  []aggregate.Row{row(c1, "x.example", "X", source.DNS, 1, 10)},
				}}},
				want: []record{{t0, "a", "192.168.1.10", "x.example", "X", "dns", 1, 10}},
			},
			{
				name: "counts beyond 32 bits",
				steps: []step{{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
					row(c1, "x.example", "X", source.DNS, 1<<40, 1<<63+1),
				}}}},
				want: []record{{t0, "a", "192.168.1.10", "x.example", "X", "dns", 1 << 40, maxBytes}},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				d := newDB(t, b)
				d.write(tt.steps...)
				if diff := cmp.Diff(d.records(), tt.want); diff != "" {
					t.Errorf("tcpdump_records (-got +want):\n%s", diff)
				}
			})
		}
	})
}

// manyRows returns n distinct rows: clients × domains.
func manyRows(n int) []aggregate.Row {
	rows := make([]aggregate.Row, n)
	for i := range rows {
		client := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i % 250)})
		rows[i] = row(client, fmt.Sprintf("d%d.example", i%7), "N", source.DNS, uint64(i+1), uint64(100*(i+1)))
	}
	return rows
}

func TestWriteWindowChunks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		const n = 2345 // three statements: 1000, 1000, 345
		d := newDB(t, b)
		rows := manyRows(n)
		d.write(step{"a", aggregate.Window{Start: t0, Rows: rows}})
		d.write(step{"a", aggregate.Window{Start: t0, Rows: rows}}) // every row now a duplicate

		want := make([]record, n)
		for i, r := range rows {
			want[i] = record{t0, "a", r.Client.String(), r.Domain, "N", "dns", 2 * r.Count, 2 * r.Bytes}
		}
		key := func(r record) string { return r.Client + " " + r.Domain }
		if got := d.records(); len(got) != n {
			t.Errorf("read %d rows, want %d", len(got), n)
		} else if diff := cmp.Diff(index(got, key), index(want, key)); diff != "" {
			t.Errorf("tcpdump_records (-got +want):\n%s", diff)
		}
	})
}

// TestWriteWindowOneTransaction makes the third statement of a window fail
// and checks that nothing of the window remains.
func TestWriteWindowOneTransaction(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		trigger := `CREATE TRIGGER refuse_boom BEFORE INSERT ON tcpdump_records FOR EACH ROW
			BEGIN IF NEW.domain = 'boom' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test trigger'; END IF; END`
		if b == storetest.SQLite {
			// domain is a BLOB, which never equals a TEXT literal.
			trigger = `CREATE TRIGGER refuse_boom BEFORE INSERT ON tcpdump_records FOR EACH ROW
				WHEN NEW.domain = CAST('boom' AS BLOB) BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END`
		}
		_, err := d.raw.ExecContext(t.Context(), trigger)
		if err != nil {
			t.Fatalf("create trigger: %v", err)
		}
		rows := manyRows(2500)
		rows[2400].Domain = "boom"
		w := aggregate.Window{
			Start: t0,
			Rows:  rows,
			Names: []source.Record{{TS: t0, Addr: r1, Domain: "x.example", Source: source.DNS}},
		}
		err = d.store("a").WriteWindow(t.Context(), &w)
		if err == nil || !strings.Contains(err.Error(), "refused by test trigger") {
			t.Fatalf("WriteWindow = %v, want the trigger's error", err)
		}
		if got := d.records(); len(got) != 0 {
			t.Errorf("after a failed window, tcpdump_records has %d rows, want 0", len(got))
		}
		if got := d.names(); len(got) != 0 {
			t.Errorf("after a failed window, dns_records has %d rows, want 0", len(got))
		}
	})
}

// TestWriteWindowEmpty shows that an empty window does not touch the
// database: the store's pool is closed, and only a non-empty window fails.
func TestWriteWindowEmpty(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		dsn := storetest.NewDSN(t, b)
		s, err := store.Open(t.Context(), store.Config{DSN: dsn, Agent: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, w := range []*aggregate.Window{nil, {}, {Start: t0}, {Start: t0, Rows: []aggregate.Row{}}} {
			if err := s.WriteWindow(t.Context(), w); err != nil {
				t.Errorf("WriteWindow(%+v) = %v, want nil without a round trip", w, err)
			}
		}
		full := &aggregate.Window{Start: t0, Rows: []aggregate.Row{row(c1, "x", "x", source.DNS, 1, 1)}}
		if err := s.WriteWindow(t.Context(), full); err == nil {
			t.Error("WriteWindow of a non-empty window on a closed store succeeded")
		}
	})
}

func TestDNSRecords(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		rec := func(ts time.Time, addr netip.Addr, domain string, src source.Source) source.Record {
			return source.Record{TS: ts, Addr: addr, Domain: domain, Source: src}
		}
		names := func(agent string, start time.Time, rs ...source.Record) step {
			return step{agent, aggregate.Window{Start: start, Names: rs}}
		}
		tests := []struct {
			name  string
			steps []step
			want  []name
		}{
			{
				name: "first names of each kind",
				steps: []step{names("a", t0,
					rec(t0.Add(1500*time.Millisecond), r1, "cdn.example", source.DNS),
					rec(t0, r2, "host.ptr.example", source.PTR),
				)},
				want: []name{
					{t0, "a", "2001:db8::53", "host.ptr.example", false, "ptr"},
					{t0.Add(time.Second), "a", "203.0.113.7", "cdn.example", true, "dns"},
				},
			},
			{
				name: "definite replaces ptr",
				steps: []step{
					names("a", t0, rec(t0, r1, "host.ptr.example", source.PTR)),
					names("a", t1, rec(t1, r1, "www.example", source.SNI)),
				},
				want: []name{{t1, "a", "203.0.113.7", "www.example", true, "sni"}},
			},
			{
				name: "ptr does not replace definite",
				steps: []step{
					names("a", t0, rec(t0, r1, "www.example", source.DNS)),
					names("a", t1, rec(t1, r1, "host.ptr.example", source.PTR)),
				},
				want: []name{{t0, "a", "203.0.113.7", "www.example", true, "dns"}},
			},
			{
				name: "ptr replaces ptr",
				steps: []step{
					names("a", t0, rec(t0, r1, "old.ptr.example", source.PTR)),
					names("a", t1, rec(t1, r1, "new.ptr.example", source.PTR)),
				},
				want: []name{{t1, "a", "203.0.113.7", "new.ptr.example", false, "ptr"}},
			},
			{
				name: "definite replaces definite",
				steps: []step{
					names("a", t0, rec(t0, r1, "a.example", source.DNS)),
					names("a", t1, rec(t1, r1, "b.example", source.QUIC)),
				},
				want: []name{{t1, "a", "203.0.113.7", "b.example", true, "quic"}},
			},
			{
				name: "in one window, ptr after definite loses",
				steps: []step{names("a", t0,
					rec(t0, r1, "www.example", source.SVCB),
					rec(t0.Add(time.Second), r1, "host.ptr.example", source.PTR),
				)},
				want: []name{{t0, "a", "203.0.113.7", "www.example", true, "svcb"}},
			},
			{
				name: "agents keep their own names",
				steps: []step{
					names("a", t0, rec(t0, r1, "www.example", source.DNS)),
					names("b", t1, rec(t1, r1, "host.ptr.example", source.PTR)),
				},
				want: []name{
					{t0, "a", "203.0.113.7", "www.example", true, "dns"},
					{t1, "b", "203.0.113.7", "host.ptr.example", false, "ptr"},
				},
			},
			{
				name:  "missing time takes the window's start",
				steps: []step{names("a", t2, rec(time.Time{}, r1, "www.example", source.HTTP))},
				want:  []name{{t2, "a", "203.0.113.7", "www.example", true, "http"}},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				d := newDB(t, b)
				d.write(tt.steps...)
				if diff := cmp.Diff(d.names(), tt.want); diff != "" {
					t.Errorf("dns_records (-got +want):\n%s", diff)
				}
			})
		}
	})
}

func TestCorrections(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		const (
			ptrName = "host-7.ptr.example"
			newName = "www.example"
		)
		fix := func(old string) aggregate.Correction {
			return aggregate.Correction{Addr: r1, Old: old, New: newName, NewNickname: "Example", NewSource: source.SNI}
		}
		// before is written first in every case.
		before := []step{
			{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
				row(c1, "203.0.113.7", "203.0.113.7", source.IP, 3, 300),
				row(c1, ptrName, "host-7", source.PTR, 2, 200),
				row(c1, newName, "Example", source.DNS, 10, 1000),
				row(c2, ptrName, "host-7 by dns", source.DNS, 7, 700),
				row(c2, "203.0.113.7", "203.0.113.7", source.IP, 1, 100),
			}}},
			{"a", aggregate.Window{Start: t1, Rows: []aggregate.Row{
				row(c1, ptrName, "host-7", source.PTR, 4, 400),
			}}},
			{"b", aggregate.Window{Start: t0, Rows: []aggregate.Row{
				row(c1, ptrName, "host-7", source.PTR, 5, 500),
				row(c1, "203.0.113.7", "203.0.113.7", source.IP, 6, 600),
			}}},
		}
		untouched := []record{
			{t0, "a", "192.168.1.10", "203.0.113.7", "203.0.113.7", "ip", 3, 300},
			{t0, "a", "192.168.1.10", ptrName, "host-7", "ptr", 2, 200},
			{t0, "a", "192.168.1.10", newName, "Example", "dns", 10, 1000},
			{t0, "a", "192.168.1.11", "203.0.113.7", "203.0.113.7", "ip", 1, 100},
			{t0, "a", "192.168.1.11", ptrName, "host-7 by dns", "dns", 7, 700},
			{t1, "a", "192.168.1.10", ptrName, "host-7", "ptr", 4, 400},
			{t0, "b", "192.168.1.10", "203.0.113.7", "203.0.113.7", "ip", 6, 600},
			{t0, "b", "192.168.1.10", ptrName, "host-7", "ptr", 5, 500},
		}
		tests := []struct {
			name  string
			steps []step
			want  []record
		}{
			{
				name: "ptr name and ip literal move to the definite name",
				steps: []step{{"a", aggregate.Window{Start: t2,
					// A row of this window under the literal moves too: the
					// correction runs after the window's rows.
					Rows:        []aggregate.Row{row(c3, "203.0.113.7", "203.0.113.7", source.IP, 1, 10)},
					Corrections: []aggregate.Correction{fix(ptrName), fix("203.0.113.7")},
				}}},
				want: []record{
					// Merged into the existing row, which keeps its name's source.
					{t0, "a", "192.168.1.10", newName, "Example", "dns", 15, 1500},
					// Same domain, but named by DNS: not a guess, left alone.
					{t0, "a", "192.168.1.11", ptrName, "host-7 by dns", "dns", 7, 700},
					{t0, "a", "192.168.1.11", newName, "Example", "sni", 1, 100},
					{t1, "a", "192.168.1.10", newName, "Example", "sni", 4, 400},
					{t2, "a", "fd00::1234:5678", newName, "Example", "sni", 1, 10},
					// Another agent's rows are its own to correct.
					{t0, "b", "192.168.1.10", "203.0.113.7", "203.0.113.7", "ip", 6, 600},
					{t0, "b", "192.168.1.10", ptrName, "host-7", "ptr", 5, 500},
				},
			},
			{
				name: "correction to the same name changes nothing",
				steps: []step{{"a", aggregate.Window{Start: t2, Corrections: []aggregate.Correction{
					{Addr: r1, Old: ptrName, New: ptrName, NewNickname: "host-7", NewSource: source.PTR},
				}}}},
				want: untouched,
			},
			{
				name: "correction of an unknown name changes nothing",
				steps: []step{{"a", aggregate.Window{Start: t2, Corrections: []aggregate.Correction{
					fix("nothing.example"),
				}}}},
				want: untouched,
			},
			{
				name:  "LIKE wildcards in the old name are plain characters",
				steps: []step{{"a", aggregate.Window{Start: t2, Corrections: []aggregate.Correction{fix("%"), fix("host-_.ptr.example")}}}},
				want:  untouched,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				d := newDB(t, b)
				d.write(before...)
				d.write(tt.steps...)
				if diff := cmp.Diff(d.records(), tt.want); diff != "" {
					t.Errorf("tcpdump_records (-got +want):\n%s", diff)
				}
			})
		}
	})
}

// seedQuery is the seed dashboard's panel query, verbatim.
const seedQuery = `SELECT UNIX_TIMESTAMP(ts) AS time, nickname AS metric, sum(count) AS value FROM tcpdump_records WHERE $__timeFilter(ts) GROUP BY nickname, ts ORDER BY ts`

// sqliteSeedQuery is the same panel for Grafana's SQLite data source
// (frser-sqlite-datasource), which has no $__timeFilter but expands
// $__unixEpochFrom() and $__unixEpochTo() to the range in Unix seconds.
// README's SQLite section shows it.
const sqliteSeedQuery = `SELECT CAST(strftime('%s', ts) AS INTEGER) AS time, nickname AS metric, sum(count) AS value FROM tcpdump_records` +
	` WHERE ts BETWEEN datetime($__unixEpochFrom(), 'unixepoch') AND datetime($__unixEpochTo(), 'unixepoch') GROUP BY nickname, ts ORDER BY ts`

func TestGrafanaQuery(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		d.write(
			step{"a", aggregate.Window{Start: t0.Add(-10 * time.Second), Rows: []aggregate.Row{
				row(c1, "x.example", "X", source.DNS, 100, 1), // before the range
			}}},
			step{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
				row(c1, "www.youtube.com", "YouTube", source.SNI, 10, 1),
				row(c2, "i.ytimg.com", "YouTube", source.DNS, 5, 1),
				row(c1, "x.example", "X", source.DNS, 1, 1),
			}}},
			step{"b", aggregate.Window{Start: t0, Rows: []aggregate.Row{
				row(c1, "www.youtube.com", "YouTube", source.SNI, 2, 1),
			}}},
			step{"a", aggregate.Window{Start: t1, Rows: []aggregate.Row{
				row(c1, "x.example", "X", source.DNS, 7, 1),
			}}},
			step{"a", aggregate.Window{Start: t2, Rows: []aggregate.Row{
				row(c1, "x.example", "X", source.DNS, 100, 1), // after the range
			}}},
		)

		// Grafana's MySQL source expands $__timeFilter(ts) to a BETWEEN of
		// FROM_UNIXTIME and sets the session zone to UTC, as storetest.Open does.
		q := strings.Replace(seedQuery, "$__timeFilter(ts)", "ts BETWEEN FROM_UNIXTIME(?) AND FROM_UNIXTIME(?)", 1)
		if b == storetest.SQLite {
			q = strings.NewReplacer("$__unixEpochFrom()", "?", "$__unixEpochTo()", "?").Replace(sqliteSeedQuery)
		}
		type point struct {
			Time   int64  `db:"time"`
			Metric string `db:"metric"`
			Value  int64  `db:"value"`
		}
		var got []point
		if err := d.raw.SelectContext(t.Context(), &got, q, t0.Unix(), t1.Unix()); err != nil {
			t.Fatalf("seed query: %v", err)
		}
		want := []point{
			{t0.Unix(), "X", 1},
			{t0.Unix(), "YouTube", 17},
			{t1.Unix(), "X", 7},
		}
		// ORDER BY ts leaves the order within one time open.
		sortPoints := cmp.Transformer("sort", func(ps []point) []point {
			out := append([]point(nil), ps...)
			for i := range out {
				for j := i + 1; j < len(out); j++ {
					if out[j].Time < out[i].Time || out[j].Time == out[i].Time && out[j].Metric < out[i].Metric {
						out[i], out[j] = out[j], out[i]
					}
				}
			}
			return out
		})
		if diff := cmp.Diff(got, want, sortPoints); diff != "" {
			t.Errorf("seed query (-got +want):\n%s", diff)
		}
	})
}

func TestHostileStrings(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		label := func(n int) string { // n characters of DNS labels separated by dots
			var b strings.Builder
			for b.Len() < n {
				if b.Len()%64 == 63 {
					b.WriteByte('.')
				} else {
					b.WriteByte('a' + byte(b.Len()%26))
				}
			}
			return b.String()
		}
		long := label(253)
		hostile := []string{
			`it's`, `say "hi"`, `back\slash`, `\'; DROP TABLE tcpdump_records; --`, `100%`, `a_b`, `%`, `_`,
			"nul\x00byte", "\x00", "tab\tnewline\n", " trailing space ", "", long,
		}
		invalid := []string{"\xff\xfe", "caf\xe9.example", "ok.\xc3"} // not UTF-8: domain only
		nicknames := append(append([]string{}, hostile...), "📺 Télé", strings.Repeat("é", 255))
		agents := []string{`it's "agent" \ % _`, "nul\x00agent", "ÅgÉnt 📡", strings.Repeat("x", 64)}

		var steps []step
		var want []record
		var wantNames []name
		for ai, agent := range agents {
			var rows []aggregate.Row
			var recs []source.Record
			for i, dom := range append(append([]string{}, hostile...), invalid...) {
				nick := nicknames[i%len(nicknames)]
				client := netip.AddrFrom4([4]byte{10, 0, byte(ai), byte(i)})
				rows = append(rows, row(client, dom, nick, source.SNI, uint64(i+1), 1))
				want = append(want, record{t0, agent, client.String(), dom, nick, "sni", uint64(i + 1), 1})
				addr := netip.AddrFrom4([4]byte{198, 51, byte(ai), byte(i)})
				recs = append(recs, source.Record{TS: t0, Addr: addr, Domain: dom, Source: source.DNS})
				wantNames = append(wantNames, name{t0, agent, addr.String(), dom, true, "dns"})
			}
			steps = append(steps, step{agent, aggregate.Window{Start: t0, Rows: rows, Names: recs}})
		}

		d := newDB(t, b)
		d.write(steps...)
		got := d.records()
		gotNames := d.names()
		// The database orders by its collation; compare as sets keyed exactly.
		key := func(r record) string { return r.Agent + "\x01" + r.Client + "\x01" + r.Domain }
		nameKey := func(n name) string { return n.Agent + "\x01" + n.IPAddr }
		if diff := cmp.Diff(index(got, key), index(want, key)); diff != "" {
			t.Errorf("tcpdump_records (-got +want):\n%s", diff)
		}
		if diff := cmp.Diff(index(gotNames, nameKey), index(wantNames, nameKey)); diff != "" {
			t.Errorf("dns_records (-got +want):\n%s", diff)
		}

		// A correction from a hostile name moves exactly that name's guesses.
		agent := agents[0]
		d.write(
			step{agent, aggregate.Window{Start: t1, Rows: []aggregate.Row{
				row(c1, "%", "p", source.PTR, 1, 1),
				row(c1, "caf\xe9.example", "p", source.PTR, 2, 2),
				row(c1, "anything", "p", source.PTR, 3, 3),
			}}},
			step{agent, aggregate.Window{Start: t1, Corrections: []aggregate.Correction{
				{Old: "%", New: "new\x00'", NewNickname: "N'", NewSource: source.DNS},
				{Old: "caf\xe9.example", New: "new\x00'", NewNickname: "N'", NewSource: source.DNS},
			}}},
		)
		var moved []record
		for _, r := range d.records() {
			if r.TS.Equal(t1) {
				moved = append(moved, r)
			}
		}
		wantMoved := []record{
			{t1, agent, "192.168.1.10", "anything", "p", "ptr", 3, 3},
			{t1, agent, "192.168.1.10", "new\x00'", "N'", "dns", 3, 3},
		}
		if diff := cmp.Diff(index(moved, key), index(wantMoved, key)); diff != "" {
			t.Errorf("after corrections (-got +want):\n%s", diff)
		}
	})
}

func TestWriteWindowTooWide(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		wide := strings.Repeat("d", 300)
		d.write(step{"a", aggregate.Window{Start: t0, Rows: []aggregate.Row{
			row(c1, wide, strings.Repeat("ñ", 300), source.SNI, 1, 1),
			row(c2, "x.example", "bad \xff nick", source.SNI, 1, 1),
		}}})
		want := []record{
			{t0, "a", "192.168.1.10", wide[:255], strings.Repeat("ñ", 255), "sni", 1, 1},
			{t0, "a", "192.168.1.11", "x.example", "bad \uFFFD nick", "sni", 1, 1},
		}
		if diff := cmp.Diff(d.records(), want); diff != "" {
			t.Errorf("tcpdump_records (-got +want):\n%s", diff)
		}
	})
}

func index[T any](s []T, key func(T) string) map[string]T {
	m := make(map[string]T, len(s))
	for _, v := range s {
		m[key(v)] = v
	}
	return m
}

// BenchmarkWriteWindow writes a busy home network's window: 1,000 new rows
// and 50 names. Each iteration is a new window start, so every row inserts.
func BenchmarkWriteWindow(b *testing.B) {
	dsn := storetest.NewDB(b)
	s, err := store.Open(b.Context(), store.Config{DSN: dsn, Agent: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, _, err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	w := aggregate.Window{Rows: manyRows(1000)}
	for i := range 50 {
		w.Names = append(w.Names, source.Record{TS: t0, Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
			Domain: fmt.Sprintf("n%d.example", i), Source: source.DNS})
	}
	b.ReportAllocs()
	start := t0
	for b.Loop() {
		w.Start = start
		if err := s.WriteWindow(b.Context(), &w); err != nil {
			b.Fatal(err)
		}
		start = start.Add(10 * time.Second)
	}
}
