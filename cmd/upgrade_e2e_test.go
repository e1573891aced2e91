//go:build e2e

package cmd

import (
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/store/storetest"
)

// TestUpgradeFromSeed is the upgrade as docs/upgrade.md tells it, on a
// real MariaDB database made with exactly the seed's DDL and rows written
// as its script did: netmon migrate adopts it, a replay writes into it,
// the seed's Grafana query answers the old rows and the new, netmon top
// counts the old packets and shows their bytes as unknown. A second
// migrate changes nothing.
func TestUpgradeFromSeed(t *testing.T) {
	dsn := storetest.NewDB(t)
	db := openDB(t, dsn)
	db.MustExec(`CREATE TABLE dns_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, ip_addr TEXT, domain TEXT, is_definite BOOL, PRIMARY KEY(id)) DEFAULT CHARSET=utf8`)
	db.MustExec(`CREATE TABLE tcpdump_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, domain TEXT, nickname TEXT, count INT, PRIMARY KEY(id)) DEFAULT CHARSET=utf8`)
	// The seed's history: the hour before the replayed stream.
	old := streamBase.Add(-time.Hour)
	for i := range 360 {
		ts := old.Add(time.Duration(i) * 10 * time.Second)
		db.MustExec(`INSERT INTO tcpdump_records (ts, domain, nickname, count) VALUES (?, 'www.youtube.com', 'YouTube', 40), (?, 'api.example.com', 'Example', 3)`, ts, ts)
	}
	db.MustExec(`INSERT INTO dns_records (ts, ip_addr, domain, is_definite) VALUES (?, '142.250.74.110', 'www.youtube.com', 1), (?, '142.250.74.110', 'youtube.com', 1)`, old, old)

	r := netmon(t, "migrate", "--dsn", dsn, "--seed-agent", "pi-seed")
	r.mustSucceed(t)
	if !strings.Contains(r.stderr, "adopted the seed's tables") {
		t.Errorf("migrate does not say it adopted the seed's tables:\n%s", r.stderr)
	}
	r = netmon(t, "migrate", "--dsn", dsn, "--seed-agent", "pi-seed")
	r.mustSucceed(t)
	if strings.Contains(r.stderr, "adopted") || !strings.Contains(r.stderr, "schema is up to date") {
		t.Errorf("second migrate:\n%s", r.stderr)
	}

	wins := makeStream(t, 30, 20)
	netmon(t, "replay", "--no-ptr", "--dsn", dsn, "--agent", "pi", "--state-dir", t.TempDir(), writeStream(t, wins)).mustSucceed(t)
	newP, _ := packetsOf(t, db, "pi")

	// The seed's panel, $__timeFilter expanded over both periods.
	var points []struct {
		Time   int64  `db:"time"`
		Metric string `db:"metric"`
		Value  int64  `db:"value"`
	}
	if err := db.Select(&points, `SELECT UNIX_TIMESTAMP(ts) AS time, nickname AS metric, sum(count) AS value FROM tcpdump_records`+
		` WHERE ts BETWEEN FROM_UNIXTIME(?) AND FROM_UNIXTIME(?) GROUP BY nickname, ts ORDER BY ts`,
		old.Unix(), streamBase.Add(time.Hour).Unix()); err != nil {
		t.Fatalf("the seed's panel query: %v", err)
	}
	var oldSum, newSum int64
	for _, p := range points {
		if p.Time < streamBase.Unix() {
			oldSum += p.Value
		} else {
			newSum += p.Value
		}
	}
	if points[0].Time != old.Unix() || oldSum != 360*43 || newSum != int64(newP) || newP == 0 {
		t.Errorf("seed's panel: first point %d (want %d), old packets %d (want %d), new %d (want %d)",
			points[0].Time, old.Unix(), oldSum, 360*43, newSum, newP)
	}

	out := netmon(t, "top", "--dsn", dsn, "--since", "all", "--agent", "pi-seed")
	out.mustSucceed(t)
	if !strings.Contains(out.stdout, "YouTube") || !strings.Contains(out.stdout, "—") || !strings.Contains(out.stdout, "bytes not known") {
		t.Errorf("netmon top over the seed's rows does not show unknown bytes as —:\n%s", out.stdout)
	}
	doc := topJSONOf(t, "--dsn", dsn, "--since", "all")
	if doc.Total.Packets != uint64(360*43)+newP || doc.Total.UnknownBytes != 360*43 {
		t.Errorf("top --json total %d packets (%d of unknown bytes), want %d old (all unknown) + %d new", doc.Total.Packets, doc.Total.UnknownBytes, 360*43, newP)
	}
	for _, row := range doc.Rows {
		if row.Name == "YouTube" && (row.Bytes != 0 || row.UnknownBytes != row.Packets) {
			t.Errorf("top --json YouTube (seed rows only) = %+v, want bytes null and every packet of unknown bytes", row)
		}
	}
	t.Logf("seed database: 720 tcpdump_records and 2 dns_records rows before, all kept (agent pi-seed, bytes NULL); "+
		"after a replay of %d packets the seed's panel answers %d old + %d new packets\n%s", newP, oldSum, newSum, out.stdout)
}
