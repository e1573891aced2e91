package migrations_test

import (
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/netmon/netmon/migrations"
	"github.com/netmon/netmon/store/storetest"
)

func TestMySQLFiles(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(migrations.MySQL(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 || names[0] != "00001_init.sql" {
		t.Fatalf("MySQL() holds %q, want 00001_init.sql first", names)
	}
	for i, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil || v != int64(i+1) {
			t.Errorf("%s: version %d (%v), want %d: versions must run 1, 2, 3… without gaps", n, v, err, i+1)
		}
	}
}

// TestMySQLUpDownUp applies every migration, reverts them all, and applies
// them again on a real MariaDB, so each Down really undoes its Up.
func TestMySQLUpDownUp(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.NewDB(t))
	p, err := goose.NewProvider(goose.DialectMySQL, db.DB, migrations.MySQL(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	tables := func() []string {
		t.Helper()
		var got []string
		err := db.SelectContext(t.Context(), &got,
			`SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> ? ORDER BY BINARY table_name`,
			goose.DefaultTablename)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []string{"applied_windows", "device_addresses", "device_records", "devices", "dns_records", "replay_files", "tcpdump_records"}

	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if diff := cmp.Diff(tables(), want); diff != "" {
		t.Errorf("tables after Up (-got +want):\n%s", diff)
	}
	if _, err := p.DownTo(t.Context(), 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	if got := tables(); len(got) != 0 {
		t.Errorf("tables after DownTo(0) = %q, want none", got)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("Up again: %v", err)
	}
	if diff := cmp.Diff(tables(), want); diff != "" {
		t.Errorf("tables after Up again (-got +want):\n%s", diff)
	}
}

// Every schema version exists for both dialects, under the same name, so
// that both backends hold the same tables at every netmon version.
func TestSQLiteMirrorsMySQL(t *testing.T) {
	t.Parallel()
	my, err := fs.Glob(migrations.MySQL(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(lite, my); diff != "" {
		t.Errorf("SQLite migrations (-got) vs MySQL (+want):\n%s", diff)
	}
}

// TestSQLiteUpDownUp is TestMySQLUpDownUp on an SQLite file.
func TestSQLiteUpDownUp(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.NewDSN(t, storetest.SQLite))
	p, err := goose.NewProvider(goose.DialectSQLite3, db.DB, migrations.SQLite(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	tables := func() []string {
		t.Helper()
		var got []string
		err := db.SelectContext(t.Context(), &got,
			`SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT IN (?, 'sqlite_sequence') ORDER BY name`,
			goose.DefaultTablename)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []string{"applied_windows", "device_addresses", "device_records", "devices", "dns_records", "replay_files", "tcpdump_records"}
	for i, step := range []func() error{
		func() error { _, err := p.Up(t.Context()); return err },
		func() error { _, err := p.DownTo(t.Context(), 0); return err },
		func() error { _, err := p.Up(t.Context()); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := tables()
		if i == 1 {
			if len(got) != 0 {
				t.Errorf("tables after DownTo(0) = %q, want none", got)
			}
			continue
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("tables after step %d (-got +want):\n%s", i, diff)
		}
	}
}

// Both dialects end with the same tables and views, with the same columns in
// the same order, so that every query netmon and the dashboards send reads
// the same names on either backend.
func TestDialectsSameColumns(t *testing.T) {
	t.Parallel()
	type column struct{ Table, Name string }
	columns := func(db *sqlx.DB, q string) []column {
		t.Helper()
		var got []column
		if err := db.SelectContext(t.Context(), &got, q, goose.DefaultTablename); err != nil {
			t.Fatal(err)
		}
		return got
	}

	my := storetest.Open(t, storetest.NewDB(t))
	pm, err := goose.NewProvider(goose.DialectMySQL, my.DB, migrations.MySQL(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	lite := storetest.Open(t, storetest.NewDSN(t, storetest.SQLite))
	pl, err := goose.NewProvider(goose.DialectSQLite3, lite.DB, migrations.SQLite(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*goose.Provider{pm, pl} {
		if _, err := p.Up(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	gotMy := columns(my, `SELECT table_name AS "table", column_name AS name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name <> ? ORDER BY BINARY table_name, ordinal_position`)
	gotLite := columns(lite, `SELECT m.name AS "table", c.name AS name FROM sqlite_master AS m, pragma_table_info(m.name) AS c
		WHERE m.type IN ('table', 'view') AND m.name NOT IN (?, 'sqlite_sequence') ORDER BY m.name, c.cid`)
	if len(gotMy) < 30 {
		t.Fatalf("MariaDB has only %d columns: %v", len(gotMy), gotMy)
	}
	if d := cmp.Diff(gotMy, gotLite); d != "" {
		t.Errorf("columns of MariaDB (-) and SQLite (+):\n%s", d)
	}
}
