package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// DefaultSeedAgent is the agent name rows from before netmon get when a
// seed database is adopted and the user names none.
const DefaultSeedAgent = "seed"

// seedAgentRE is what a seed agent name may be: it is written into the
// ALTER TABLE as the new column's default, so that the rows get it in the
// same statement that adds the column (MariaDB's DDL is not transactional).
var seedAgentRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// CheckSeedAgent reports a name Adopt would refuse as the seed's agent, so
// that netmon migrate refuses it before it creates a database.
func CheckSeedAgent(name string) error {
	if !seedAgentRE.MatchString(name) {
		return fmt.Errorf("%q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// The shapes adoption recognises, as (column, type) in table order. The
// seed's are exactly what its CREATE TABLE statements make; the adopted
// ones are what Adopt turns them into (the columns of migration 00001, with
// bytes NULL for the old rows and seed_key).
var (
	seedRecordsShape = []column{{"id", "int"}, {"ts", "timestamp"}, {"domain", "text"}, {"nickname", "text"}, {"count", "int"}}
	seedNamesShape   = []column{{"id", "int"}, {"ts", "timestamp"}, {"ip_addr", "text"}, {"domain", "text"}, {"is_definite", "tinyint"}}

	adoptedRecordsShape = []column{{"id", "bigint"}, {"ts", "datetime"}, {"agent", "varchar"}, {"client", "varchar"},
		{"domain", "varbinary"}, {"nickname", "varchar"}, {"source", "varchar"}, {"count", "bigint"}, {"bytes", "bigint"}, {"seed_key", "tinyint"}}
	adoptedNamesShape = []column{{"id", "bigint"}, {"ts", "datetime"}, {"agent", "varchar"}, {"ip_addr", "varchar"},
		{"domain", "varbinary"}, {"is_definite", "tinyint"}, {"source", "varchar"}, {"seed_key", "tinyint"}}
)

// column is a column's name and information_schema DATA_TYPE.
type column struct{ name, typ string }

func shapeText(cols []column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.name + " " + c.typ
	}
	return strings.Join(parts, ", ")
}

func sameShape(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// otherTables are netmon's tables besides the two the seed shares; none of
// them may exist in a database that has no goose version table.
var otherTables = [...]string{"applied_windows", "devices", "device_addresses", "device_records", "replay_files"}

// AdoptResult says what Adopt found and did.
type AdoptResult struct {
	// Adopted is true when the database held the seed's tables and they
	// now have netmon's columns; Records and Names are their rows, all kept.
	Adopted        bool
	Records, Names int64
}

// Adopt prepares a database that netmon did not create for Migrate. A
// database without goose's version table that holds tables named like
// netmon's is either the seed's (tcpdump_records and dns_records exactly as
// the seed's CREATE TABLE statements made them): Adopt then alters them in
// place into the columns of netmon's first schema version, every row kept
// under agent seedAgent, with bytes NULL (unknown) and an empty client, and
// records that version, so that Migrate applies the rest. Or it is anything
// else: Adopt refuses it in one line before changing anything. A database
// that goose already manages, or an empty one, is left to Migrate.
//
// Checks come first, all read-only, since MariaDB's DDL cannot be rolled
// back. Each table is altered by one statement; a run cut short is finished
// by the next, which recognises the tables already altered.
func (s *Store) Adopt(ctx context.Context, seedAgent string) (AdoptResult, error) {
	if seedAgent == "" {
		seedAgent = DefaultSeedAgent
	}
	if err := CheckSeedAgent(seedAgent); err != nil {
		return AdoptResult{}, fmt.Errorf("seed agent %w", err)
	}
	plan, err := s.adoptPlan(ctx)
	if err != nil || plan == nil {
		return AdoptResult{}, err
	}
	var res AdoptResult
	if err := s.db.GetContext(ctx, &res.Records, `SELECT COUNT(*) FROM tcpdump_records`); err != nil {
		return res, fmt.Errorf("adopt %s: count tcpdump_records: %w", s.dbName, err)
	}
	if err := s.db.GetContext(ctx, &res.Names, `SELECT COUNT(*) FROM dns_records`); err != nil {
		return res, fmt.Errorf("adopt %s: count dns_records: %w", s.dbName, err)
	}
	if err := s.checkSeedRows(ctx, plan); err != nil {
		return res, err
	}

	conn, err := s.db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("adopt %s: %w", s.dbName, err)
	}
	defer conn.Close()
	lock := s.migrationLock()
	if err := lock.SessionLock(ctx, conn); err != nil {
		return res, err
	}
	defer func() { _ = lock.SessionUnlock(context.WithoutCancel(ctx), conn) }()
	// Another netmon may have adopted the database while we waited.
	if plan, err = s.adoptPlan(ctx); err != nil || plan == nil {
		return AdoptResult{}, err
	}
	for _, q := range adoptStatements(plan, seedAgent) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return res, fmt.Errorf("adopt %s: %w (statement: %.60s…)", s.dbName, err, q)
		}
	}
	// goose's table, made as goose makes it, then versions 0 and 1 (the
	// tables now have the columns of 1), so that Migrate applies 2 onwards.
	vs, err := database.NewStore(database.DialectMySQL, goose.DefaultTablename)
	if err != nil {
		return res, fmt.Errorf("adopt %s: %w", s.dbName, err)
	}
	if err := vs.CreateVersionTable(ctx, conn); err != nil {
		return res, fmt.Errorf("adopt %s: %w", s.dbName, err)
	}
	for _, v := range []int64{0, 1} {
		if err := vs.Insert(ctx, conn, database.InsertRequest{Version: v}); err != nil {
			return res, fmt.Errorf("adopt %s: record version %d: %w", s.dbName, v, err)
		}
	}
	res.Adopted = true
	return res, nil
}

