package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TopBy is what Top groups tcpdump_records rows by.
type TopBy string

// The groupings Top knows.
const (
	ByService TopBy = "service" // nickname
	ByDomain  TopBy = "domain"  // domain, byte for byte
	ByDevice  TopBy = "device"  // the device an address belongs to, else the address
	BySource  TopBy = "source"  // how the name was found: dns, sni, http, quic, ptr, ip, ...
	ByAgent   TopBy = "agent"   // the netmon instance that counted the packets
	ByNaming  TopBy = "naming"  // how the service was named: catalogue, rule, asn, label, address ('' before it was kept)
)

// Top's FROM clauses. Per device, each row joins the device its client
// address belongs to now (device_addresses keeps no history), so that a
// device's IPv4 and IPv6 addresses sum into one group.
const (
	topFrom       = ` FROM tcpdump_records AS r`
	topDeviceFrom = ` FROM tcpdump_records AS r` +
		` LEFT JOIN device_addresses AS a ON a.agent = r.agent AND a.addr = r.client` +
		` LEFT JOIN devices AS d ON d.agent = a.agent AND d.device_id = a.device_id`
)

// key is the expression a grouping groups by. Only these constants ever
// reach the SQL text.
func (b TopBy) key() (string, error) {
	switch b {
	case ByService:
		return "r.nickname", nil
	case ByDomain:
		return "r.domain", nil
	case ByDevice:
		return "COALESCE(a.device_id, r.client)", nil
	case BySource:
		return "r.source", nil
	case ByAgent:
		return "r.agent", nil
	case ByNaming:
		return "r.nickname_source", nil
	}
	return "", fmt.Errorf("cannot group by %q: want service, domain, device, source, agent or naming", string(b))
}

// TopQuery selects what Top sums.
type TopQuery struct {
	By TopBy
	// Agent keeps only that agent's rows; "" keeps every agent's.
	Agent string
	// Since keeps the windows that start at or after it; the zero time
	// keeps them all.
	Since time.Time
	// Until keeps the windows that start before it; the zero time keeps
	// them all.
	Until time.Time
	// Device keeps only the rows of that device (a devices.device_id, or a
	// client address no device holds); "" keeps every device's.
	Device string
	// Nickname keeps only the rows of that service; "" keeps every one.
	Nickname string
	// Limit is the most groups returned, largest first; 0 returns all.
	// Totals cover every group either way.
	Limit int
}

// TopRow is one group's sums. FirstSeen and LastSeen are window starts.
type TopRow struct {
	// Name is the nickname, the domain (raw bytes, maybe invalid UTF-8),
	// or the device's label (see DeviceLabel; raw bytes too).
	Name      string
	Packets   uint64
	Bytes     uint64
	FirstSeen time.Time
	LastSeen  time.Time
	// UnknownBytes is how many of Packets have no byte count: rows from
	// before netmon, adopted from the seed's database. Bytes sums the
	// others; when UnknownBytes equals Packets the bytes are not known at
	// all, which is not the same as none.
	UnknownBytes uint64
	// OwnerBytes is the part of Bytes whose nickname came from the owner
	// of the address (--asn-db), not from a name; ByService only.
	OwnerBytes uint64
	// Device is what the devices table says of the group, ByDevice only.
	Device *TopDevice
}

