package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

func TestBackendOf(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]store.Backend{
		"sqlite:/var/lib/netmon/netmon.db": store.SQLite,
		"sqlite:netmon.db":                 store.SQLite,
		"mysql://u:p@db:3306/netmon":       store.MariaDB,
		"u:p@tcp(db:3306)/netmon":          store.MariaDB,
		"/netmon":                          store.MariaDB,
	} {
		if got := store.BackendOf(dsn); got != want {
			t.Errorf("BackendOf(%q) = %s, want %s", dsn, got, want)
		}
	}
}

// A mysql:// URL means what the driver's form means: WithPassword turns it
// into that form, password merged, and a password in the URL stays hidden.
func TestMySQLURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, pw                string
		user, addr, db, passwd string
		timeout                string
	}{
		{"mysql://netmon@db.example:3307/netmon?timeout=3s", "p@ss/w:rd", "netmon", "db.example:3307", "netmon", "p@ss/w:rd", "3s"},
		{"mysql://netmon@db.example/net%2Dmon", "x", "netmon", "db.example:3306", "net-mon", "x", "0s"},
		{"mysql://netmon@[2001:db8::1]/netmon", "x", "netmon", "[2001:db8::1]:3306", "netmon", "x", "0s"},
	}
	for _, tt := range tests {
		dsn, err := store.WithPassword(tt.url, tt.pw)
		if err != nil {
			t.Errorf("WithPassword(%q): %v", tt.url, err)
			continue
		}
		c, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Errorf("%q became %q, which does not parse: %v", tt.url, store.Redact(dsn), err)
			continue
		}
		if c.User != tt.user || c.Passwd != tt.passwd || c.Net != "tcp" || c.Addr != tt.addr || c.DBName != tt.db || c.Timeout.String() != tt.timeout {
			t.Errorf("%q: user %q password %q net %q addr %q db %q timeout %s", tt.url, c.User, c.Passwd, c.Net, c.Addr, c.DBName, c.Timeout)
		}
	}
	if got := store.Redact("mysql://u:Pw1xyz@db:3306/n"); got != "mysql://u:xxxxx@db:3306/n" {
		t.Errorf("Redact of a URL = %q", got)
	}
	if !store.HasPassword("mysql://u:Pw1xyz@db/n") || store.HasPassword("mysql://u@db/n") {
		t.Error("HasPassword does not read URLs")
	}
	if _, err := store.WithPassword("mysql://u:Pw1xyz@db/n", "Pw2xyz"); err == nil || strings.Contains(err.Error(), "Pw") {
		t.Errorf("a URL with a password of its own = %v, want a refusal that shows neither", err)
	}
	for _, bad := range []string{"mysql://u:Pw1xyz@[db/n", "mysql://u:Pw1xyz@db/a/b", "mysql://u:Pw1xyz@db/n?timeout=never"} {
		_, err := store.WithPassword(bad, "x")
		if err == nil || strings.Contains(err.Error(), "Pw1xyz") {
			t.Errorf("WithPassword(%q) = %v, want an error without the password", bad, err)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "netmon.db")
	dsn := store.SQLiteDSN(path)

	_, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if !errors.Is(err, store.ErrNoDatabase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a missing file = %v, want ErrNoDatabase naming %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created %s: %v", path, err)
	}
	for range 2 { // the second time finds the file and keeps it
		if err := store.CreateDatabase(t.Context(), dsn); err != nil {
			t.Fatalf("CreateDatabase: %v", err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("created file: %v, mode %v; want 0640", err, fi.Mode().Perm())
	}
	// The URL spelling names the same file.
	s := open(t, "sqlite://"+path, "a")
	if s.Backend() != store.SQLite {
		t.Errorf("Backend() = %s, want SQLite", s.Backend())
	}
	if _, _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := storetest.Open(t, dsn).Get(&mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}

	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dsn, want string }{
		{store.SQLiteDSN(notDB), "not an SQLite database"},
		{"sqlite:", "names no file"},
		{"sqlite:" + dir + "/x.db?mode=ro", "'?'"},
	} {
		s, err := store.Open(t.Context(), store.Config{DSN: tt.dsn})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", tt.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%q) = %q, want one line containing %q", tt.dsn, err, tt.want)
		}
	}
}
