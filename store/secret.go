package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxPasswordFile bounds what ReadPasswordFile reads: a password, not a
// file someone pointed it at by mistake.
const maxPasswordFile = 4096

// ReadPasswordFile returns the password stored in path, without one
// trailing newline. The file must be a regular file that neither group nor
// others may read or write (chmod 600 or 400): a password readable by
// every user of the machine is no secret, and netmon refuses it rather
// than spread it further. Errors name the file, never its content.
func ReadPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("password file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("password file %s is open to group or others (mode %04o): chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("password file %s: %w", path, err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("password file %s is longer than %d bytes: is it the right file?", path, maxPasswordFile)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return pw, nil
}

// HasPassword reports whether dsn carries a password.
func HasPassword(dsn string) bool {
	_, _, ok := passwordSpan(dsn)
	return ok
}

// WithPassword returns dsn with password set. A DSN that already carries
// one is refused: two sources for one secret leave the reader guessing
// which one is used.
func WithPassword(dsn, password string) (string, error) {
	if password == "" {
		return dsn, nil
	}
	if BackendOf(dsn) == SQLite {
		return "", errSQLitePassword
	}
	mc, err := mysqlConfig(dsn)
	if err != nil {
		return "", err
	}
	if mc.Passwd != "" {
		return "", errors.New("the DSN already holds a password: give it in one place only (the DSN, NETMON_DB_PASSWORD or a password file)")
	}
	mc.Passwd = password
	return mc.FormatDSN(), nil
}
