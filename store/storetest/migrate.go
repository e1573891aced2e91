package storetest

import (
	"testing"

	"github.com/netmon/netmon/migrations"
	"github.com/pressly/goose/v3"
)

// MigrateTo brings the empty database of dsn (NewDSN, NewDB) to schema
// version v and no further, as an older netmon's "netmon migrate" left it:
// for tests of what a newer netmon says before the database is migrated.
func MigrateTo(t testing.TB, dsn string, v int64) {
	t.Helper()
	db := Open(t, dsn)
	dialect, files := goose.DialectMySQL, migrations.MySQL()
	if SQLitePath(dsn) != "" {
		dialect, files = goose.DialectSQLite3, migrations.SQLite()
	}
	p, err := goose.NewProvider(dialect, db.DB, files, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("storetest: migrations: %v", err)
	}
	if _, err := p.UpTo(t.Context(), v); err != nil {
		t.Fatalf("storetest: migrate to %d: %v", v, err)
	}
}
