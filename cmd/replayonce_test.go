package cmd

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/store/storetest"
)

// appliedOf is how many windows agent has in applied_windows.
func appliedOf(t *testing.T, db *sqlx.DB, agent string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM applied_windows WHERE agent = ?`, agent); err != nil {
		t.Fatal(err)
	}
	return n
}

// packetsOf sums agent's packets and bytes.
func packetsOf(t *testing.T, db *sqlx.DB, agent string) (uint64, uint64) {
	t.Helper()
	return sum(rowsOf(t, db, agent))
}

// splitStream writes the stream's windows into files of per windows each,
// named like tcpdump -G's, in dir.
func splitStream(t *testing.T, wins [][]pkt, per int, dir string) []string {
	t.Helper()
	var files []string
	for i := 0; i < len(wins); i += per {
		src := writeStream(t, wins[i:min(i+per, len(wins))])
		name := filepath.Join(dir, streamBase.Add(time.Duration(i)*10*time.Second).Format("20060102_150405")+".pcap")
		copyFile(t, src, name)
		files = append(files, name)
	}
	return files
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	// Written under a hidden name and renamed, as a copy tool would, so
	// that a follower never sees half a file.
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".part")
	out, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestReplayDNSOnly: a capture of DNS answers alone (a quiet night) writes
// its names to dns_records, though no counted traffic closes a window.
func TestReplayDNSOnly(t *testing.T) {
	dsn, db := migratedDB(t)
	client := netip.MustParseAddr("192.168.1.20")
	var wins [][]pkt
	for i := range 5 { // 50 s of DNS, one answer every 10 s
		at := streamBase.Add(time.Duration(i) * 10 * time.Second)
		wins = append(wins, []pkt{{at, dnsAnswer(t, client, fmt.Sprintf("quiet%d.example.net", i), netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}))}})
	}
	netmon(t, "replay", "--no-ptr", "--dsn", dsn, "--agent", "dns", "--state-dir", t.TempDir(), writeStream(t, wins)).mustSucceed(t)
	var names []string
	if err := db.Select(&names, `SELECT CONVERT(domain USING utf8mb4) FROM dns_records WHERE agent = 'dns' ORDER BY domain`); err != nil {
		t.Fatal(err)
	}
	want := []string{"quiet0.example.net", "quiet1.example.net", "quiet2.example.net", "quiet3.example.net", "quiet4.example.net"}
	if !slices.Equal(names, want) {
		t.Errorf("dns_records of a DNS-only capture = %v, want %v", names, want)
	}
	if n := len(rowsOf(t, db, "dns")); n != 0 {
		t.Errorf("%d tcpdump_records rows from DNS alone", n)
	}
}

// TestReplayOnceSQLite: on an SQLite file too, a file replayed twice counts
// once (the second replay skips it in one line), a DNS-only capture writes
// its names, and the seed's panel, in SQLite's words (docs/storage.md),
// answers every window.
func TestReplayOnceSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netmon.db")
	wins := makeStream(t, 40, 20)
	file := writeStream(t, wins)
	for i := range 2 {
		r := netmon(t, "replay", "--no-ptr", "--db", path, "--agent", "pi", "--state-dir", t.TempDir(), file)
		r.mustSucceed(t)
		if skipped := strings.Count(r.stderr, "skipped: replayed before"); skipped != i {
			t.Errorf("replay %d says %d skip lines, want %d:\n%s", i+1, skipped, i, r.stderr)
		}
	}
	var dns [][]pkt
	for i := range 3 {
		dns = append(dns, []pkt{{streamBase.Add(time.Hour + time.Duration(i)*10*time.Second),
			dnsAnswer(t, netip.MustParseAddr("192.168.1.20"), fmt.Sprintf("night%d.example.net", i), netip.AddrFrom4([4]byte{203, 0, 113, byte(50 + i)}))}})
	}
	netmon(t, "replay", "--no-ptr", "--db", path, "--agent", "pi", "--state-dir", t.TempDir(), writeStream(t, dns)).mustSucceed(t)

	db := storetest.Open(t, "sqlite:"+path)
	var counted uint64
	for _, w := range wins {
		for _, p := range w {
			if isCounted(p) {
				counted++
			}
		}
	}
	var panel []struct {
		Time  int64  `db:"time"`
		Value uint64 `db:"value"`
	}
	if err := db.Select(&panel, `SELECT CAST(strftime('%s', ts) AS INTEGER) AS time, SUM(count) AS value FROM tcpdump_records`+
		` WHERE ts BETWEEN datetime(?, 'unixepoch') AND datetime(?, 'unixepoch') GROUP BY nickname, ts ORDER BY ts`,
		streamBase.Unix(), streamBase.Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	var sumP uint64
	for _, p := range panel {
		sumP += p.Value
	}
	if sumP != counted || panel[0].Time != streamBase.Unix() {
		t.Errorf("seed's panel on SQLite after two replays: %d packets from %d, want %d from %d", sumP, panel[0].Time, counted, streamBase.Unix())
	}
	var names int
	if err := db.Get(&names, `SELECT COUNT(*) FROM dns_records WHERE CAST(domain AS TEXT) LIKE 'night%'`); err != nil || names != 3 {
		var all []string
		_ = db.Select(&all, `SELECT CAST(domain AS TEXT) FROM dns_records`)
		t.Errorf("names of the DNS-only capture in dns_records: %d, %v; want 3 (all: %q)", names, err, all)
	}
}
