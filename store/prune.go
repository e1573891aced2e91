package store

import (
	"context"
	"fmt"
	"time"
)

// DefaultPruneBatch is how many rows one prune transaction deletes: small
// enough that each holds its row locks for milliseconds and fits any Galera
// write-set limit, large enough that a year of rows goes in minutes.
const DefaultPruneBatch = 5000

// PruneResult counts the rows prune deleted, per table.
type PruneResult struct {
	Records   int64 // tcpdump_records
	Names     int64 // dns_records
	Applied   int64 // applied_windows
	Addresses int64 // device_addresses
	Devices   int64 // devices
	// ReplayFiles are replay_files rows of files finished before the
	// cutoff: a replay of such a file counts it again (its windows were
	// pruned too).
	ReplayFiles int64
}

// pruneConflictTries is how many times a batch that lost to a concurrent
// writer is tried before prune gives up.
const pruneConflictTries = 10

// pruneTables are the tables prune empties of old rows, each by a time
// column that has an index of its own or as a prefix. Addresses go before
// devices: a device outlives none of its addresses.
var pruneTables = [...]struct{ name, column string }{
	{"tcpdump_records", "ts"},
	{"dns_records", "ts"},
	{"applied_windows", "ts"},
	{"device_addresses", "last_seen"},
	{"devices", "last_seen"},
	// Not indexed by its time: read in id order, which is the order the
	// files were first replayed in, so a batch stops at the first rows.
	{"replay_files", "finished_at"},
}

// Prune deletes the rows of every agent older than before: counts by
// window start, names by when they were last learned, the IDs of applied
// windows by window start, so an ID lives exactly as long as the counts it
// guards, and devices and their addresses by when they were last seen (a
// device's devices.ips is rebuilt in the batch that deletes one of its
// addresses). It works in batches of batch rows (DefaultPruneBatch
// when batch ≤ 0): each batch reads the ids of the oldest matching rows
// without locking, then deletes those ids by primary key in a transaction of
// its own, so writers wait for no more than one short batch and replicas
// apply the same rows (a DELETE … LIMIT is not deterministic under
// statement-based replication). It stops between batches when ctx ends;
// what is deleted stays deleted. progress, if not nil, is called after each
// batch.
func (s *Store) Prune(ctx context.Context, before time.Time, batch int, progress func(table string, deleted int64)) (PruneResult, error) {
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	cutoff := before.UTC().Truncate(time.Second)
	var res PruneResult
	counts := [...]*int64{&res.Records, &res.Names, &res.Applied, &res.Addresses, &res.Devices, &res.ReplayFiles}
	for i, tc := range pruneTables {
		table := tc.name
		for {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("prune %s: %w", table, err)
			}
			n, full, err := s.pruneBatch(ctx, tc.name, tc.column, cutoff, batch)
			for try := 1; isConflict(err) && try < pruneConflictTries && ctx.Err() == nil; try++ {
				// A sensor's transaction won the lock: a deadlock on
				// MariaDB, a busy file on SQLite. The batch is undone;
				// run it again after a pause that lets the sensor finish.
				time.Sleep(time.Duration(try) * 50 * time.Millisecond)
				n, full, err = s.pruneBatch(ctx, tc.name, tc.column, cutoff, batch)
			}
			if err != nil {
				return res, fmt.Errorf("prune %s: %w %s", table, err, hint(err))
			}
			*counts[i] += n
			if progress != nil && n > 0 {
				progress(table, *counts[i])
			}
			if !full {
				break
			}
		}
	}
	return res, nil
}

// pruneBatch deletes up to batch rows of table whose column is older than
// cutoff; full says the batch was full, so more may wait.
func (s *Store) pruneBatch(ctx context.Context, table, column string, cutoff time.Time, batch int) (deleted int64, full bool, err error) {
	// Table and column names cannot be bound parameters; these come from
	// pruneTables.
	var rows []struct {
		ID       uint64 `db:"id"`
		Agent    string `db:"agent"`
		DeviceID string `db:"device_id"`
	}
	cols := `id, '' AS agent, '' AS device_id`
	if table == "device_addresses" {
		cols = `id, agent, device_id`
	}
	order := column
	if table == "replay_files" {
		order = "id"
	}
	err = s.db.SelectContext(ctx, &rows, `SELECT `+cols+` FROM `+table+` WHERE `+column+` < ? ORDER BY `+order+` LIMIT ?`, cutoff, batch)
	if err != nil || len(rows) == 0 {
		return 0, false, err
	}
	args := make([]any, 0, len(rows)+1)
	args = append(args, cutoff)
	owners := map[string]map[string]bool{} // agent → device_id, of deleted addresses
	for _, r := range rows {
		args = append(args, r.ID)
		if r.DeviceID != "" {
			if owners[r.Agent] == nil {
				owners[r.Agent] = map[string]bool{}
			}
			owners[r.Agent][r.DeviceID] = true
		}
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	// The time condition again: a row whose time changed since the SELECT
	// (dns_records, devices and their addresses are updated in place when
	// seen again) stays.
	q := `DELETE FROM ` + table + ` WHERE ` + column + ` < ? AND id IN ` + inList(len(rows))
	r, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, false, err
	}
	if deleted, err = r.RowsAffected(); err != nil {
		return 0, false, err
	}
	for _, agent := range sortedKeys(boolSet(owners)) {
		if err := refreshIPs(ctx, tx, agent, sortedKeys(owners[agent])); err != nil {
			return 0, false, fmt.Errorf("list device addresses: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, false, err
	}
	return deleted, len(rows) == batch, nil
}

// boolSet is the set of m's keys.
func boolSet[V any](m map[string]V) map[string]bool {
	set := make(map[string]bool, len(m))
	for k := range m {
		set[k] = true
	}
	return set
}
