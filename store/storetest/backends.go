package storetest

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	// The SQLite driver, registered as "sqlite", for Open on sqlite: DSNs.
	_ "modernc.org/sqlite"
)

// Backend is a database netmon writes to, as the tests name it.
type Backend string

// The backends every store test runs on.
const (
	SQLite  Backend = "sqlite"
	MariaDB Backend = "mariadb"
)

// Backends lists the backends tests run one body against: SQLite, which
// needs nothing, and MariaDB, which needs the server NewDB uses.
func Backends() []Backend { return []Backend{SQLite, MariaDB} }

// NewDSN returns the DSN of an empty scratch database on b that goes away
// when the test ends: a new database on the MariaDB test server (see NewDB),
// or an empty SQLite file in the test's temporary directory, "sqlite:PATH".
func NewDSN(t testing.TB, b Backend) string {
	t.Helper()
	if b == MariaDB {
		return NewDB(t)
	}
	path := filepath.Join(t.TempDir(), "netmon.db")
	// An empty file is an empty SQLite database; the store refuses to
	// create a missing one by itself.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return "sqlite:" + path
}

// SQLitePath is the file of a DSN NewDSN made for SQLite, "" for others.
func SQLitePath(dsn string) string {
	p, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		return ""
	}
	return p
}

// openSQLite opens the file as the store does: times written as
// 'YYYY-MM-DD HH:MM:SS' UTC and read back as times, and a busy timeout, so
// that a test reading while a store writes waits instead of failing.
func openSQLite(t testing.TB, path string) *sqlx.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_time_format=datetime&_timezone=UTC&_texttotime=1")
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	db := sqlx.NewDb(raw, "sqlite")
	t.Cleanup(func() { _ = db.Close() })
	return db
}
