// Package storetest gives tests a real, empty database of their own: a
// scratch database on the MariaDB server named by $NETMON_TEST_DSN, or a
// scratch SQLite file (NewDSN hands out either). It is for tests only: any
// package's tests may import it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/capture/capturetest"
)

// DefaultDSN is the server tests use when $NETMON_TEST_DSN is unset.
const DefaultDSN = "root@tcp(127.0.0.1:3306)/test"

// setupTimeout bounds each administrative step, so a server that accepts
// connections but hangs fails the test instead of stalling it.
const setupTimeout = 15 * time.Second

// NewDB creates a scratch database netmon_test_<random> on the test server,
// drops it when the test ends, and returns a DSN for it in go-sql-driver
// form. The test fails with directions when no server answers.
func NewDB(t testing.TB) (dsn string) {
	t.Helper()
	base := os.Getenv("NETMON_TEST_DSN")
	if base == "" {
		base = DefaultDSN
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("storetest: NETMON_TEST_DSN: %v", err)
	}
	// Administer from no particular database, so the one in the DSN need
	// not exist.
	admin := cfg.Clone()
	admin.DBName = ""
	if admin.Timeout == 0 {
		admin.Timeout = 5 * time.Second
	}
	connector, err := mysql.NewConnector(admin)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	db := sql.OpenDB(connector)
	where := admin.User + "@" + admin.Net + "(" + admin.Addr + ")"

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		capturetest.Missing(t, "storetest: no MariaDB answers at %s: %v\n"+
			"The store's integration tests need a real server. Run `make mariadb`, or install and start one:\n"+
			"\tapt-get install mariadb-server\n"+
			"\tstart-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql\n"+
			"or point NETMON_TEST_DSN at one (user:password@tcp(host:3306)/db; the user must be allowed to CREATE DATABASE).",
			where, err)
	}

	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := "netmon_test_" + hex.EncodeToString(b[:])
	// A database name cannot be a bound parameter; this one is ours,
	// built from hex digits only.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		_ = db.Close()
		t.Fatalf("storetest: create database %s at %s: %v", name, where, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("storetest: drop database %s at %s: %v", name, where, err)
		}
		_ = db.Close()
	})

	test := cfg.Clone()
	test.DBName = name
	return test.FormatDSN()
}

// Open returns a pool on dsn, MariaDB or "sqlite:PATH", for tests that read
// or arrange rows directly. It sets up the session as the store and Grafana
// do: times parsed, in UTC, and a UTC session time zone. The pool is closed
// when the test ends.
func Open(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	if path := SQLitePath(dsn); path != "" {
		return openSQLite(t, path)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("storetest: parse DSN: %v", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	t.Cleanup(func() { _ = db.Close() })
	return db
}
