package cmd

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/store/storetest"
)

// sqliteCaptures are replayed into both backends: DNS, SNI, HTTP and QUIC
// names, corrections, several clients and windows.
var sqliteCaptures = []string{"netflix.pcap", "KakaoTalk_chat.pcap", "quic-29.pcap", "http-proxy.pcapng"}

// With no DSN at all, replay creates and migrates an SQLite file and writes
// exactly the rows, and names, that the same replay writes to MariaDB; top
// and prune read and trim that file as they do MariaDB.
func TestSQLiteDefault(t *testing.T) {
	dir := pcapDir(t)
	var files []string
	for _, f := range sqliteCaptures {
		files = append(files, filepath.Join(dir, f))
	}
	path := filepath.Join(t.TempDir(), "sub", "netmon.db")
	t.Setenv("NETMON_DSN", "")
	r := netmon(t, append([]string{"replay", "--db", path, "--agent", "lite", "--no-ptr"}, files...)...)
	r.mustSucceed(t)
	for _, want := range []string{"created the SQLite database", "schema migrated"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("first replay does not say %q:\n%s", want, r.stderr)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("database file: %v, mode %v; want it created with mode 0640", err, fi.Mode().Perm())
	}
	mdsn, mdb := migratedDB(t)
	netmon(t, append([]string{"replay", "--dsn", mdsn, "--agent", "lite", "--no-ptr"}, files...)...).mustSucceed(t)

	lite := storetest.Open(t, "sqlite:"+path)
	got, want := rowsOf(t, lite, "lite"), rowsOf(t, mdb, "lite")
	if len(want) == 0 {
		t.Fatal("the MariaDB replay wrote no rows")
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("tcpdump_records, SQLite (-got) vs MariaDB (+want):\n%s", d)
	}
	if d := cmp.Diff(namesOf(t, lite, "lite"), namesOf(t, mdb, "lite")); d != "" {
		t.Errorf("dns_records, SQLite (-got) vs MariaDB (+want):\n%s", d)
	}
	t.Logf("%d rows alike on both backends", len(got))

	// The second start finds the schema in place and says nothing of it.
	r = netmon(t, "replay", "--db", path, "--agent", "lite2", "--no-ptr", files[0])
	r.mustSucceed(t)
	if strings.Contains(r.stderr, "schema migrated") || strings.Contains(r.stderr, "created the SQLite database") {
		t.Errorf("second replay created or migrated again:\n%s", r.stderr)
	}
	r = netmon(t, "migrate", "--db", path)
	r.mustSucceed(t)
	if !strings.Contains(r.stderr, "up to date") {
		t.Errorf("migrate of the SQLite file did not say the schema is up to date:\n%s", r.stderr)
	}

	// top reads the file as it reads MariaDB: the same document, the same table.
	for _, by := range []string{"service", "domain", "device"} {
		args := []string{"--since", "all", "--by", by, "--agent", "lite", "--limit", "6"}
		gotDoc := topJSONOf(t, append([]string{"--db", path}, args...)...)
		wantDoc := topJSONOf(t, append([]string{"--dsn", mdsn}, args...)...)
		if d := cmp.Diff(gotDoc, wantDoc); d != "" {
			t.Errorf("top --by %s, SQLite (-got) vs MariaDB (+want):\n%s", by, d)
		}
		gotTable := netmon(t, append([]string{"top", "--db", path}, args...)...)
		wantTable := netmon(t, append([]string{"top", "--dsn", mdsn}, args...)...)
		gotTable.mustSucceed(t)
		if gotTable.stdout != wantTable.stdout {
			t.Errorf("top --by %s table, SQLite:\n%s\nMariaDB:\n%s", by, gotTable.stdout, wantTable.stdout)
		}
	}
	// With no --db either, top reads the default file ($NETMON_DB here).
	t.Setenv("NETMON_DB", path)
	if doc := topJSONOf(t, "--since", "all", "--agent", "lite"); doc.Total.Packets == 0 {
		t.Error("top without --db or --dsn found no packets in $NETMON_DB")
	}

	// prune: the replayed rows are from 2017; one recent row must stay.
	recent := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	insertRows(t, lite, []dbRow{{TS: recent, Agent: "lite", Client: "192.168.1.2", Domain: "new.example", Nickname: "New", Source: "sni", Count: 1, Bytes: 60}})
	r = netmon(t, "prune", "--db", path, "--older-than", "90d", "--batch", "7")
	r.mustSucceed(t)
	if !strings.Contains(r.stderr, "tcpdump_records=") {
		t.Errorf("prune does not report what it deleted:\n%s", r.stderr)
	}
	var left []dbRow
	if err := lite.Select(&left, `SELECT ts, agent, client, domain, nickname, source, count, bytes FROM tcpdump_records`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || !left[0].TS.Equal(recent) || left[0].Domain != "new.example" {
		t.Errorf("after prune: %v, want only the row of %s", left, recent)
	}
	for _, table := range []string{"dns_records", "applied_windows"} {
		var n int
		if err := lite.Get(&n, "SELECT COUNT(*) FROM "+table); err != nil || n != 0 {
			t.Errorf("%s after prune: %d rows (%v), want none (all from 2017)", table, n, err)
		}
	}
}

// --dsn takes sqlite:PATH and MariaDB's mysql:// URL as well as the driver's
// own form; the mistakes among them end in one line.
func TestDSNForms(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	path := filepath.Join(t.TempDir(), "forms.db")
	netmon(t, "replay", "--dsn", "sqlite:"+path, "--agent", "forms", "--no-ptr", file).mustSucceed(t)
	if n := len(rowsOf(t, storetest.Open(t, "sqlite:"+path), "forms")); n == 0 {
		t.Error("replay --dsn sqlite:PATH wrote no rows to PATH")
	}

	mdsn, mdb := migratedDB(t)
	c, err := mysql.ParseDSN(mdsn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "mysql", Host: c.Addr, Path: "/" + c.DBName, RawQuery: "timeout=5s"}
	if c.Passwd != "" {
		u.User = url.UserPassword(c.User, c.Passwd)
	} else {
		u.User = url.User(c.User)
	}
	netmon(t, "replay", "--dsn", u.String(), "--agent", "forms", "--no-ptr", file).mustSucceed(t)
	if d := cmp.Diff(rowsOf(t, mdb, "forms"), rowsOf(t, storetest.Open(t, "sqlite:"+path), "forms")); d != "" {
		t.Errorf("replay through a mysql:// URL (-MariaDB +SQLite):\n%s", d)
	}
	if doc := topJSONOf(t, "--dsn", u.String(), "--since", "all", "--agent", "forms"); doc.Total.Packets == 0 {
		t.Error("top --dsn mysql://… found no packets")
	}

	const secret = "S3cret-URL-pw"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"--db and --dsn", []string{"top", "--db", path, "--dsn", mdsn}, []string{"--dsn", "--db"}},
		{"password for SQLite", []string{"top", "--db", path, "--dsn-password-file", "/nonexistent"}, []string{"/nonexistent"}},
		{"missing SQLite file", []string{"top", "--db", filepath.Join(t.TempDir(), "none.db")}, []string{"none.db", "database does not exist"}},
		{"not a database", []string{"top", "--db", file}, []string{"netflix.pcap", "not an SQLite database"}},
		{"bad URL", []string{"migrate", "--dsn", "mysql://root:" + secret + "@[::1/netmon"}, []string{"mysql://root:xxxxx@"}},
		{"URL refused", []string{"replay", "--dsn", "mysql://root:" + secret + "@127.0.0.1:1/netmon", file}, []string{"127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := netmon(t, tc.args...)
			checkOneLineError(t, r, tc.want...)
			if strings.Contains(r.stderr, secret) {
				t.Errorf("password printed: %s", r.stderr)
			}
		})
	}
	t.Run("password env with SQLite", func(t *testing.T) {
		t.Setenv("NETMON_DB_PASSWORD", secret)
		checkOneLineError(t, netmon(t, "top", "--db", path), "SQLite, which has none")
	})
}

