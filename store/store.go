// Package store owns netmon's access to the database, MariaDB or an
// embedded SQLite file: connecting, applying and checking the schema from
// package migrations, and the writer that turns each closed
// aggregate.Window into one transaction of upserts.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

const (
	// dialTimeout bounds the TCP connect when the DSN does not set one, so a
	// host that drops packets fails in seconds rather than minutes.
	dialTimeout = 5 * time.Second
	// pingTimeout bounds the whole first contact (dial, TLS, handshake) in Open.
	pingTimeout = 10 * time.Second
	// maxConnLifetime keeps connections younger than any sensible server
	// wait_timeout, as the driver's README recommends.
	maxConnLifetime = 3 * time.Minute
	// maxOpenConns: one writer and the occasional migration or check need no
	// more, and a small cap keeps a misbehaving caller from exhausting the
	// server's max_connections.
	maxOpenConns = 4

	// maxAgentLen is the width of the agent columns.
	maxAgentLen = 64
	// redacted replaces a password wherever a DSN is shown.
	redacted = "xxxxx"
)

// Config says where the database is and who is writing.
type Config struct {
	// DSN names the database: "sqlite:PATH" for an SQLite file, else
	// MariaDB as mysql://user:password@host:3306/database or in the
	// go-sql-driver form user:password@tcp(host:3306)/database. On MariaDB
	// Open adds parseTime, loc=UTC, a dial timeout and a UTC session time
	// zone whatever the DSN says; on SQLite, WAL mode and a busy timeout.
	DSN string
	// Agent names this netmon instance in every row it writes, so that
	// several capture points can share one database. At most 64 characters.
	Agent string
	// Lazy skips the first contact: the first query connects. For a
	// sensor that must start capturing while its database is away.
	Lazy bool
	// PartItems caps the rows, names, corrections and devices one
	// transaction writes: a larger window is written in parts (see
	// Apply). Zero means DefaultPartItems.
	PartItems int
}

// Store is a connection pool to the database plus the agent it writes as.
// It is safe for concurrent use.
type Store struct {
	db     *sqlx.DB
	agent  string
	dbName string // MariaDB: the database, for the migration lock and messages; SQLite: the file
	sql    *dialect
	// partItems is Config.PartItems.
	partItems int
}

// Backend says which kind of database the store writes to.
func (s *Store) Backend() Backend { return s.sql.backend }

// Open connects to the database named by cfg.DSN and checks that it answers.
// It does not touch the schema: call Migrate or CheckSchema next.
//
// Errors are one line naming the server and database, never the password.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if !utf8.ValidString(cfg.Agent) || utf8.RuneCountInString(cfg.Agent) > maxAgentLen {
		return nil, fmt.Errorf("agent %q: want at most %d characters of valid UTF-8", cfg.Agent, maxAgentLen)
	}
	if BackendOf(cfg.DSN) == SQLite {
		return openSQLite(ctx, cfg)
	}
	mc, err := mysqlConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if mc.DBName == "" {
		return nil, fmt.Errorf("DSN %q names no database (want user:password@tcp(host:3306)/database)", Redact(cfg.DSN))
	}
	// Rows are stamped with UTC DATETIMEs; the session zone makes
	// UNIX_TIMESTAMP and FROM_UNIXTIME agree with them, as Grafana's does.
	mc.ParseTime = true
	mc.Loc = time.UTC
	if mc.Timeout == 0 {
		mc.Timeout = dialTimeout
	}
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"

	where := location(mc)
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("connect to MariaDB at %s: %w", where, scrub(err, mc.Passwd))
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	db.SetConnMaxLifetime(maxConnLifetime)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)

	s := &Store{db: db, agent: cfg.Agent, dbName: mc.DBName, sql: &mariaDBDialect, partItems: partItems(cfg)}
	if cfg.Lazy {
		return s, nil
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		var me *mysql.MySQLError
		switch {
		case errors.As(err, &me) && me.Number == erBadDB:
			return nil, fmt.Errorf("connect to MariaDB at %s: %w %s", where, ErrNoDatabase, hint(err))
		case me == nil:
			// No server answered: nothing about the DSN is known wrong.
			return nil, fmt.Errorf("connect to MariaDB at %s: %w: %w %s", where, ErrUnreachable, scrub(err, mc.Passwd), hint(err))
		}
		return nil, fmt.Errorf("connect to MariaDB at %s: %w %s", where, scrub(err, mc.Passwd), hint(err))
	}
	return s, nil
}

// ErrUnreachable is returned by Open when no server answered at all (refused,
// timed out, no route, unknown host), as opposed to a server that refused
// the credentials or the database.
var ErrUnreachable = errors.New("the server does not answer")

// ErrNoDatabase is returned by Open when the server answers but the
// database the DSN names does not exist; CreateDatabase makes it.
var ErrNoDatabase = errors.New("database does not exist")

