package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// ErrNoSchema means the database lacks netmon's tables or has an older
// version of them. Its text is the remedy, so that a wrapped error reads
// `table tcpdump_records is missing: run "netmon migrate" first`.
var ErrNoSchema = errors.New(`run "netmon migrate" first`)

// tables are the tables the writer needs, in the order CheckSchema reports them.
var tables = [...]string{"tcpdump_records", "dns_records", "applied_windows", "replay_files"}

// migrateLockWait is how long Migrate waits for another netmon that is
// migrating the same database before giving up.
const migrateLockWait = 60 * time.Second

// Migrate brings the schema to the latest version embedded in the binary
// and reports the version before and after. Running it again is a no-op
// (from == to). Concurrent Migrate calls on one database, from any number of
// hosts, are serialised by a server-side lock.
func (s *Store) Migrate(ctx context.Context) (from, to int64, err error) {
	// A database goose does not manage yet must be empty, else goose would
	// create its version table and then fail on an existing table.
	if plan, err := s.adoptPlan(ctx); err != nil {
		return 0, 0, err
	} else if plan != nil {
		return 0, 0, fmt.Errorf("refusing to migrate %s: it holds the seed's tables; adopt them first (netmon migrate does)", s.dbName)
	}
	p, err := s.provider()
	if err != nil {
		return 0, 0, err
	}
	if from, err = p.GetDBVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("migrate %s: read version: %w", s.dbName, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return from, from, fmt.Errorf("migrate %s: %w", s.dbName, err)
	}
	if to, err = p.GetDBVersion(ctx); err != nil {
		return from, from, fmt.Errorf("migrate %s: read version: %w", s.dbName, err)
	}
	return from, to, nil
}

// CheckSchema returns an error wrapping ErrNoSchema when a table is missing
// or the schema is older than this binary, and a plain error when it is
// newer. It only reads: unlike goose's own status calls, it never creates
// the version table.
func (s *Store) CheckSchema(ctx context.Context) error {
	for _, table := range tables {
		var n int
		err := s.db.GetContext(ctx, &n, s.sql.tableExists, table)
		if err != nil {
			return fmt.Errorf("check schema of %s: %w", s.dbName, err)
		}
		if n == 0 {
			return fmt.Errorf("table %s is missing: %w", table, ErrNoSchema)
		}
	}
	p, err := s.provider()
	if err != nil {
		return err
	}
	// Listing the embedded sources does not touch the database.
	src := p.ListSources()
	want := src[len(src)-1].Version // NewProvider fails when there are none
	var n int
	err = s.db.GetContext(ctx, &n, s.sql.tableExists, goose.DefaultTablename)
	if err != nil {
		return fmt.Errorf("check schema of %s: %w", s.dbName, err)
	}
	if n == 0 {
		// The tables exist but goose never ran here: made by hand or by an
		// older tool, so their shape is unknown.
		return fmt.Errorf("table %s is missing, so the schema's version is unknown: %w", goose.DefaultTablename, ErrNoSchema)
	}
	var got int64
	// The table name is goose's constant, not input.
	err = s.db.GetContext(ctx, &got, `SELECT COALESCE(MAX(version_id), 0) FROM `+goose.DefaultTablename)
	if err != nil {
		return fmt.Errorf("check schema of %s: %w", s.dbName, err)
	}
	switch {
	case got < want:
		return fmt.Errorf("schema is at version %d, this netmon needs %d: %w", got, want, ErrNoSchema)
	case got > want:
		return fmt.Errorf("schema is at version %d, newer than this netmon knows (%d): upgrade netmon", got, want)
	}
	return nil
}

// provider builds a goose provider over the embedded migrations of the
// store's dialect. It is cheap and touches the database only when used.
func (s *Store) provider() (*goose.Provider, error) {
	var locker lock.SessionLocker = mariaDBLock(s.dbName)
	if s.sql.backend == SQLite {
		locker = &sqliteMigrationLock{dir: filepath.Dir(s.dbName), wait: migrateLockWait}
	}
	p, err := goose.NewProvider(s.sql.goose, s.db.DB, s.sql.migrations(),
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// mariaDBLock is the migration lock of the MariaDB database dbName.
func mariaDBLock(dbName string) migrationLock {
	return migrationLock{
		// GET_LOCK names are server-wide and at most 64 characters, so
		// the database is named by a hash: Migrate on two databases of
		// one server must not wait for each other.
		name: fmt.Sprintf("netmon-migrate-%08x", crc32.ChecksumIEEE([]byte(dbName))),
		wait: migrateLockWait,
	}
}

// migrationLock is a goose SessionLocker on MariaDB's GET_LOCK. DDL in
// MariaDB is not transactional, so two netmons starting together must not
// both run a migration.
type migrationLock struct {
	name string
	wait time.Duration
}

func (l migrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, l.name, int(l.wait/time.Second)).Scan(&got)
	if err != nil {
		return fmt.Errorf("take migration lock %s: %w", l.name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("take migration lock %s: another netmon has been migrating this database for %s", l.name, l.wait)
	}
	return nil
}

func (l migrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	// The lock also ends with the connection, so a failure here cannot
	// leave the database locked for long.
	if _, err := conn.ExecContext(ctx, `DO RELEASE_LOCK(?)`, l.name); err != nil {
		return fmt.Errorf("release migration lock %s: %w", l.name, err)
	}
	return nil
}
