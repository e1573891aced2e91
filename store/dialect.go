package store

import (
	"io/fs"
	"math"

	"github.com/pressly/goose/v3"

	"github.com/netmon/netmon/migrations"
)

// dialect is what differs in the SQL the store sends to each backend. The
// statements are built from constants only; every value is a bound
// parameter. Both give the same rows: the tests run one body on each.
type dialect struct {
	backend    Backend
	goose      goose.Dialect
	migrations func() fs.FS

	recordsUpsert  string // tail of the multi-row INSERT of recordsInsert
	namesUpsert    string // tail of the multi-row INSERT of namesInsert
	correctionMove string
	appliedInsert  string
	devicesUpsert  string // tail of the multi-row INSERT of devicesInsert
	addrsUpsert    string // tail of the multi-row INSERT of addrsInsert
	// clientList aggregates a Top group's client addresses, comma-separated.
	clientList string
	// tableExists counts the tables of that name (one bound parameter).
	tableExists string
	// maxCount is the largest count or bytes value the columns hold.
	maxCount uint64
}

// The INSERT heads and tuples are the same on both backends.
const (
	recordsInsert = `INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, nickname_source, source, count, bytes) VALUES `
	recordsTuple  = `(?,?,?,?,?,?,?,?,?)`

	namesInsert = `INSERT INTO dns_records (ts, agent, ip_addr, domain, is_definite, source) VALUES `
	namesTuple  = `(?,?,?,?,?,?)`

	correctionDelete = `DELETE FROM tcpdump_records WHERE agent = ? AND domain = ? AND source IN (?, ?)`
)

var mariaDBDialect = dialect{
	backend:    MariaDB,
	goose:      goose.DialectMySQL,
	migrations: migrations.MySQL,

	recordsUpsert: ` ON DUPLICATE KEY UPDATE count = count + VALUES(count), bytes = bytes + VALUES(bytes),` +
		` nickname = VALUES(nickname), nickname_source = VALUES(nickname_source), source = VALUES(source)`,

	// A definite name replaces anything; a guess replaces only a guess.
	// MariaDB evaluates these assignments left to right and later ones see
	// earlier results, so is_definite, which the condition reads, is last.
	namesUpsert: ` ON DUPLICATE KEY UPDATE` +
		` ts = IF(VALUES(is_definite) OR NOT is_definite, VALUES(ts), ts),` +
		` domain = IF(VALUES(is_definite) OR NOT is_definite, VALUES(domain), domain),` +
		` source = IF(VALUES(is_definite) OR NOT is_definite, VALUES(source), source),` +
		` is_definite = IF(VALUES(is_definite) OR NOT is_definite, VALUES(is_definite), is_definite)`,

	// MariaDB reads the SELECT into a temporary table first when it names
	// the INSERT's table, so the new rows are not re-read. In ON DUPLICATE
	// KEY UPDATE, tcpdump_records.x is the existing row and VALUES(x) the
	// moved one; the existing row keeps its nickname and source.
	correctionMove: `INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, nickname_source, source, count, bytes)` +
		` SELECT old.ts, old.agent, old.client, ?, ?, ?, ?, old.count, old.bytes FROM tcpdump_records AS old` +
		` WHERE old.agent = ? AND old.domain = ? AND old.source IN (?, ?)` +
		` ON DUPLICATE KEY UPDATE count = tcpdump_records.count + VALUES(count),` +
		` bytes = tcpdump_records.bytes + VALUES(bytes)`,

	appliedInsert: `INSERT INTO applied_windows (agent, window_id, ts, applied_at) VALUES (?, ?, ?, UTC_TIMESTAMP())`,

	// The rule of devices.Device. As in namesUpsert, assignments run left
	// to right and see earlier results: name_source, which the hostname
	// condition reads, is assigned after hostname, and its own condition
	// reads only the new row.
	devicesUpsert: ` ON DUPLICATE KEY UPDATE` +
		` hostname = IF(LENGTH(VALUES(hostname)) > 0 AND ` + nameRank(`VALUES(name_source)`) + ` >= ` + nameRank(`name_source`) +
		`, VALUES(hostname), hostname),` +
		` name_source = IF(LENGTH(VALUES(hostname)) > 0 AND ` + nameRank(`VALUES(name_source)`) + ` >= ` + nameRank(`name_source`) +
		`, VALUES(name_source), name_source),` +
		` mac = COALESCE(VALUES(mac), mac),` +
		` vendor = IF(VALUES(vendor) <> '', VALUES(vendor), vendor),` +
		` randomised = VALUES(randomised),` +
		` first_seen = LEAST(first_seen, VALUES(first_seen)),` +
		` last_seen = GREATEST(last_seen, VALUES(last_seen))`,

	// An address belongs to the device that used it last: a sighting by
	// another device at least as recent moves the row (first_seen starts
	// again), an older one is ignored. first_seen reads device_id and
	// last_seen, device_id reads last_seen, so they come in this order.
	addrsUpsert: ` ON DUPLICATE KEY UPDATE` +
		` first_seen = IF(VALUES(device_id) = device_id, LEAST(first_seen, VALUES(first_seen)),` +
		` IF(VALUES(last_seen) >= last_seen, VALUES(first_seen), first_seen)),` +
		` device_id = IF(VALUES(last_seen) >= last_seen, VALUES(device_id), device_id),` +
		` last_seen = GREATEST(last_seen, VALUES(last_seen))`,

	clientList: `GROUP_CONCAT(DISTINCT r.client ORDER BY r.client SEPARATOR ',')`,

	tableExists: `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`,
	maxCount:    math.MaxUint64, // BIGINT UNSIGNED
}

