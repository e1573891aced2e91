package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netmon/netmon/cmd/internal/config"
	"github.com/netmon/netmon/store"
)

// dsnFlags say where the database is and where its password comes from.
// Without a DSN netmon uses an embedded SQLite file, so that a first
// "sudo netmon run -i eth0" needs no database server. The password of a
// MariaDB may sit in the DSN, but the DSN on a command line shows in the
// process list of every user, so an environment variable or a file
// readable only by its owner is the place for it.
type dsnFlags struct {
	dsn          string
	db           string
	passwordFile string
	// flags is the set they are in, which says where each value came from
	// (flag, environment, config file): the strongest names the database.
	flags *pflag.FlagSet
}

func (f *dsnFlags) register(fs *pflag.FlagSet) {
	f.flags = fs
	fs.StringVar(&f.dsn, "dsn", "", "database: sqlite:PATH, or MariaDB as mysql://user@host:3306/db or user@tcp(host:3306)/db "+
		"(default $NETMON_DSN, else the SQLite file of --db); put a password in a file, not here")
	fs.StringVar(&f.db, "db", "", "SQLite file to use when no DSN is given (default $NETMON_DB, else "+rootDBPath+" as root, ./"+dbFile+" otherwise)")
	fs.StringVar(&f.passwordFile, "dsn-password-file", "", "file holding the MariaDB password, readable only by its owner (default $NETMON_DB_PASSWORD_FILE)")
}

// The default SQLite file: root's next to the spool, where a service keeps
// its state; anyone else's in the current directory, where they will look.
const (
	dbFile     = "netmon.db"
	rootDBPath = "/var/lib/netmon/" + dbFile
)

// defaultDBPath is $NETMON_DB, else the default SQLite file for this user.
func defaultDBPath() string {
	if p := os.Getenv("NETMON_DB"); p != "" {
		return p
	}
	if os.Geteuid() == 0 {
		return rootDBPath
	}
	return filepath.Join(".", dbFile)
}

// open resolves the DSN and opens the store it names, for the commands
// that only read or prune it (top, devices, prune).
func (f *dsnFlags) open(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	dsn, err := f.resolve(log)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Config{DSN: dsn})
}

// resolve returns the DSN to connect with: --dsn or --db; else
// $NETMON_DSN; else dsn or db in the config file; else the default SQLite
// file ($NETMON_DB, which only sets that default). A MariaDB DSN gets the
// password from --dsn-password-file, $NETMON_DB_PASSWORD_FILE or
// $NETMON_DB_PASSWORD merged in. It warns when the password was given on
// the command line or in a file others may read. No error it returns
// holds the password.
func (f *dsnFlags) resolve(log *slog.Logger) (string, error) {
	dsnFrom, where := f.source("dsn")
	dbFrom, _ := f.source("db")
	var dsn string
	switch {
	case f.dsn != "" && f.db != "" && dsnFrom == dbFrom:
		what := "--dsn and --db name"
		if dsnFrom == config.FromFile {
			what = "dsn and db in the config file name"
		}
		return "", fmt.Errorf("both %s a database: give one (--db PATH is the same as --dsn sqlite:PATH)", what)
	case f.dsn != "" && dsnFrom > dbFrom:
		dsn = f.dsn
	case f.db != "":
		// A flag beats the environment, as everywhere else.
		dsn = store.SQLiteDSN(f.db)
	case f.dsn != "":
		dsn = f.dsn
	default:
		dsn = store.SQLiteDSN(defaultDBPath())
	}
	if dsn == f.dsn && store.HasPassword(f.dsn) {
		switch dsnFrom {
		case config.FromFlag:
			log.Warn("the password in --dsn is visible to every user of this machine (ps, /proc/PID/cmdline); " +
				"use --dsn-password-file, NETMON_DB_PASSWORD_FILE or NETMON_DB_PASSWORD instead")
		case config.FromFile:
			file := where[:max(strings.LastIndexByte(where, ':'), 0)] // where is FILE:LINE
			// Group-readable is how the service user (group netmon) reads
			// a file root owns; anyone else is one too many.
			if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o004 != 0 {
				log.Warn("the config file holds the database password and every user may read it; "+
					"chmod 640 it (or 600), or use dsn-password-file", "file", file)
			}
		}
	}
	// The root command has put $NETMON_DB_PASSWORD_FILE there already;
	// a flag set it did not layer (a test's) still reads the variable.
	file := f.passwordFile
	if file == "" {
		file = os.Getenv("NETMON_DB_PASSWORD_FILE")
	}
	env := os.Getenv("NETMON_DB_PASSWORD")
	var pw string
	var err error
	switch {
	case file != "" && env != "":
		return "", errors.New("both a password file and NETMON_DB_PASSWORD are set: give the password one way")
	case file != "":
		if pw, err = store.ReadPasswordFile(file); err != nil {
			return "", err
		}
	default:
		pw = env
	}
	return store.WithPassword(dsn, pw)
}

// source says where the value of flag name came from. Without a flag set
// (dsnFlags made by hand) a value counts as given on the command line.
func (f *dsnFlags) source(name string) (config.Source, string) {
	if f.flags == nil {
		return config.FromFlag, ""
	}
	return config.SourceOf(f.flags, name)
}
