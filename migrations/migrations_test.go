package migrations_test

import (
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
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
			`SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> ? ORDER BY table_name`,
			goose.DefaultTablename)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []string{"applied_windows", "dns_records", "tcpdump_records"}

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
			`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN (?, 'sqlite_sequence') ORDER BY name`,
			goose.DefaultTablename)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []string{"applied_windows", "dns_records", "tcpdump_records"}
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