var sqliteDialect = dialect{
	backend:    SQLite,
	goose:      goose.DialectSQLite3,
	migrations: migrations.SQLite,

	// SQLite applies the upsert row by row, so a key twice in one statement
	// adds up, as on MariaDB. excluded.x is the row that was to be inserted.
	recordsUpsert: ` ON CONFLICT (agent, ts, client, domain) DO UPDATE SET count = count + excluded.count,` +
		` bytes = bytes + excluded.bytes, nickname = excluded.nickname,` +
		` nickname_source = excluded.nickname_source, source = excluded.source`,

	// The same rule as MariaDB's, as a condition on the whole update: every
	// SET expression in SQLite sees the old row, so no ordering trick.
	namesUpsert: ` ON CONFLICT (agent, ip_addr) DO UPDATE SET ts = excluded.ts, domain = excluded.domain,` +
		` source = excluded.source, is_definite = excluded.is_definite` +
		` WHERE excluded.is_definite OR NOT dns_records.is_definite`,

	// SQLite, too, materialises a SELECT that reads the INSERT's own table
	// before inserting. The SELECT must end in a WHERE clause, or the parser
	// would take ON CONFLICT for a join's ON; it has one. The existing row
	// keeps its nickname and source.
	correctionMove: `INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, nickname_source, source, count, bytes)` +
		` SELECT old.ts, old.agent, old.client, ?, ?, ?, ?, old.count, old.bytes FROM tcpdump_records AS old` +
		` WHERE old.agent = ? AND old.domain = ? AND old.source IN (?, ?)` +
		` ON CONFLICT (agent, ts, client, domain) DO UPDATE SET count = tcpdump_records.count + excluded.count,` +
		` bytes = tcpdump_records.bytes + excluded.bytes`,

	// datetime('now') is UTC, in the same text form as ts.
	appliedInsert: `INSERT INTO applied_windows (agent, window_id, ts, applied_at) VALUES (?, ?, ?, datetime('now'))`,

	// The rule of devices.Device; every SET expression sees the old row.
	// Times are text in time order, so min and max compare them.
	devicesUpsert: ` ON CONFLICT (agent, device_id) DO UPDATE SET` +
		` hostname = CASE WHEN length(excluded.hostname) > 0 AND ` + nameRank(`excluded.name_source`) + ` >= ` +
		nameRank(`devices.name_source`) + ` THEN excluded.hostname ELSE devices.hostname END,` +
		` name_source = CASE WHEN length(excluded.hostname) > 0 AND ` + nameRank(`excluded.name_source`) + ` >= ` +
		nameRank(`devices.name_source`) + ` THEN excluded.name_source ELSE devices.name_source END,` +
		` mac = COALESCE(excluded.mac, devices.mac),` +
		` vendor = CASE WHEN excluded.vendor <> '' THEN excluded.vendor ELSE devices.vendor END,` +
		` randomised = excluded.randomised,` +
		` first_seen = min(devices.first_seen, excluded.first_seen),` +
		` last_seen = max(devices.last_seen, excluded.last_seen)`,

	// MariaDB's rule, with the condition on the whole update.
	addrsUpsert: ` ON CONFLICT (agent, addr) DO UPDATE SET` +
		` first_seen = CASE WHEN excluded.device_id = device_addresses.device_id` +
		` THEN min(device_addresses.first_seen, excluded.first_seen) ELSE excluded.first_seen END,` +
		` device_id = excluded.device_id,` +
		` last_seen = max(device_addresses.last_seen, excluded.last_seen)` +
		` WHERE excluded.device_id = device_addresses.device_id OR excluded.last_seen >= device_addresses.last_seen`,

	// With DISTINCT, SQLite's group_concat takes no separator: ",".
	clientList: `group_concat(DISTINCT r.client)`,

	tableExists: `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
	// SQLite's INTEGER is signed, and the driver refuses a uint64 with
	// the top bit set. 9.2 EB in one 10-second row is not traffic.
	maxCount: math.MaxInt64,
}
