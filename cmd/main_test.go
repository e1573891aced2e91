package cmd

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// binDir holds this run's state, default database and, once a test asks
// for it, the netmon binary.
var binDir string

var (
	binaryOnce sync.Once
	binary     string
	binaryErr  error
)

// netmonBinary is netmon built for the tests that need a separate process
// (standard input, another user, another network namespace, a process's
// peak memory): built once, by the first test that asks, so that a run of
// tests that need none (go test ./cmd -run Config) does not wait for it.
func netmonBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		path := filepath.Join(binDir, "netmon")
		build := exec.Command("go", "build", "-o", path, "./netmon")
		if out, err := build.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("build netmon: %v\n%s", err, out)
			return
		}
		binary = path
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "netmon-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// Every command under test spools under this run's own directory, not
	// /var/lib/netmon, so test runs never share (and lock) a spool.
	os.Setenv("NETMON_STATE_DIR", filepath.Join(dir, "state"))
	// Likewise, a command run without a DSN writes to SQLite here, never
	// to /var/lib/netmon/netmon.db or ./netmon.db.
	os.Setenv("NETMON_DB", filepath.Join(dir, "default.db"))
	// And a machine's own /etc/netmon/netmon.yaml never reaches the
	// commands under test: they read this empty file unless a test names
	// another.
	// It sits outside dir (mode 0700) so that commands run as another
	// user (TestBadInput) can read it too.
	noConfig, err := os.CreateTemp("", "netmon-noconfig-*.yaml")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	noConfig.Close()
	os.Chmod(noConfig.Name(), 0o644)
	os.Setenv("NETMON_CONFIG", noConfig.Name())
	code := m.Run()
	os.RemoveAll(dir)
	os.Remove(noConfig.Name())
	os.Exit(code)
}

// needNetns ends a test that builds network namespaces and replays into
// them when this machine cannot: skipped on a fresh clone without root or
// the tools, failed under CI=true.
func needNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		capturetest.Missing(t, "this test needs root for network namespaces (run make test as root)")
	}
	for _, tool := range []string{"ip", "tcpreplay"} {
		if _, err := exec.LookPath(tool); err != nil {
			capturetest.Missing(t, "%s not found: apt-get install iproute2 tcpreplay", tool)
		}
	}
}

// pcapDir is the folder of shared third-party captures.
func pcapDir(t testing.TB) string { return capturetest.Dir(t) }

type result struct {
	code           int
	stdout, stderr string
}

// netmon runs the command line in this process.
func netmon(t testing.TB, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// lastLine is the line a failing command ends with: its error.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	return lines[len(lines)-1]
}

func (r result) mustSucceed(t testing.TB) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// migratedDB returns a scratch database with netmon's schema and a handle on it.
func migratedDB(t testing.TB) (string, *sqlx.DB) {
	t.Helper()
	dsn := storetest.NewDB(t)
	netmon(t, "migrate", "--dsn", dsn).mustSucceed(t)
	return dsn, openDB(t, dsn)
}

// openDB opens dsn as the tests read it: times in UTC, as Grafana's session.
func openDB(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	db, err := sqlx.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