// TopDevice describes a ByDevice group. With every agent selected, a device
// (a MAC) two sensors saw is one group, with the greatest of their values.
type TopDevice struct {
	// ID is the devices.device_id, or the client address when no device
	// holds it.
	ID string
	// Clients are the group's client addresses, sorted.
	Clients []string
	// The rest is empty when no device holds the addresses.
	MAC        string
	Hostname   string // raw bytes, maybe invalid UTF-8
	NameSource string
	Vendor     string
	Randomised bool
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
	key, err := q.By.key()
	if err != nil {
		return TopResult{}, err
	}
	if q.Limit < 0 {
		return TopResult{}, fmt.Errorf("limit %d: want 0 (no limit) or more", q.Limit)
	}
	from, extra := topFrom, ""
	if q.By == ByService {
		extra = `, COALESCE(SUM(CASE WHEN r.nickname_source = 'asn' THEN r.bytes ELSE 0 END), 0)`
	}
	if q.By == ByDevice {
		from = topDeviceFrom
		extra = `, MAX(d.mac), MAX(d.hostname), MAX(d.name_source), MAX(d.vendor), MAX(d.randomised), ` + s.sql.clientList
	}
	// The window functions run over the grouped rows before LIMIT, so the
	// totals and the group count cover the groups that are cut off too.
	var b strings.Builder
	// bytes is NULL for rows from before netmon (an adopted seed
	// database): their packets are summed apart, so that a reader can
	// tell bytes not known from no bytes.
	b.WriteString(`SELECT ` + key + ` AS name, SUM(r.count) AS packets, COALESCE(SUM(r.bytes), 0) AS bytes,` +
		` MIN(r.ts) AS first_seen, MAX(r.ts) AS last_seen,` +
		` COUNT(*) OVER () AS group_count, SUM(SUM(r.count)) OVER () AS total_packets,` +
		` SUM(COALESCE(SUM(r.bytes), 0)) OVER () AS total_bytes, MIN(MIN(r.ts)) OVER () AS total_first,` +
		` MAX(MAX(r.ts)) OVER () AS total_last,` +
		` SUM(CASE WHEN r.bytes IS NULL THEN r.count ELSE 0 END) AS unknown,` +
		` SUM(SUM(CASE WHEN r.bytes IS NULL THEN r.count ELSE 0 END)) OVER () AS total_unknown` + extra + from)
	where, args := rowFilter{Agent: q.Agent, Since: q.Since, Until: q.Until, Device: q.Device, Nickname: q.Nickname}.sql()
	b.WriteString(where)
	b.WriteString(` GROUP BY ` + key + ` ORDER BY packets DESC, bytes DESC, name`)
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
		dest := []any{&name, &r.Packets, &r.Bytes, &r.FirstSeen, &r.LastSeen,
			&res.Groups, &res.Total.Packets, &res.Total.Bytes, &res.Total.FirstSeen, &res.Total.LastSeen,
			&r.UnknownBytes, &res.Total.UnknownBytes}
		var mac, source, vendor, clients sql.NullString
		var hostname []byte
		var randomised sql.NullInt64
		if q.By == ByService {
			dest = append(dest, &r.OwnerBytes)
		}
		if q.By == ByDevice {
			dest = append(dest, &mac, &hostname, &source, &vendor, &randomised, &clients)
		}
		if err := rows.Scan(dest...); err != nil {
			return TopResult{}, fmt.Errorf("read top %ss: %w", q.By, err)
		}
		r.Name = string(name)
		if q.By == ByDevice {
			dev := &TopDevice{ID: r.Name, MAC: mac.String, Hostname: string(hostname), NameSource: source.String,
				Vendor: vendor.String, Randomised: randomised.Int64 != 0}
			if clients.String != "" {
				dev.Clients = strings.Split(clients.String, ",")
				slices.Sort(dev.Clients)
				dev.Clients = slices.Compact(dev.Clients)
			}
			addr := r.Name
			if len(dev.Clients) > 0 {
				addr = dev.Clients[0]
			}
			r.Name = DeviceLabel(dev.Hostname, dev.Vendor, dev.Randomised, addr)
			r.Device = dev
		}
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
	where, args := filter("", agent, time.Time{})
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

// rowFilter selects tcpdump_records rows (aliased r) for Top and Series.
type rowFilter struct {
	Agent        string
	Since, Until time.Time
	Device       string
	Nickname     string
}

// deviceCond keeps the rows whose device, as Top's ByDevice groups them
// (the device holding the client address now, else the address), is ?.
const deviceCond = `(EXISTS (SELECT 1 FROM device_addresses AS da WHERE da.agent = r.agent AND da.addr = r.client AND da.device_id = ?)` +
	` OR (r.client = ? AND NOT EXISTS (SELECT 1 FROM device_addresses AS da WHERE da.agent = r.agent AND da.addr = r.client)))`

// sql is the WHERE clause (or nothing) and its arguments, all bound.
func (f rowFilter) sql() (string, []any) {
	where, args := filter("r.", f.Agent, f.Since)
	var conds []string
	if where != "" {
		conds = append(conds, strings.TrimPrefix(where, ` WHERE `))
	}
	if !f.Until.IsZero() {
		conds = append(conds, `r.ts < ?`)
		args = append(args, f.Until.UTC())
	}
	if f.Device != "" {
		conds = append(conds, deviceCond)
		args = append(args, f.Device, f.Device)
	}
	if f.Nickname != "" {
		conds = append(conds, `r.nickname = ?`)
		args = append(args, f.Nickname)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// filter is the WHERE clause (or nothing) selecting agent's rows from since
// on, and its arguments; prefix qualifies the columns ("r." or "").
func filter(prefix, agent string, since time.Time) (string, []any) {
	var conds []string
	var args []any
	if agent != "" {
		conds = append(conds, prefix+`agent = ?`)
		args = append(args, agent)
	}
	if !since.IsZero() {
		// DATETIME holds the UTC wall clock, and the session is in UTC;
		// on SQLite the driver binds it as 'YYYY-MM-DD HH:MM:SS' UTC text,
		// which compares with ts in time order.
		conds = append(conds, prefix+`ts >= ?`)
		args = append(args, since.UTC())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// readErr is tableErr for the queries on tcpdump_records.
func readErr(err error) error { return tableErr("tcpdump_records", err) }

// tableErr turns a missing table into the remedy, naming the table the
// database reports missing (else table, which the query read); other errors
// keep their cause.
func tableErr(table string, err error) error {
	const erNoSuchTable = 1146 // MariaDB's ER_NO_SUCH_TABLE: "Table 'db.name' doesn't exist"
	var me *mysql.MySQLError
	if col, ok := missingColumn(err); ok {
		return fmt.Errorf("column %s of %s is missing, the schema is older than this netmon: %w", col, table, ErrNoSchema)
	}
	switch {
	case errors.As(err, &me) && me.Number == erNoSuchTable:
		if _, rest, ok := strings.Cut(me.Message, "."); ok {
			if name, _, ok := strings.Cut(rest, "'"); ok && name != "" {
				table = name
			}
		}
	case isSQLiteNoTable(err):
		// "no such table: name"
		if _, rest, ok := strings.Cut(err.Error(), "no such table: "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				table = strings.TrimPrefix(f[0], "main.")
			}
		}
	default:
		return fmt.Errorf("read %s: %w", table, err)
	}
	return fmt.Errorf("table %s is missing: %w", table, ErrNoSchema)
}

// missingColumn recognises a query on a column a later migration adds (a
// database not migrated since netmon was upgraded) and returns the
// column's name: MariaDB's ER_BAD_FIELD_ERROR "Unknown column 'r.x' in
// 'field list'", SQLite's "no such column: r.x".
func missingColumn(err error) (string, bool) {
	const erBadField = 1054
	var me *mysql.MySQLError
	var rest string
	switch {
	case errors.As(err, &me) && me.Number == erBadField:
		_, rest, _ = strings.Cut(me.Message, "'")
		rest, _, _ = strings.Cut(rest, "'")
	case isSQLiteNoColumn(err):
		_, rest, _ = strings.Cut(err.Error(), "no such column: ")
		if f := strings.Fields(rest); len(f) > 0 {
			rest = f[0]
		}
	default:
		return "", false
	}
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	if rest == "" {
		rest = "(unknown)"
	}
	return rest, true
}