// CreateDatabase creates the database that dsn names, if it is missing: on
// MariaDB with the character set and exact-match collation the schema
// expects, on SQLite an empty file that only its owner and group may read.
func CreateDatabase(ctx context.Context, dsn string) error {
	if BackendOf(dsn) == SQLite {
		return createSQLite(dsn)
	}
	mc, err := mysqlConfig(dsn)
	if err != nil {
		return err
	}
	name := mc.DBName
	if name == "" {
		return fmt.Errorf("DSN %q names no database", Redact(dsn))
	}
	mc.DBName = ""
	if mc.Timeout == 0 {
		mc.Timeout = dialTimeout
	}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return fmt.Errorf("connect to MariaDB at %s: %w", location(mc), scrub(err, mc.Passwd))
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	// An identifier cannot be a bound parameter; it comes from the
	// operator's own DSN, and is quoted as an identifier all the same.
	q := "CREATE DATABASE IF NOT EXISTS `" + strings.ReplaceAll(name, "`", "``") + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create database %q at %s: %w %s", name, location(mc), scrub(err, mc.Passwd), hint(err))
	}
	return nil
}

// Close closes the connection pool. Writes in flight fail.
func (s *Store) Close() error {
	return s.db.Close()
}

// Redact returns dsn with its password, if any, replaced by "xxxxx", for
// logs and error messages. It works on DSNs that do not parse, too.
func Redact(dsn string) string {
	start, end, ok := passwordSpan(dsn)
	if !ok {
		return dsn
	}
	return dsn[:start] + redacted + dsn[end:]
}

// passwordSpan finds the password in dsn the way mysql.ParseDSN does: the
// user info ends at the last '@' before the last '/', and the password starts
// after the first ':' in it. A mysql:// URL is read the same way after its
// scheme; a sqlite: DSN has no password. ok is false when there is none.
func passwordSpan(dsn string) (start, end int, ok bool) {
	if BackendOf(dsn) == SQLite {
		return 0, 0, false
	}
	off := 0
	if rest, isURL := strings.CutPrefix(dsn, mysqlURLPrefix); isURL {
		off, dsn = len(mysqlURLPrefix), rest
	}
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		// Not a valid DSN, but it may still carry a password worth hiding.
		slash = len(dsn)
	}
	at := strings.LastIndexByte(dsn[:slash], '@')
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.IndexByte(dsn[:at], ':')
	if colon < 0 || colon+1 == at {
		return 0, 0, false
	}
	return off + colon + 1, off + at, true
}

func dsnPassword(dsn string) string {
	start, end, ok := passwordSpan(dsn)
	if !ok {
		return ""
	}
	return dsn[start:end]
}

// location names the server and database for messages: user@net(addr)/db,
// without password or parameters.
func location(c *mysql.Config) string {
	s := fmt.Sprintf("%s(%s)/%s", c.Net, c.Addr, c.DBName)
	if c.User != "" {
		s = c.User + "@" + s
	}
	return s
}

// scrub makes sure an error shown to the user does not carry the password.
// The driver's messages do not contain it today; this keeps it that way
// whatever a future driver or a server-side message does. The scrubbed error
// no longer wraps the original, since the original's text is the problem.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, redacted))
}

// MariaDB error numbers that hint recognizes.
const (
	erDBAccessDenied  = 1044
	erAccessDenied    = 1045
	erBadDB           = 1049
	erAccessDeniedNoP = 1698
)

// hint suggests the likely fix for a failed connect, in the parenthesised
// form that ends the one-line error.
func hint(err error) string {
	if isSQLiteNoTable(err) {
		return "(a table is missing: restore it, or create the schema with \"netmon migrate\" in an empty database; windows wait in the spool)"
	}
	switch sqliteCode(err) & 0xff {
	case 0:
	case sqliteReadOnly, sqliteCantOpen, sqlitePerm:
		return "(check that netmon may write the database file and its directory; or give another with --db)"
	case sqliteBusy, sqliteLocked:
		return "(another process holds the database's write lock; netmon tries again)"
	case sqliteFull:
		return "(the disk is full)"
	case sqliteNotADB:
		return "(the file is not an SQLite database: check --db or --dsn)"
	default:
		return "(check --db or --dsn)"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erAccessDenied, erAccessDeniedNoP, erDBAccessDenied:
			return "(check the user and password in --dsn, NETMON_DSN or the password file)"
		case erTableMissing:
			return "(a table is missing: restore it, or create the schema with \"netmon migrate\" in an empty database; windows wait in the spool)"
		case erBadDB:
			return "(\"netmon migrate\" creates it; or check --dsn or NETMON_DSN)"
		}
		return "(check --dsn or NETMON_DSN)"
	}
	return "(is the server running? check --dsn or NETMON_DSN)"
}
