package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DefaultPruneBatch is how many rows one prune transaction deletes: small
// enough that each holds its row locks for milliseconds and fits any Galera
// write-set limit, large enough that a year of rows goes in minutes.
const DefaultPruneBatch = 5000

// PruneResult counts the rows prune deleted, per table.
type PruneResult struct {
	Records int64 // tcpdump_records
	Names   int64 // dns_records
	Applied int64 // applied_windows
}

// pruneConflictTries is how many times a batch that lost to a concurrent
// writer is tried before prune gives up.
const pruneConflictTries = 10

// pruneTables are the tables prune empties of old rows, each by its ts
// column, which has an index of its own or as a prefix.
var pruneTables = [...]string{"tcpdump_records", "dns_records", "applied_windows"}

// Prune deletes the rows of every agent older than before: counts by
// window start, names by when they were last learned, and the IDs of
// applied windows by window start, so an ID lives exactly as long as the
// counts it guards. It works in batches of batch rows (DefaultPruneBatch
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
	counts := [...]*int64{&res.Records, &res.Names, &res.Applied}
	for i, table := range pruneTables {
		for {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("prune %s: %w", table, err)
			}
			n, full, err := s.pruneBatch(ctx, table, cutoff, batch)
			for try := 1; isConflict(err) && try < pruneConflictTries && ctx.Err() == nil; try++ {
				// A sensor's transaction won the lock: a deadlock on
				// MariaDB, a busy file on SQLite. The batch is undone;
				// run it again after a pause that lets the sensor finish.
				time.Sleep(time.Duration(try) * 50 * time.Millisecond)
				n, full, err = s.pruneBatch(ctx, table, cutoff, batch)
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

// pruneBatch deletes up to batch old rows of table; full says the batch was
// full, so more may wait.
func (s *Store) pruneBatch(ctx context.Context, table string, cutoff time.Time, batch int) (deleted int64, full bool, err error) {
	// Table names cannot be bound parameters; these come from pruneTables.
	var ids []uint64
	err = s.db.SelectContext(ctx, &ids, `SELECT id FROM `+table+` WHERE ts < ? ORDER BY ts LIMIT ?`, cutoff, batch)
	if err != nil || len(ids) == 0 {
		return 0, false, err
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, cutoff)
	for _, id := range ids {
		args = append(args, id)
	}
	// ts < ? again: a row whose ts changed since the SELECT (dns_records
	// is updated in place when a name is learned again) stays.
	q := `DELETE FROM ` + table + ` WHERE ts < ? AND id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	r, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, false, err
	}
	if deleted, err = r.RowsAffected(); err != nil {
		return 0, false, err
	}
	return deleted, len(ids) == batch, nil
}
