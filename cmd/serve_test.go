package cmd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// TestServeBadInput: a bad flag is one line and a non-zero exit, and the
// database file is not created.
func TestServeBadInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "netmon.db")
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"serve", "--db", db, "--auth-file", filepath.Join(dir, "missing")},
		{"serve", "--db", db, "--auth-file", short},
		{"serve", "--db", db, "--listen", "127.0.0.1:notaport"},
	} {
		r := netmon(t, args...)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want one line and a failure", args, r.code, r.stderr)
		}
		if _, err := os.Stat(db); err == nil {
			t.Errorf("%q created %s", args, db)
		}
	}
}

// TestMonitorServesDashboard: with a store, the --listen handler of run and
// replay serves the page and the API beside /metrics and /healthz.
func TestMonitorServesDashboard(t *testing.T) {
	dsn := storetest.NewDSN(t, storetest.SQLite)
	st, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	m, err := newMonitor(opsFlags{unhealthyAfter: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	m.ServeWeb(st)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/": "<title>netmon</title>", "/api/range": `"agents":[]`, "/metrics": "netmon_", "/healthz": "ok"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %.200q, want %q", path, resp.StatusCode, b, want)
		}
	}
}