// adoptPlan says which of the two shared tables still have the seed's
// shape (true) or already netmon's adopted one (false). It returns nil
// when there is nothing to adopt, and a one-line refusal for any other
// shape.
type seedPlan struct{ records, names bool }

func (s *Store) adoptPlan(ctx context.Context) (*seedPlan, error) {
	has := func(table string) (bool, error) {
		var n int
		err := s.db.GetContext(ctx, &n, s.sql.tableExists, table)
		return n > 0, err
	}
	versioned, err := has(goose.DefaultTablename)
	if err != nil {
		return nil, fmt.Errorf("check schema of %s: %w", s.dbName, err)
	}
	if versioned {
		return nil, nil
	}
	recs, err := has("tcpdump_records")
	if err != nil {
		return nil, fmt.Errorf("check schema of %s: %w", s.dbName, err)
	}
	names, err := has("dns_records")
	if err != nil {
		return nil, fmt.Errorf("check schema of %s: %w", s.dbName, err)
	}
	for _, t := range otherTables {
		ok, err := has(t)
		if err != nil {
			return nil, fmt.Errorf("check schema of %s: %w", s.dbName, err)
		}
		if ok {
			return nil, fmt.Errorf("refusing to migrate %s: it holds a table %s but no %s, so netmon did not make it and its shape is unknown; nothing changed (use another database)",
				s.dbName, t, goose.DefaultTablename)
		}
	}
	if !recs && !names {
		return nil, nil // empty: Migrate creates everything
	}
	if s.sql.backend == SQLite {
		return nil, fmt.Errorf("refusing to migrate %s: it holds a table tcpdump_records or dns_records that netmon did not make (no %s); nothing changed (use another file)",
			s.dbName, goose.DefaultTablename)
	}
	if !recs || !names {
		present, missing := "tcpdump_records", "dns_records"
		if names {
			present, missing = missing, present
		}
		return nil, fmt.Errorf("refusing to migrate %s: it holds %s but not %s, so it is neither netmon's nor the seed's; nothing changed (use another database)",
			s.dbName, present, missing)
	}
	var plan seedPlan
	for _, t := range []struct {
		table          string
		seed, adopted  []column
		needsAdoption  *bool
		seedColumnList string
	}{
		{"tcpdump_records", seedRecordsShape, adoptedRecordsShape, &plan.records, "id, ts, domain, nickname, count"},
		{"dns_records", seedNamesShape, adoptedNamesShape, &plan.names, "id, ts, ip_addr, domain, is_definite"},
	} {
		cols, err := s.columns(ctx, t.table)
		if err != nil {
			return nil, err
		}
		switch {
		case sameShape(cols, t.seed):
			*t.needsAdoption = true
		case sameShape(cols, t.adopted):
		default:
			return nil, fmt.Errorf("refusing to migrate %s: table %s has columns (%s), neither netmon's nor the seed's (%s); nothing changed (use another database)",
				s.dbName, t.table, shapeText(cols), t.seedColumnList)
		}
	}
	return &plan, nil
}

