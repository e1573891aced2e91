package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/source"
)

// BatchApplier writes several windows in one transaction: the writer's
// group commit. *Store implements it.
type BatchApplier interface {
	Applier
	// ApplyBatch writes wins, in order, in one transaction, and says of
	// each whether it was applied (false: its ID was already recorded).
	// On an error nothing of the batch is written.
	ApplyBatch(ctx context.Context, wins []*aggregate.Window) (applied []bool, err error)
	// BatchLimit is how many items (BatchItems) one batch may hold.
	BatchLimit() int
}

var _ BatchApplier = (*Store)(nil)

// BatchLimit is how many items (see BatchItems) one transaction of
// ApplyBatch takes at most: Config.PartItems.
func (s *Store) BatchLimit() int { return s.partItems }

// BatchItems counts what a window writes: rows, names, corrections and
// devices, the measure of PartItems.
func BatchItems(w *aggregate.Window) int {
	if w == nil {
		return 0
	}
	return len(w.Rows) + len(w.Names) + len(w.Corrections) + len(w.Devices)
}

// ApplyBatch writes wins in one transaction, exactly as Apply would write
// them one after the other, and says which were applied: each window's ID
// is recorded in applied_windows in the same transaction as its rows, and
// a window whose ID is already there (an earlier batch, or a copy earlier
// in this one) is skipped.
//
// Fewer statements do the same work: the rows and names of consecutive
// windows go into the same multi-row upserts — every upsert applies its
// tuples one after the other, so this adds up as separate statements
// would — broken only before a window's corrections, which move the rows
// written before them; and the devices of the whole batch are merged at
// its end when that gives what window after window would (see
// writeBatchDevices). Each window must hold at most BatchLimit items (a
// larger one is written in parts by Apply); the caller keeps the whole
// batch within it too, which bounds the transaction.
func (s *Store) ApplyBatch(ctx context.Context, wins []*aggregate.Window) ([]bool, error) {
	return s.applyBatchWith(ctx, wins, nil)
}

// applyBatchWith is ApplyBatch with extra run inside the transaction, after
// the windows, before the commit (the replay's finish marks). When extra
// fails nothing is written.
func (s *Store) applyBatchWith(ctx context.Context, wins []*aggregate.Window, extra func(ctx context.Context, tx *sqlx.Tx) error) ([]bool, error) {
	applied := make([]bool, len(wins))
	if len(wins) == 0 {
		return applied, nil
	}
	first := wins[0].Start.UTC().Truncate(time.Second)
	fail := func(err error) ([]bool, error) {
		return nil, fmt.Errorf("write %d windows from %s: %w", len(wins), first.Format(time.RFC3339), err)
	}
	for _, w := range wins {
		if BatchItems(w) > s.partItems {
			return fail(fmt.Errorf("window %s holds %d items, more than a transaction takes (%d): write it alone",
				w.Start.UTC().Format(time.RFC3339), BatchItems(w), s.partItems))
		}
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("begin: %w", err))
	}
	err = s.applyBatch(ctx, tx, wins, applied)
	if err == nil && extra != nil {
		err = extra(ctx, tx)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		_ = tx.Rollback() // the error that made us roll back is the one to report
	}
	if err != nil {
		return fail(err)
	}
	return applied, nil
}

// stamped is a window's row or name with the window's start, for upserts
// that span windows.
type stamped[T any] struct {
	start time.Time
	item  T
}

func (s *Store) applyBatch(ctx context.Context, tx *sqlx.Tx, wins []*aggregate.Window, applied []bool) error {
	var rows []stamped[aggregate.Row]
	var names []stamped[source.Record]
	var devs [][]devices.Device
	var devStarts []time.Time
	flush := func() error {
		if err := s.writeStampedRows(ctx, tx, rows); err != nil {
			return err
		}
		if err := s.writeStampedNames(ctx, tx, names); err != nil {
			return err
		}
		rows, names = rows[:0], names[:0]
		return nil
	}
	// One statement, prepared once, records every window's ID.
	record, err := tx.PreparexContext(ctx, s.sql.appliedInsert)
	if err != nil {
		return fmt.Errorf("record window IDs: %w", err)
	}
	defer record.Close()
	for i, w := range wins {
		if emptyWindow(w) {
			continue // Apply writes nothing and records nothing
		}
		start := w.Start.UTC().Truncate(time.Second)
		if w.ID != ([16]byte{}) {
			_, err := record.ExecContext(ctx, s.agent, w.ID[:], start)
			if isDuplicate(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("record window ID: %w", err)
			}
		}
		applied[i] = true
		for _, r := range w.Rows {
			rows = append(rows, stamped[aggregate.Row]{start, r})
		}
		for _, n := range w.Names {
			names = append(names, stamped[source.Record]{start, n})
		}
		if len(w.Corrections) > 0 {
			// The corrections move the rows written before them: those
			// must be in the table first, and those after must not.
			if err := flush(); err != nil {
				return err
			}
			if err := s.writeCorrections(ctx, tx, w.Corrections); err != nil {
				return err
			}
		}
		if len(w.Devices) > 0 {
			devs = append(devs, w.Devices)
			devStarts = append(devStarts, start)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return s.writeBatchDevices(ctx, tx, devStarts, devs)
}