// While another process holds SQLite's write lock, replay keeps its windows
// in the spool and says so; the next start writes them first, and the rows
// are exactly a clean replay's.
func TestSQLiteLockedSpools(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	path := filepath.Join(t.TempDir(), "locked.db")
	netmon(t, "migrate", "--db", path).mustSucceed(t)
	netmon(t, "replay", "--db", path, "--agent", "clean", "--no-ptr", file).mustSucceed(t)

	lite := storetest.Open(t, "sqlite:"+path)
	tx, err := lite.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	// A write takes the lock until the transaction ends.
	if _, err := tx.Exec(`DELETE FROM dns_records WHERE agent = 'nobody'`); err != nil {
		t.Fatal(err)
	}
	r := netmon(t, "replay", "--db", path, "--agent", "busy", "--no-ptr", "--drain-timeout", "1s", file)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	checkOneLineError(t, r, "still in the spool")
	if !strings.Contains(r.stderr, "database is locked") {
		t.Errorf("the log does not say the database is locked:\n%s", r.stderr)
	}
	if n := len(rowsOf(t, lite, "busy")); n != 0 {
		t.Fatalf("%d rows written while the file was locked", n)
	}

	r = netmon(t, "replay", "--db", path, "--agent", "busy", "--no-ptr", writeCapture(t, nil))
	r.mustSucceed(t)
	if !strings.Contains(r.stderr, "writing them first") {
		t.Errorf("the next start does not say it writes the spool first:\n%s", r.stderr)
	}
	if d := cmp.Diff(stripAgent(rowsOf(t, lite, "busy")), stripAgent(rowsOf(t, lite, "clean"))); d != "" {
		t.Errorf("rows after the spool was written (-got +clean):\n%s", d)
	}
}
