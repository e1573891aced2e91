package store_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/netmon/netmon/migrations"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// open opens a store on dsn as agent and closes it when the test ends.
func open(t *testing.T, dsn, agent string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), store.Config{DSN: dsn, Agent: agent})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// latestVersion is the newest migration embedded in the binary.
func latestVersion(t *testing.T) int64 {
	t.Helper()
	entries, err := fs.ReadDir(migrations.MySQL(), ".")
	if err != nil || len(entries) == 0 {
		t.Fatalf("read migrations: %v (%d files)", err, len(entries))
	}
	v, err := goose.NumericComponent(entries[len(entries)-1].Name())
	if err != nil {
		t.Fatalf("migration version: %v", err)
	}
	return v
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		dsn := storetest.NewDSN(t, b)
		s := open(t, dsn, "a")
		latest := latestVersion(t)

		err := s.CheckSchema(t.Context())
		if !errors.Is(err, store.ErrNoSchema) {
			t.Fatalf("CheckSchema before Migrate = %v, want ErrNoSchema", err)
		}
		if got, want := err.Error(), `table tcpdump_records is missing: run "netmon migrate" first`; got != want {
			t.Errorf("CheckSchema before Migrate says %q, want %q", got, want)
		}

		for i, want := range [][2]int64{{0, latest}, {latest, latest}} {
			from, to, err := s.Migrate(t.Context())
			if err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
			if from != want[0] || to != want[1] {
				t.Errorf("Migrate #%d = %d → %d, want %d → %d", i+1, from, to, want[0], want[1])
			}
		}
		if err := s.CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema after Migrate: %v", err)
		}
	})
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		dsn := storetest.NewDSN(t, b)
		latest := latestVersion(t)
		const n = 4
		stores := make([]*store.Store, n)
		for i := range stores {
			stores[i] = open(t, dsn, "a")
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		tos := make([]int64, n)
		for i, s := range stores {
			wg.Go(func() { _, tos[i], errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || tos[i] != latest {
				t.Errorf("Migrate #%d = version %d, %v; want version %d, no error", i, tos[i], errs[i], latest)
			}
		}
		if err := stores[0].CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema: %v", err)
		}
	})
}