// columns reads a MariaDB table's columns in order.
func (s *Store) columns(ctx context.Context, table string) ([]column, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns`+
		` WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, fmt.Errorf("check schema of %s: %w", s.dbName, err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, fmt.Errorf("check schema of %s: %w", s.dbName, err)
		}
		c.name, c.typ = strings.ToLower(c.name), strings.ToLower(c.typ)
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// checkSeedRows refuses, before any change, rows that netmon's columns
// cannot hold as they are.
func (s *Store) checkSeedRows(ctx context.Context, plan *seedPlan) error {
	type check struct{ table, cond, what string }
	var checks []check
	if plan.records {
		checks = append(checks,
			check{"tcpdump_records", "ts IS NULL", "have no ts"},
			check{"tcpdump_records", "LENGTH(domain) > 255", "have a domain longer than 255 bytes"},
			check{"tcpdump_records", "CHAR_LENGTH(nickname) > 255", "have a nickname longer than 255 characters"},
			check{"tcpdump_records", "count < 0", "have a negative count"})
	}
	if plan.names {
		checks = append(checks,
			check{"dns_records", "ts IS NULL", "have no ts"},
			check{"dns_records", "LENGTH(domain) > 255", "have a domain longer than 255 bytes"},
			check{"dns_records", "CHAR_LENGTH(ip_addr) > 45", "have an ip_addr longer than 45 characters"})
	}
	for _, c := range checks {
		var n int64
		// Table and condition are constants of this function.
		if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+c.table+` WHERE `+c.cond); err != nil {
			return fmt.Errorf("check rows of %s: %w", c.table, err)
		}
		if n > 0 {
			return fmt.Errorf("refusing to migrate %s: %d rows of %s %s, which netmon's columns cannot hold; nothing changed (fix or delete them, then run netmon migrate again)",
				s.dbName, n, c.table, c.what)
		}
	}
	return nil
}

