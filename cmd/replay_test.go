package cmd

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/jmoiron/sqlx"
)

// dbRow is one tcpdump_records row as the tests compare it.
type dbRow struct {
	TS       time.Time `db:"ts"`
	Agent    string    `db:"agent"`
	Client   string    `db:"client"`
	Domain   string    `db:"domain"`
	Nickname string    `db:"nickname"`
	// NickSource is where the nickname came from; "" when a test left it.
	NickSource string `db:"nickname_source"`
	Source     string `db:"source"`
	Count      uint64 `db:"count"`
	Bytes      uint64 `db:"bytes"`
}

func (r dbRow) String() string {
	return fmt.Sprintf("%s\t%s\t%q\t%s\t%s\t%d\t%d", r.TS.UTC().Format(time.RFC3339), r.Client, r.Domain, r.Nickname, r.Source, r.Count, r.Bytes)
}

func rowsOf(t testing.TB, db *sqlx.DB, agent string) []dbRow {
	t.Helper()
	var rows []dbRow
	err := db.Select(&rows, `SELECT ts, agent, client, domain, nickname, nickname_source, source, count, bytes
		FROM tcpdump_records WHERE agent = ? ORDER BY ts, client, domain`, agent)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// totals folds rows over windows: what live capture and replay must agree on
// even though their timestamps differ.
func totals(rows []dbRow) map[string][2]uint64 {
	m := map[string][2]uint64{}
	for _, r := range rows {
		k := r.Client + " " + r.Domain + " " + r.Nickname + " " + r.Source
		v := m[k]
		m[k] = [2]uint64{v[0] + r.Count, v[1] + r.Bytes}
	}
	return m
}

// independentCount counts, with gopacket's general decoder rather than
// netmon's, the packets netmon should count in a capture: TCP/UDP on ports
// 80/443 (the default filter without DNS), not between two private addresses.
func independentCount(t testing.TB, file string) (packets, bytes uint64) {
	t.Helper()
	h, err := pcap.OpenOffline(file)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	src := gopacket.NewPacketSource(h, h.LinkType())
	private := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("100.64.0.0/10"),
	}
	isLocal := func(a netip.Addr) bool {
		for _, p := range private {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return a.IsLoopback() || a.IsMulticast()
	}
	for p := range src.Packets() {
		nl, tl := p.NetworkLayer(), p.TransportLayer()
		if nl == nil || tl == nil {
			continue
		}
		var sp, dp uint16
		switch l := tl.(type) {
		case *layers.TCP:
			sp, dp = uint16(l.SrcPort), uint16(l.DstPort)
		case *layers.UDP:
			sp, dp = uint16(l.SrcPort), uint16(l.DstPort)
		default:
			continue
		}
		web := func(x uint16) bool { return x == 80 || x == 443 }
		if sp == 53 || dp == 53 || !(web(sp) || web(dp)) {
			continue
		}
		s, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
		d, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
		if isLocal(s) && isLocal(d) {
			continue
		}
		packets++
		bytes += uint64(p.Metadata().Length)
	}
	return packets, bytes
}

func readGolden(t testing.TB, name string, got []dbRow) {
	t.Helper()
	var b strings.Builder
	for _, r := range got {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd -run %s -update to create it)", err, t.Name())
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("rows differ from %s (-want +got):\n%s", path, d)
	}
}

func TestMigrateTwice(t *testing.T) {
	dsn, db := migratedDB(t)
	r := netmon(t, "migrate", "--dsn", dsn)
	r.mustSucceed(t)
	if !strings.Contains(r.stderr, "up to date") {
		t.Errorf("second migrate did not say the schema is up to date:\n%s", r.stderr)
	}
	for _, table := range []string{"tcpdump_records", "dns_records"} {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", table); err != nil || n != 1 {
			t.Errorf("table %s: found %d, err %v", table, n, err)
		}
	}
}

