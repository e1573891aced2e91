package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TopBy is what Top groups tcpdump_records rows by.
type TopBy string

// The groupings Top knows, each naming one column.
const (
	ByService TopBy = "service" // nickname
	ByDomain  TopBy = "domain"  // domain, byte for byte
	ByDevice  TopBy = "device"  // client address
)

// column is the tcpdump_records column a grouping reads. Only these
// constants ever reach the SQL text.
func (b TopBy) column() (string, error) {
	switch b {
	case ByService:
		return "nickname", nil
	case ByDomain:
		return "domain", nil
	case ByDevice:
		return "client", nil
	}
	return "", fmt.Errorf("cannot group by %q: want service, domain or device", string(b))
}

// TopQuery selects what Top sums.
type TopQuery struct {
	By TopBy
	// Agent keeps only that agent's rows; "" keeps every agent's.
	Agent string
	// Since keeps the windows that start at or after it; the zero time
	// keeps them all.
	Since time.Time
	// Limit is the most groups returned, largest first; 0 returns all.
	// Totals cover every group either way.
	Limit int
}

// TopRow is one group's sums. FirstSeen and LastSeen are window starts.
type TopRow struct {
	Name      string // nickname, domain (raw bytes, maybe invalid UTF-8) or client address
	Packets   uint64
	Bytes     uint64
	FirstSeen time.Time
	LastSeen  time.Time
}

// TopResult is Top's answer.
type TopResult struct {
	// Rows are the largest groups by packets, then bytes, then name.
	Rows []TopRow
	// Groups is how many groups the selection has, of which Rows are the
	// first Limit.
	Groups int
	// Total sums every group; its Name is empty. All zero when nothing
	// matched.
	Total TopRow
}

// Top sums packets and bytes per service, domain or device, largest first,
// in one statement so that the rows and the totals are read from the same
// snapshot. Every value is a bound parameter. A missing table is reported
// as an error wrapping ErrNoSchema.
func (s *Store) Top(ctx context.Context, q TopQuery) (TopResult, error) {
	col, err := q.By.column()
	if err != nil {
		return TopResult{}, err
	}
	if q.Limit < 0 {
		return TopResult{}, fmt.Errorf("limit %d: want 0 (no limit) or more", q.Limit)
	}
	// The window functions run over the grouped rows before LIMIT, so the
	// totals and the group count cover the groups that are cut off too.
	var b strings.Builder
	b.WriteString(`SELECT ` + col + ` AS name, SUM(count) AS packets, SUM(bytes) AS bytes,` +
		` MIN(ts) AS first_seen, MAX(ts) AS last_seen,` +
		` COUNT(*) OVER () AS group_count, SUM(SUM(count)) OVER () AS total_packets,` +
		` SUM(SUM(bytes)) OVER () AS total_bytes, MIN(MIN(ts)) OVER () AS total_first,` +
		` MAX(MAX(ts)) OVER () AS total_last FROM tcpdump_records`)
	where, args := filter(q.Agent, q.Since)
	b.WriteString(where)
	b.WriteString(` GROUP BY ` + col + ` ORDER BY packets DESC, bytes DESC, name`)
	if q.Limit > 0 {
		b.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}

	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return TopResult{}, readErr(err)
	}
	defer rows.Close()
	var res TopResult
	for rows.Next() {
		var r TopRow
		var name []byte // domain is VARBINARY; the other columns read the same way
		if err := rows.Scan(&name, &r.Packets, &r.Bytes, &r.FirstSeen, &r.LastSeen,
			&res.Groups, &res.Total.Packets, &res.Total.Bytes, &res.Total.FirstSeen, &res.Total.LastSeen); err != nil {
			return TopResult{}, fmt.Errorf("read top %ss: %w", q.By, err)
		}
		r.Name = string(name)
		res.Rows = append(res.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return TopResult{}, readErr(err)
	}
	return res, nil
}

// Extent describes the rows an agent (or every agent) has written, for
// saying why a selection came back empty.
type Extent struct {
	Oldest, Newest time.Time // window starts; zero when there are no rows
	// Agents are the agents with rows, sorted.
	Agents []string
}

// Empty reports whether no rows were found.
func (e Extent) Empty() bool { return e.Newest.IsZero() }

// Extent returns the oldest and newest window of agent's rows ("" for every
// agent's) and the agents the table knows. The agent list reads the
// (agent, domain) index, so it stays cheap on a large table.
func (s *Store) Extent(ctx context.Context, agent string) (Extent, error) {
	where, args := filter(agent, time.Time{})
	var e Extent
	var oldest, newest sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT MIN(ts), MAX(ts) FROM tcpdump_records`+where, args...).Scan(&oldest, &newest)
	if err != nil {
		return Extent{}, readErr(err)
	}
	e.Oldest, e.Newest = oldest.Time, newest.Time
	if err := s.db.SelectContext(ctx, &e.Agents, `SELECT DISTINCT agent FROM tcpdump_records ORDER BY agent`); err != nil {
		return Extent{}, readErr(err)
	}
	return e, nil
}

// filter is the WHERE clause (or nothing) selecting agent's rows from since
// on, and its arguments.
func filter(agent string, since time.Time) (string, []any) {
	var conds []string
	var args []any
	if agent != "" {
		conds = append(conds, `agent = ?`)
		args = append(args, agent)
	}
	if !since.IsZero() {
		// DATETIME holds the UTC wall clock, and the session is in UTC;
		// on SQLite the driver binds it as 'YYYY-MM-DD HH:MM:SS' UTC text,
		// which compares with ts in time order.
		conds = append(conds, `ts >= ?`)
		args = append(args, since.UTC())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// readErr turns a missing table into the remedy; other errors keep their
// cause.
func readErr(err error) error {
	const erNoSuchTable = 1146 // MariaDB's ER_NO_SUCH_TABLE
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == erNoSuchTable || isSQLiteNoTable(err) {
		return fmt.Errorf("table tcpdump_records is missing: %w", ErrNoSchema)
	}
	return fmt.Errorf("read tcpdump_records: %w", err)
}
