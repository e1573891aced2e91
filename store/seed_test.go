package store_test

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// seedDDL is exactly what the seed's setup created (issue 17).
var seedDDL = []string{
	`CREATE TABLE dns_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, ip_addr TEXT, domain TEXT, is_definite BOOL, PRIMARY KEY(id)) DEFAULT CHARSET=utf8`,
	`CREATE TABLE tcpdump_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, domain TEXT, nickname TEXT, count INT, PRIMARY KEY(id)) DEFAULT CHARSET=utf8`,
}

// seedPanel is the seed's Grafana panel query, with $__timeFilter(ts)
// expanded as Grafana's MySQL data source does.
const seedPanel = `SELECT UNIX_TIMESTAMP(ts) AS time, nickname AS metric, sum(count) AS value FROM tcpdump_records` +
	` WHERE ts BETWEEN FROM_UNIXTIME(?) AND FROM_UNIXTIME(?) GROUP BY nickname, ts ORDER BY ts`

type panelPoint struct {
	Time   int64  `db:"time"`
	Metric string `db:"metric"`
	Value  int64  `db:"value"`
}

// makeSeed creates the seed's tables in an empty MariaDB database and fills
// them as the seed's script did, from a session in a zone other than UTC
// (a Pi set to local time): TIMESTAMPs are stored as instants whatever the
// session's zone. Two rows share a window and domain, and two names share
// an address, which netmon's own keys would not allow.
func makeSeed(t *testing.T, dsn string, seedT time.Time) {
	t.Helper()
	db := storetest.Open(t, dsn)
	for _, q := range seedDDL {
		db.MustExec(q)
	}
	conn, err := db.Connx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `SET time_zone = '+02:00'`); err != nil {
		t.Fatal(err)
	}
	local := func(d time.Duration) string {
		return seedT.Add(d).In(time.FixedZone("", 2*3600)).Format("2006-01-02 15:04:05")
	}
	for _, r := range []struct {
		d            time.Duration
		domain, nick string
		count        int
	}{
		{0, "www.youtube.com", "YouTube", 120},
		{0, "www.youtube.com", "YouTube", 30}, // the same window and domain again
		{0, "api.netflix.com", "Netflix", 7},
		{10 * time.Second, "www.youtube.com", "YouTube", 44},
	} {
		if _, err := conn.ExecContext(t.Context(), `INSERT INTO tcpdump_records (ts, domain, nickname, count) VALUES (?, ?, ?, ?)`,
			local(r.d), r.domain, r.nick, r.count); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []struct{ ip, domain string }{
		{"142.250.74.110", "www.youtube.com"}, {"142.250.74.110", "youtube.com"}, {"52.1.2.3", "api.netflix.com"},
	} {
		if _, err := conn.ExecContext(t.Context(), `INSERT INTO dns_records (ts, ip_addr, domain, is_definite) VALUES (?, ?, ?, 1)`,
			local(0), n.ip, n.domain); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdoptSeed(t *testing.T) {
	dsn := storetest.NewDSN(t, storetest.MariaDB)
	seedT := time.Date(2024, 3, 31, 0, 59, 50, 0, time.UTC)
	makeSeed(t, dsn, seedT)
	db := storetest.Open(t, dsn)

	st := open(t, dsn, "pi")
	res, err := st.Adopt(t.Context(), "old-pi")
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if !res.Adopted || res.Records != 4 || res.Names != 3 {
		t.Fatalf("Adopt = %+v, want adopted with 4 records and 3 names", res)
	}
	from, to, err := st.Migrate(t.Context())
	if err != nil {
		t.Fatalf("Migrate after Adopt: %v", err)
	}
	if from != 1 || to < 5 {
		t.Fatalf("Migrate from %d to %d, want from 1 to the latest", from, to)
	}
	if err := st.CheckSchema(t.Context()); err != nil {
		t.Fatalf("CheckSchema: %v", err)
	}
	// Again: nothing to do.
	if res, err := st.Adopt(t.Context(), "old-pi"); err != nil || res.Adopted {
		t.Fatalf("second Adopt = %+v, %v; want nothing done", res, err)
	}

	// netmon writes into the adopted tables, twice to the same key (they
	// merge), and names an address the seed named twice.
	client := netip.MustParseAddr("192.168.1.10")
	win := func(start time.Time, n uint64) *aggregate.Window {
		return &aggregate.Window{Start: start, Rows: []aggregate.Row{{Client: client, Domain: "www.youtube.com", Nickname: "YouTube",
			Source: source.DNS, Count: n, Bytes: 1000 * n}},
			Names: []source.Record{{Addr: netip.MustParseAddr("142.250.74.110"), Domain: "www.youtube.com", Source: source.DNS}}}
	}
	newT := seedT.Add(20 * time.Second)
	for _, n := range []uint64{5, 6} {
		if err := st.WriteWindow(t.Context(), win(newT, n)); err != nil {
			t.Fatalf("WriteWindow into the adopted tables: %v", err)
		}
	}

	var got []panelPoint
	if err := db.Select(&got, seedPanel, seedT.Unix()-60, seedT.Unix()+60); err != nil {
		t.Fatalf("the seed's panel query: %v", err)
	}
	want := []panelPoint{
		{seedT.Unix(), "Netflix", 7}, {seedT.Unix(), "YouTube", 150},
		{seedT.Unix() + 10, "YouTube", 44},
		{newT.Unix(), "YouTube", 11},
	}
	if !samePoints(got, want) {
		t.Fatalf("seed's panel query over old and new rows:\n got %v\nwant %v", got, want)
	}

	var rows []struct {
		Agent string `db:"agent"`
		Count int64  `db:"count"`
		Bytes *int64 `db:"bytes"`
		Key   *uint8 `db:"seed_key"`
	}
	if err := db.Select(&rows, `SELECT agent, count, bytes, seed_key FROM tcpdump_records ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("tcpdump_records has %d rows, want the 4 old ones and 1 new", len(rows))
	}
	for i, r := range rows[:4] {
		if r.Agent != "old-pi" || r.Bytes != nil || r.Key != nil {
			t.Errorf("old row %d = agent %q bytes %v seed_key %v, want old-pi, NULL, NULL", i, r.Agent, r.Bytes, r.Key)
		}
	}
	if r := rows[4]; r.Agent != "pi" || r.Bytes == nil || *r.Bytes != 11000 || r.Key == nil || *r.Key != 0 {
		t.Errorf("new row = %+v, want agent pi, 11000 bytes, seed_key 0", r)
	}
	var names []struct {
		Agent string `db:"agent"`
		IP    string `db:"ip_addr"`
	}
	if err := db.Select(&names, `SELECT agent, ip_addr FROM dns_records ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(names) != 4 || names[0].Agent != "old-pi" || names[3].Agent != "pi" {
		t.Errorf("dns_records = %+v, want the 3 old names under old-pi and one of pi", names)
	}

	// netmon top: the old rows count their packets, their bytes unknown.
	top, err := st.Top(t.Context(), store.TopQuery{By: store.ByService})
	if err != nil {
		t.Fatal(err)
	}
	if top.Total.Packets != 212 || top.Total.Bytes != 11000 || top.Total.UnknownBytes != 201 {
		t.Errorf("Top total = %+v, want 212 packets, 11000 bytes known, 201 packets of unknown bytes", top.Total)
	}
	for _, r := range top.Rows {
		if r.Name == "Netflix" && (r.Packets != 7 || r.UnknownBytes != 7 || r.Bytes != 0) {
			t.Errorf("Top Netflix = %+v, want 7 packets, all of unknown bytes", r)
		}
	}
	ser, err := st.Series(t.Context(), store.SeriesQuery{Since: seedT, Until: seedT.Add(30 * time.Second), Buckets: 3, Top: 4})
	if err != nil {
		t.Fatalf("Series over old rows: %v", err)
	}
	for _, l := range ser.Lines {
		if l.Name == "YouTube" && (fmt.Sprint(l.Packets) != "[150 44 11]" || fmt.Sprint(l.UnknownBytes) != "[150 44 0]" || fmt.Sprint(l.Bytes) != "[0 0 11000]") {
			t.Errorf("Series YouTube = %+v, want packets [150 44 11] of which [150 44 0] of unknown bytes, bytes [0 0 11000]", l)
		}
	}
	// The dashboards' view reads the old rows too.
	var viewRows int
	if err := db.Get(&viewRows, `SELECT COUNT(*) FROM device_records WHERE bytes IS NULL`); err != nil || viewRows != 4 {
		t.Errorf("device_records rows with unknown bytes = %d, %v; want 4", viewRows, err)
	}
}

// samePoints compares in (time, metric) order: the panel orders by time only.
func samePoints(a, b []panelPoint) bool {
	sort.Slice(a, func(i, j int) bool {
		return a[i].Time < a[j].Time || a[i].Time == a[j].Time && a[i].Metric < a[j].Metric
	})
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAdoptRefusesOtherShapes: tables of netmon's names but another shape
// are refused in one line, and nothing is changed.
func TestAdoptRefusesOtherShapes(t *testing.T) {
	for _, tt := range []struct {
		name string
		ddl  []string
		want string
	}{
		{"an extra column", []string{seedDDL[0],
			`CREATE TABLE tcpdump_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, domain TEXT, nickname TEXT, count INT, note TEXT, PRIMARY KEY(id))`},
			"table tcpdump_records has columns (id int, ts timestamp, domain text, nickname text, count int, note text)"},
		{"another type", []string{seedDDL[1],
			`CREATE TABLE dns_records (id INT AUTO_INCREMENT, ts DATETIME, ip_addr TEXT, domain TEXT, is_definite BOOL, PRIMARY KEY(id))`},
			"table dns_records has columns (id int, ts datetime"},
		{"one table only", seedDDL[1:], "it holds tcpdump_records but not dns_records"},
		{"a table netmon did not make", append([]string{`CREATE TABLE applied_windows (x INT)`}, seedDDL...), "it holds a table applied_windows but no goose_db_version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dsn := storetest.NewDSN(t, storetest.MariaDB)
			db := storetest.Open(t, dsn)
			for _, q := range tt.ddl {
				db.MustExec(q)
			}
			before := schemaOf(t, db)
			st := open(t, dsn, "pi")
			_, err := st.Adopt(t.Context(), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing changed") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Adopt = %v, want one line with %q and \"nothing changed\"", err, tt.want)
			}
			if _, _, err := st.Migrate(t.Context()); err == nil {
				t.Fatal("Migrate after a refused Adopt succeeded")
			}
			if after := schemaOf(t, db); after != before {
				t.Fatalf("schema changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// schemaOf is every column of every table of the database, one string.
func schemaOf(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var cols []string
	if err := db.Select(&cols, `SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable) FROM information_schema.columns`+
		` WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position`); err != nil {
		t.Fatal(err)
	}
	return strings.Join(cols, "; ")
}

// TestAdoptSQLite: SQLite never held the seed's tables; a file with tables
// of netmon's names that netmon did not make is refused, unchanged.
func TestAdoptSQLite(t *testing.T) {
	dsn := storetest.NewDSN(t, storetest.SQLite)
	db := storetest.Open(t, dsn)
	db.MustExec(`CREATE TABLE tcpdump_records (id INTEGER PRIMARY KEY, ts TIMESTAMP, domain TEXT, nickname TEXT, count INT)`)
	st := open(t, dsn, "pi")
	if _, err := st.Adopt(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("Adopt on SQLite with a foreign table = %v, want a refusal", err)
	}
	if _, _, err := st.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("Migrate on SQLite with a foreign table = %v, want a refusal", err)
	}
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'goose_db_version'`); err != nil || n != 0 {
		t.Fatalf("goose_db_version exists (%d, %v) after a refusal", n, err)
	}
}