// A replay of a real capture writes exactly the rows of the golden file,
// their totals match an independent count, and the seed's Grafana query
// returns the series the rows make.
func TestReplayNetflix(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	dsn, db := migratedDB(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "replay", "--no-ptr", file).mustSucceed(t)

	rows := rowsOf(t, db, "replay")
	readGolden(t, "netflix.rows", rows)

	var gotP, gotB uint64
	for _, r := range rows {
		gotP += r.Count
		gotB += r.Bytes
	}
	wantP, wantB := independentCount(t, file)
	if gotP != wantP || gotB != wantB {
		t.Errorf("rows hold %d packets / %d bytes; an independent count of the capture gives %d / %d", gotP, gotB, wantP, wantB)
	}
	t.Logf("netflix.pcap: %d rows, %d packets, %d bytes", len(rows), gotP, gotB)

	// Names learned from DNS are definite in dns_records.
	var definite int
	if err := db.Get(&definite, "SELECT COUNT(*) FROM dns_records WHERE agent = 'replay' AND is_definite = 1 AND source = 'dns'"); err != nil {
		t.Fatal(err)
	}
	if definite == 0 {
		t.Error("no definite DNS names in dns_records")
	}
	var hasName int
	if err := db.Get(&hasName, "SELECT COUNT(*) FROM dns_records WHERE agent = 'replay' AND ip_addr = '54.149.79.138' AND domain = 'ios.nccp.netflix.com'"); err != nil || hasName != 1 {
		t.Errorf("dns_records lacks 54.149.79.138 → ios.nccp.netflix.com (found %d, %v)", hasName, err)
	}

	// The seed's panel query, verbatim but for Grafana's macro expansion.
	from, to := rows[0].TS.Add(-time.Hour), rows[len(rows)-1].TS.Add(time.Hour)
	query := strings.Replace(
		"SELECT UNIX_TIMESTAMP(ts) AS time, nickname AS metric, sum(count) AS value FROM tcpdump_records WHERE $__timeFilter(ts) GROUP BY nickname, ts ORDER BY ts",
		"$__timeFilter(ts)", "ts BETWEEN FROM_UNIXTIME(?) AND FROM_UNIXTIME(?)", 1)
	type point struct {
		Time   int64  `db:"time"`
		Metric string `db:"metric"`
		Value  uint64 `db:"value"`
	}
	var series []point
	if err := db.Select(&series, query, from.Unix(), to.Unix()); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for _, r := range rows {
		want[fmt.Sprintf("%d %s", r.TS.Unix(), r.Nickname)] += r.Count
	}
	got := map[string]uint64{}
	for i, p := range series {
		got[fmt.Sprintf("%d %s", p.Time, p.Metric)] = p.Value
		if i > 0 && p.Time < series[i-1].Time {
			t.Errorf("series not ordered by time at %d", i)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Grafana series (-want +got):\n%s", d)
	}
}

// Several files are read in the order given; standard input works like a file.
func TestReplayFilesAndStdin(t *testing.T) {
	dir := pcapDir(t)
	a, b := filepath.Join(dir, "teams.pcap"), filepath.Join(dir, "KakaoTalk_chat.pcap")
	dsn, db := migratedDB(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "both", "--no-ptr", a, b).mustSucceed(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "a", "--no-ptr", a).mustSucceed(t)

	cmd := exec.Command(netmonBinary(t), "replay", "--dsn", dsn, "--agent", "b", "--no-ptr", "-")
	f, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("replay - < %s: %v\n%s", b, err, out)
	}

	both := rowsOf(t, db, "both")
	sep := append(rowsOf(t, db, "a"), rowsOf(t, db, "b")...)
	if len(both) == 0 || len(sep) == 0 {
		t.Fatalf("no rows: both=%d separate=%d", len(both), len(sep))
	}
	if d := cmp.Diff(totals(sep), totals(both)); d != "" {
		t.Errorf("two files in one replay differ from one file each, the second from stdin (-separate +together):\n%s", d)
	}
}
