package store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Backend is the kind of database a DSN names.
type Backend int

// The backends netmon writes to.
const (
	MariaDB Backend = iota
	SQLite
)

func (b Backend) String() string {
	if b == SQLite {
		return "SQLite"
	}
	return "MariaDB"
}

// DSN prefixes. Anything without one of them is a go-sql-driver/mysql DSN,
// user:password@tcp(host:3306)/database, as netmon has always taken.
const (
	sqlitePrefix   = "sqlite:"
	mysqlURLPrefix = "mysql://"
)

// SQLiteDSN is the DSN of the SQLite database in the file path.
func SQLiteDSN(path string) string { return sqlitePrefix + path }

// BackendOf says which backend dsn names: "sqlite:PATH" is SQLite, anything
// else (mysql://… or the go-sql-driver form) MariaDB.
func BackendOf(dsn string) Backend {
	if strings.HasPrefix(dsn, sqlitePrefix) {
		return SQLite
	}
	return MariaDB
}

// sqlitePath is the file a sqlite: DSN names. "sqlite:///var/lib/x.db" is
// accepted as the URL spelling of "sqlite:/var/lib/x.db".
func sqlitePath(dsn string) (string, error) {
	p := strings.TrimPrefix(dsn, sqlitePrefix)
	if rest, ok := strings.CutPrefix(p, "//"); ok {
		p = rest
	}
	switch {
	case p == "":
		return "", fmt.Errorf("DSN %q names no file (want sqlite:PATH, e.g. sqlite:/var/lib/netmon/netmon.db)", dsn)
	case strings.ContainsRune(p, '?'), strings.HasPrefix(p, "file:"):
		// The driver reads its options after a '?' and SQLite takes
		// "file:" as a URI: such a path would not name the file it says.
		return "", fmt.Errorf("SQLite path %q: a path with '?' or starting with \"file:\" is not supported", p)
	}
	return p, nil
}

// mysqlConfig parses a MariaDB DSN in either form: the go-sql-driver one or
// mysql://user:password@host:3306/database?param=value. Its errors never
// hold the password.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	if !strings.HasPrefix(dsn, mysqlURLPrefix) {
		mc, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("parse DSN %q: %w (want user:password@tcp(host:3306)/database or mysql://user:password@host:3306/database)",
				Redact(dsn), scrub(err, dsnPassword(dsn)))
		}
		return mc, nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" || u.Opaque != "" || u.Fragment != "" {
		// url's errors quote the whole URL, password included.
		return nil, fmt.Errorf("parse DSN %q: not a URL of the form mysql://user:password@host:3306/database", Redact(dsn))
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	db, err := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), "/"))
	if err != nil || strings.Contains(db, "/") {
		return nil, fmt.Errorf("parse DSN %q: the path must be one database name", Redact(dsn))
	}
	// The query holds driver parameters (timeout=5s, tls=true, …), which
	// the driver's own parser checks. The address and database go in
	// through the config, so nothing in them is parsed twice.
	base := "/"
	if u.RawQuery != "" {
		base += "?" + u.RawQuery
	}
	mc, err := mysql.ParseDSN(base)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %q: %w", Redact(dsn), err)
	}
	mc.Net, mc.Addr, mc.DBName = "tcp", addr, db
	if u.User != nil {
		mc.User = u.User.Username()
		mc.Passwd, _ = u.User.Password()
	}
	return mc, nil
}

// errSQLitePassword refuses a password for a database that has none.
var errSQLitePassword = errors.New("a database password is set (NETMON_DB_PASSWORD, a password file) but the database is SQLite, which has none: unset it, or give a MariaDB DSN with --dsn or NETMON_DSN")
