package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/netmon/netmon/store"
)

func TestReadPasswordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	const secret = "s3cr:t@/pw"
	tests := []struct {
		name, path, want, wantErr string
	}{
		{name: "owner only, newline", path: write("ok", secret+"\n", 0o600), want: secret},
		{name: "read-only, CRLF", path: write("crlf", secret+"\r\n", 0o400), want: secret},
		{name: "no newline", path: write("bare", secret, 0o600), want: secret},
		{name: "group readable", path: write("group", secret, 0o640), wantErr: "open to group or others (mode 0640): chmod 600"},
		{name: "world readable", path: write("world", secret, 0o644), wantErr: "(mode 0644)"},
		{name: "empty", path: write("empty", "\n", 0o600), wantErr: "is empty"},
		{name: "directory", path: dir, wantErr: "not a regular file"},
		{name: "missing", path: filepath.Join(dir, "nope"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		got, err := store.ReadPasswordFile(tt.path)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows the password: %v", tt.name, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestWithPassword(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"plain", "p@ss/w:rd", "with space", "ünï", `q"'\`} {
		dsn, err := store.WithPassword("netmon@tcp(db.example:3306)/netmon?timeout=3s", pw)
		if err != nil {
			t.Fatalf("%q: %v", pw, err)
		}
		c, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("%q: merged DSN does not parse: %v", pw, err)
		}
		if c.Passwd != pw || c.User != "netmon" || c.Addr != "db.example:3306" || c.DBName != "netmon" {
			t.Errorf("%q: parsed back as user %q password %q addr %q db %q", pw, c.User, c.Passwd, c.Addr, c.DBName)
		}
		if strings.Contains(store.Redact(dsn), pw) {
			t.Errorf("%q: Redact keeps the password: %s", pw, store.Redact(dsn))
		}
	}
	if _, err := store.WithPassword("u:Pw1xyz@tcp(h)/d", "Pw2xyz"); err == nil || strings.Contains(err.Error(), "Pw1xyz") || strings.Contains(err.Error(), "Pw2xyz") {
		t.Errorf("a DSN with a password of its own = %v, want a refusal that shows neither", err)
	}
	if got, err := store.WithPassword("u:one@tcp(h)/d", ""); err != nil || got != "u:one@tcp(h)/d" {
		t.Errorf("no password to merge = %q, %v", got, err)
	}
}