// adoptStatements turns the seed's tables into netmon's, one ALTER per
// table (all or nothing on its own), then drops the defaults that gave the
// old rows their values, as netmon's own tables have none.
//
// Old rows keep their id, ts (TIMESTAMP becomes a UTC DATETIME: the
// session's zone is UTC), domain, nickname, count, ip_addr, is_definite;
// they get agent = seedAgent, client ” and source ” (unknown), bytes NULL
// (unknown: the seed did not count them) and seed_key NULL. seed_key is in
// the unique keys: NULLs never collide, so the seed's rows (which may
// repeat a window and domain, or an address) need not be unique, while the
// rows netmon writes (seed_key 0) merge by key as everywhere.
func adoptStatements(plan *seedPlan, seedAgent string) []string {
	const bin = ` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`
	agentDefault := `'` + seedAgent + `'` // seedAgentRE admits no quote
	var qs []string
	if plan.records {
		qs = append(qs,
			`UPDATE tcpdump_records SET domain = COALESCE(domain, ''), nickname = COALESCE(nickname, ''), count = COALESCE(count, 0)`+
				` WHERE domain IS NULL OR nickname IS NULL OR count IS NULL`,
			`ALTER TABLE tcpdump_records`+
				` MODIFY id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,`+
				` MODIFY ts DATETIME NOT NULL COMMENT 'window start, UTC',`+
				` ADD COLUMN agent VARCHAR(64)`+bin+` NOT NULL DEFAULT `+agentDefault+` COMMENT 'the netmon instance that counted the packets' AFTER ts,`+
				` ADD COLUMN client VARCHAR(45)`+bin+` NOT NULL DEFAULT '' COMMENT 'local address, netip.Addr text form; empty: from before netmon' AFTER agent,`+
				` MODIFY domain VARBINARY(255) NOT NULL COMMENT 'name as seen on the wire, byte for byte; may be invalid UTF-8',`+
				` MODIFY nickname VARCHAR(255)`+bin+` NOT NULL COMMENT 'service label for the dashboards',`+
				` ADD COLUMN source VARCHAR(8)`+bin+` NOT NULL DEFAULT '' COMMENT 'how the name was found: dns, svcb, sni, http, quic, ptr, ip; empty: from before netmon' AFTER nickname,`+
				` MODIFY count BIGINT UNSIGNED NOT NULL COMMENT 'packets, both directions',`+
				` ADD COLUMN bytes BIGINT UNSIGNED NULL DEFAULT NULL COMMENT 'wire bytes, both directions; NULL: unknown (from before netmon)' AFTER count,`+
				` ADD COLUMN seed_key TINYINT UNSIGNED NULL DEFAULT NULL COMMENT 'NULL: a row from before netmon, kept as it was; 0: written by netmon' AFTER bytes,`+
				` ADD UNIQUE KEY tcpdump_records_window (agent, ts, client, domain, seed_key),`+
				` ADD KEY tcpdump_records_ts_nickname (ts, nickname),`+
				` ADD KEY tcpdump_records_agent_domain (agent, domain),`+
				` ENGINE=InnoDB, DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
	}
	if plan.names {
		qs = append(qs,
			`UPDATE dns_records SET ip_addr = COALESCE(ip_addr, ''), domain = COALESCE(domain, ''), is_definite = COALESCE(is_definite, 0)`+
				` WHERE ip_addr IS NULL OR domain IS NULL OR is_definite IS NULL`,
			`ALTER TABLE dns_records`+
				` MODIFY id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,`+
				` MODIFY ts DATETIME NOT NULL COMMENT 'when the name was learned, UTC',`+
				` ADD COLUMN agent VARCHAR(64)`+bin+` NOT NULL DEFAULT `+agentDefault+` AFTER ts,`+
				` MODIFY ip_addr VARCHAR(45)`+bin+` NOT NULL,`+
				` MODIFY domain VARBINARY(255) NOT NULL COMMENT 'byte for byte, like tcpdump_records.domain',`+
				` MODIFY is_definite TINYINT(1) NOT NULL,`+
				` ADD COLUMN source VARCHAR(8)`+bin+` NOT NULL DEFAULT '' AFTER is_definite,`+
				` ADD COLUMN seed_key TINYINT UNSIGNED NULL DEFAULT NULL COMMENT 'NULL: a row from before netmon, kept as it was; 0: written by netmon' AFTER source,`+
				` ADD UNIQUE KEY dns_records_addr (agent, ip_addr, seed_key),`+
				` ADD KEY dns_records_ts (ts),`+
				` ENGINE=InnoDB, DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
	}
	// Idempotent, so run whether or not the ALTERs above ran this time.
	qs = append(qs,
		`ALTER TABLE tcpdump_records ALTER COLUMN agent DROP DEFAULT, ALTER COLUMN client DROP DEFAULT,`+
			` ALTER COLUMN source DROP DEFAULT, ALTER COLUMN seed_key SET DEFAULT 0`,
		`ALTER TABLE dns_records ALTER COLUMN agent DROP DEFAULT, ALTER COLUMN source DROP DEFAULT, ALTER COLUMN seed_key SET DEFAULT 0`)
	return qs
}

// migrationLock is the session lock Migrate takes, for Adopt to share.
func (s *Store) migrationLock() migrationLock { return mariaDBLock(s.dbName) }