func TestCheckSchema(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		tests := []struct {
			name     string
			migrate  bool
			arrange  []string // SQL run after migrating
			want     string   // error text, "" for none
			noSchema bool     // want errors.Is(err, ErrNoSchema)
		}{
			{name: "empty database", want: `table tcpdump_records is missing: run "netmon migrate" first`, noSchema: true},
			{name: "migrated", migrate: true},
			{
				name: "dns_records dropped", migrate: true, arrange: []string{"DROP TABLE dns_records"},
				want: `table dns_records is missing: run "netmon migrate" first`, noSchema: true,
			},
			{
				name: "older version", migrate: true, arrange: []string{"DELETE FROM goose_db_version WHERE version_id > 0"},
				want: `schema is at version 0, this netmon needs {latest}: run "netmon migrate" first`, noSchema: true,
			},
			{
				name: "tables made without goose", migrate: true, arrange: []string{"DROP TABLE goose_db_version"},
				want: `table goose_db_version is missing, so the schema's version is unknown: run "netmon migrate" first`, noSchema: true,
			},
			{
				name: "newer version", migrate: true,
				arrange: []string{"INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)"},
				want:    "schema is at version 99999, newer than this netmon knows ({latest}): upgrade netmon",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				dsn := storetest.NewDSN(t, b)
				s := open(t, dsn, "a")
				if tt.migrate {
					if _, _, err := s.Migrate(t.Context()); err != nil {
						t.Fatalf("Migrate: %v", err)
					}
				}
				db := storetest.Open(t, dsn)
				for _, q := range tt.arrange {
					if _, err := db.ExecContext(t.Context(), q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				want := strings.ReplaceAll(tt.want, "{latest}", strconv.FormatInt(latestVersion(t), 10))
				err := s.CheckSchema(t.Context())
				got := ""
				if err != nil {
					got = err.Error()
				}
				if got != want {
					t.Errorf("CheckSchema = %q, want %q", got, want)
				}
				if errors.Is(err, store.ErrNoSchema) != tt.noSchema {
					t.Errorf("errors.Is(%v, ErrNoSchema) = %v, want %v", err, !tt.noSchema, tt.noSchema)
				}
			})
		}
	})
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	base := os.Getenv("NETMON_TEST_DSN")
	if base == "" {
		base = storetest.DefaultDSN
	}
	server, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("NETMON_TEST_DSN: %v", err)
	}
	// Make sure a server is there, so that the errors below are the ones
	// under test and not a missing server.
	storetest.NewDB(t)

	const secret = "S3cret-Pw-d0nt-leak"
	with := func(f func(c *mysql.Config)) string {
		c := server.Clone()
		f(c)
		return c.FormatDSN()
	}
	// A port that was free a moment ago refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	tests := []struct {
		name  string
		cfg   store.Config
		wants []string // substrings of the error
	}{
		{
			name: "wrong password",
			cfg: store.Config{DSN: with(func(c *mysql.Config) {
				c.Passwd = secret
				c.DBName = "netmon"
			})},
			wants: []string{
				"connect to MariaDB at " + server.User + "@tcp(" + server.Addr + ")/netmon: ",
				"Access denied",
				"(check the user and password in --dsn, NETMON_DSN or the password file)",
			},
		},
		{
			name: "nothing listening",
			cfg: store.Config{DSN: with(func(c *mysql.Config) {
				c.Passwd = secret
				c.Addr = closedAddr
				c.DBName = "netmon"
			})},
			wants: []string{
				"connect to MariaDB at " + server.User + "@tcp(" + closedAddr + ")/netmon: ",
				"connection refused",
				"(is the server running? check --dsn or NETMON_DSN)",
			},
		},
		{
			name:  "unknown database",
			cfg:   store.Config{DSN: with(func(c *mysql.Config) { c.DBName = "netmon_no_such_db" })},
			wants: []string{"/netmon_no_such_db: ", "database does not exist", "(\"netmon migrate\" creates it; or check --dsn or NETMON_DSN)"},
		},
		{
			name:  "unparsable DSN",
			cfg:   store.Config{DSN: "root:" + secret + "@tcp(127.0.0.1:3306/netmon"},
			wants: []string{`parse DSN "root:xxxxx@tcp(127.0.0.1:3306/netmon": invalid DSN`},
		},
		{
			name:  "no database",
			cfg:   store.Config{DSN: "root:" + secret + "@tcp(127.0.0.1:3306)/"},
			wants: []string{`DSN "root:xxxxx@tcp(127.0.0.1:3306)/" names no database`},
		},
		{
			name:  "agent too long",
			cfg:   store.Config{DSN: base, Agent: strings.Repeat("x", 65)},
			wants: []string{"want at most 64 characters"},
		},
		{
			name:  "agent not UTF-8",
			cfg:   store.Config{DSN: base, Agent: "\xff"},
			wants: []string{"valid UTF-8"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := store.Open(t.Context(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if strings.Contains(msg, secret) {
				t.Errorf("error shows the password: %s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
			for _, want := range tt.wants {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"root@tcp(127.0.0.1:3306)/netmon", "root@tcp(127.0.0.1:3306)/netmon"},
		{"root:@tcp(127.0.0.1:3306)/netmon", "root:@tcp(127.0.0.1:3306)/netmon"},
		{"netmon:hunter2@tcp(db:3306)/netmon?timeout=3s", "netmon:xxxxx@tcp(db:3306)/netmon?timeout=3s"},
		// The driver takes the last '@' before the last '/' and the first ':'.
		{"u:p@ss:w/rd@tcp(db)/n", "u:xxxxx@tcp(db)/n"},
		{"u:pw@unix(/run/mysqld/mysqld.sock)/n", "u:xxxxx@unix(/run/mysqld/mysqld.sock)/n"},
		{"u:pw@tcp(db", "u:xxxxx@tcp(db"},
		{"/netmon", "/netmon"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := store.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if c, err := mysql.ParseDSN(tt.in); err == nil && c.Passwd != "" && strings.Contains(store.Redact(tt.in), c.Passwd) {
			t.Errorf("Redact(%q) keeps the password the driver sees, %q", tt.in, c.Passwd)
		}
	}
}

// eachBackend runs one test body against every backend, as parallel
// subtests named after it: the store must give the same rows on both.
func eachBackend(t *testing.T, body func(t *testing.T, b storetest.Backend)) {
	t.Helper()
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			body(t, b)
		})
	}
}
