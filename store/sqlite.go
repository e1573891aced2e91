package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeout is how long a statement waits for another connection or
// process (netmon top, prune, a second sensor) that holds the write lock:
// far longer than any of netmon's transactions, which take milliseconds.
const sqliteBusyTimeout = 5 * time.Second

// sqliteDriverDSN is what the modernc.org/sqlite driver opens for path. Each
// connection runs the pragmas as it opens:
//   - busy_timeout first, so that the others wait for a busy file too;
//   - WAL, so that readers (netmon top, Grafana) never block the writer
//     nor the writer them;
//   - synchronous FULL: WAL's usual NORMAL may lose the last commits on a
//     power cut, and the writer deletes a window from its spool once the
//     commit returns, so the commit must be on disk by then;
//   - _txlock=immediate: every transaction takes the write lock at BEGIN,
//     where the busy timeout applies, instead of failing at once with
//     SQLITE_BUSY when a reading transaction cannot be upgraded;
//   - times are written as 'YYYY-MM-DD HH:MM:SS' in UTC, the form of ts,
//     and aggregates of ts (MIN, MAX) are read back as times.
func sqliteDriverDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "datetime")
	q.Set("_timezone", "UTC")
	q.Set("_texttotime", "1")
	return path + "?" + q.Encode()
}

// openSQLite opens the SQLite file the DSN names. A missing file is
// ErrNoDatabase, as a missing database is on MariaDB: the driver would
// create an empty one, and a typo in --db would then look like an empty
// history.
func openSQLite(ctx context.Context, cfg Config) (*Store, error) {
	path, err := sqlitePath(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open SQLite database %s: %w (\"netmon migrate\", \"netmon run\" or \"netmon replay\" creates it; or check --db or --dsn)", path, ErrNoDatabase)
		}
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	raw, err := sql.Open("sqlite", sqliteDriverDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	// Connections are cheap and local; the cap only bounds open files.
	raw.SetMaxOpenConns(maxOpenConns)
	raw.SetMaxIdleConns(maxOpenConns)
	s := &Store{db: sqlx.NewDb(raw, "sqlite"), agent: cfg.Agent, dbName: path, sql: &sqliteDialect, partItems: partItems(cfg)}
	if cfg.Lazy {
		return s, nil
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	// The ping opens the file and runs the pragmas: a file that is not a
	// database, or that netmon may not write, fails here.
	if err := raw.PingContext(pctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("open SQLite database %s: %w %s", path, err, hint(err))
	}
	return s, nil
}

// createSQLite creates an empty database file (an empty file is a valid
// SQLite database) and its directory. The counts say which device talked to
// which service, so the file is not for every user of the machine.
func createSQLite(dsn string) error {
	path, err := sqlitePath(dsn)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create SQLite database %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create SQLite database %s: %w", path, err)
	}
	return f.Close()
}

// sqliteMigrationLock serialises Migrate across processes with flock(2) on
// the database's directory. Not on the database file itself: SQLite holds
// POSIX locks on it, and closing any other descriptor of that file in this
// process would silently release them. Directory and file locks do not
// interact, and a lock file of our own would be one more file to explain.
// goose runs each SQLite migration in a transaction, so the lock only keeps
// two netmons from applying the same version twice.
type sqliteMigrationLock struct {
	dir  string
	wait time.Duration
	f    *os.File
}

func (l *sqliteMigrationLock) SessionLock(ctx context.Context, _ *sql.Conn) error {
	f, err := os.Open(l.dir)
	if err != nil {
		return fmt.Errorf("take migration lock on %s: %w", l.dir, err)
	}
	deadline := time.Now().Add(l.wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			l.f = f
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return fmt.Errorf("take migration lock on %s: another netmon has been migrating this database for %s", l.dir, l.wait)
			}
			return fmt.Errorf("take migration lock on %s: %w", l.dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (l *sqliteMigrationLock) SessionUnlock(context.Context, *sql.Conn) error {
	if l.f == nil {
		return nil
	}
	// Closing the descriptor releases the lock.
	err := l.f.Close()
	l.f = nil
	return err
}

// sqliteCode is the extended result code of a SQLite error, 0 for others.
// The driver turns extended codes on for every connection.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// SQLite result codes the store tells apart, from modernc.org/sqlite/lib.
const (
	sqliteBusy             = sqlite3.SQLITE_BUSY
	sqliteLocked           = sqlite3.SQLITE_LOCKED
	sqliteReadOnly         = sqlite3.SQLITE_READONLY
	sqliteCantOpen         = sqlite3.SQLITE_CANTOPEN
	sqlitePerm             = sqlite3.SQLITE_PERM
	sqliteFull             = sqlite3.SQLITE_FULL
	sqliteNotADB           = sqlite3.SQLITE_NOTADB
	sqliteTooBig           = sqlite3.SQLITE_TOOBIG
	sqliteMismatch         = sqlite3.SQLITE_MISMATCH
	sqliteConstraintUnique = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	sqliteConstraintPK     = sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintNull   = sqlite3.SQLITE_CONSTRAINT_NOTNULL
)

// isSQLiteNoColumn reports SQLite's "no such column", told apart by its
// text as "no such table" is.
func isSQLiteNoColumn(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_ERROR && strings.Contains(err.Error(), "no such column")
}

// isSQLiteNoTable reports SQLite's "no such table", which has only the
// generic SQLITE_ERROR code, so its text is what tells it apart.
func isSQLiteNoTable(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_ERROR && strings.Contains(err.Error(), "no such table")
}
