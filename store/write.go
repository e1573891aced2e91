package store

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
)

const (
	// rowsPerStatement caps a multi-row INSERT at 8,000 placeholders, far
	// under the protocol's 65,535, and at well under a megabyte of data,
	// under any max_allowed_packet.
	rowsPerStatement = 1000

	// Widths of the columns the writer fills, from migrations/mysql.
	maxDomainBytes   = 255 // VARBINARY(255)
	maxNicknameRunes = 255 // VARCHAR(255) utf8mb4
)

// WriteWindow writes one closed window in one transaction: its rows, added
// to any already stored under the same (agent, ts, client, domain); its
// names, into dns_records; its corrections, which move this agent's rows
// from a guessed name to a definite one; then its devices, merged into
// devices and device_addresses (see writeDevices). A window with nothing
// in it costs no round trip. See Apply for the idempotence that a window's ID gives.
//
// Values wider than their column are cut to fit rather than failing the
// whole window: domains to 255 bytes, host names to 1,024, nicknames and
// vendors to 255 characters (after replacing invalid UTF-8, which a
// utf8mb4 column rejects), on both backends alike; on SQLite, whose
// integers are signed, counts and bytes to 2⁶³−1.
func (s *Store) WriteWindow(ctx context.Context, w *aggregate.Window) error {
	_, err := s.Apply(ctx, w)
	return err
}

// Apply is WriteWindow that also says whether the window was applied. A
// window with a non-zero ID is applied at most once per agent: its ID is
// recorded in applied_windows inside the same transaction, and a window
// whose ID is already there is skipped with applied false and no error. A
// zero ID is not recorded, and writing such a window twice counts it twice.
//
// A window holding more than PartItems rows, names, corrections and
// devices is written in parts, each in its own transaction under an ID of
// its own derived from the window's (PartID), in a fixed order: rows,
// names, corrections, devices. A retry after a failure or a crash skips
// the parts already committed, so the window still counts exactly once,
// and each retry makes progress however large the window. When a part
// fails after others of the same call committed, the error is a
// *PartialError.
func (s *Store) Apply(ctx context.Context, w *aggregate.Window) (applied bool, err error) {
	if emptyWindow(w) {
		return false, nil
	}
	parts := splitWindow(w, s.partItems)
	if len(parts) == 1 {
		return s.applyOne(ctx, w, "")
	}
	done := 0
	for k, p := range parts {
		ok, err := s.applyOne(ctx, p, fmt.Sprintf(" part %d of %d", k+1, len(parts)))
		if err != nil {
			if done > 0 {
				return applied, &PartialError{Done: done, Parts: len(parts), Err: err}
			}
			return applied, err
		}
		if ok {
			applied = true
			done++
		}
	}
	return applied, nil
}

// PartialError is the error of an Apply that committed some parts of a
// large window before one failed: the next attempt resumes after them.
type PartialError struct {
	Done, Parts int // parts committed by this call, parts in all
	Err         error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%v (%d of %d parts written; a retry resumes after them)", e.Err, e.Done, e.Parts)
}

func (e *PartialError) Unwrap() error { return e.Err }

func (s *Store) applyOne(ctx context.Context, w *aggregate.Window, part string) (applied bool, err error) {
	// DATETIME has no zone and no fraction: store the UTC wall clock, and
	// truncate ourselves rather than let the server round or truncate.
	start := w.Start.UTC().Truncate(time.Second)

	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("write window %s%s: begin: %w", start.Format(time.RFC3339), part, err)
	}
	applied, err = s.applyWindow(ctx, tx, start, w)
	if err == nil && applied {
		err = tx.Commit()
	} else {
		_ = tx.Rollback() // the error that made us roll back is the one to report
	}
	if err != nil {
		return false, fmt.Errorf("write window %s%s: %w", start.Format(time.RFC3339), part, err)
	}
	return applied, nil
}

func (s *Store) applyWindow(ctx context.Context, tx *sqlx.Tx, start time.Time, w *aggregate.Window) (bool, error) {
	if w.ID != ([16]byte{}) {
		// First, so that the unique key's lock makes a concurrent copy of
		// the same window wait for this one and then find its ID.
		_, err := tx.ExecContext(ctx, s.sql.appliedInsert, s.agent, w.ID[:], start)
		if isDuplicate(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("record window ID: %w", err)
		}
	}
	return true, s.writeWindow(ctx, tx, start, w)
}

func (s *Store) writeWindow(ctx context.Context, tx *sqlx.Tx, start time.Time, w *aggregate.Window) error {
	rows := make([]stamped[aggregate.Row], len(w.Rows))
	for i, r := range w.Rows {
		rows[i] = stamped[aggregate.Row]{start, r}
	}
	if err := s.writeStampedRows(ctx, tx, rows); err != nil {
		return err
	}
	names := make([]stamped[source.Record], len(w.Names))
	for i, n := range w.Names {
		names[i] = stamped[source.Record]{start, n}
	}
	if err := s.writeStampedNames(ctx, tx, names); err != nil {
		return err
	}
	if err := s.writeCorrections(ctx, tx, w.Corrections); err != nil {
		return err
	}
	return s.writeDevices(ctx, tx, start, w.Devices)
}

// writeStampedRows adds rows to tcpdump_records, each under its window's
// start, in multi-row upserts that apply their tuples in order.
func (s *Store) writeStampedRows(ctx context.Context, tx *sqlx.Tx, all []stamped[aggregate.Row]) error {
	for rows := range chunks(all) {
		args := make([]any, 0, len(rows)*9)
		for _, sr := range rows {
			r := sr.item
			args = append(args, sr.start, s.agent, clientValue(r.Client), domainValue(r.Domain),
				nicknameValue(r.Nickname), r.NickSource.String(), r.Source.String(), min(r.Count, s.sql.maxCount), min(r.Bytes, s.sql.maxCount))
		}
		if _, err := tx.ExecContext(ctx, multiRow(recordsInsert, recordsTuple, len(rows), s.sql.recordsUpsert), args...); err != nil {
			return fmt.Errorf("insert %d rows: %w", len(rows), err)
		}
	}
	return nil
}

// writeStampedNames upserts names into dns_records; a name without a time
// takes its window's start.
func (s *Store) writeStampedNames(ctx context.Context, tx *sqlx.Tx, all []stamped[source.Record]) error {
	for names := range chunks(all) {
		args := make([]any, 0, len(names)*6)
		for _, sn := range names {
			n := sn.item
			ts := n.TS
			if ts.IsZero() {
				ts = sn.start
			}
			args = append(args, ts.UTC().Truncate(time.Second), s.agent, n.Addr.String(), domainValue(n.Domain),
				n.Source.Definite(), n.Source.String())
		}
		if _, err := tx.ExecContext(ctx, multiRow(namesInsert, namesTuple, len(names), s.sql.namesUpsert), args...); err != nil {
			return fmt.Errorf("upsert %d names: %w", len(names), err)
		}
	}
	return nil
}

// writeCorrections moves this agent's rows from a guessed name to a
// definite one.
func (s *Store) writeCorrections(ctx context.Context, tx *sqlx.Tx, cs []aggregate.Correction) error {
	ptr, ip := source.PTR.String(), source.IP.String()
	for _, c := range cs {
		oldDomain, newDomain := domainValue(c.Old), domainValue(c.New)
		if string(oldDomain) == string(newDomain) {
			// Moving rows onto their own key would double them and the
			// DELETE would then remove them.
			continue
		}
		if _, err := tx.ExecContext(ctx, s.sql.correctionMove, newDomain, nicknameValue(c.NewNickname), c.NewNickSource.String(), c.NewSource.String(),
			s.agent, oldDomain, ptr, ip); err != nil {
			return fmt.Errorf("correct %q to %q: move rows: %w", c.Old, c.New, err)
		}
		if _, err := tx.ExecContext(ctx, correctionDelete, s.agent, oldDomain, ptr, ip); err != nil {
			return fmt.Errorf("correct %q to %q: delete moved rows: %w", c.Old, c.New, err)
		}
	}
	return nil
}

// emptyWindow reports whether w holds nothing to write.
func emptyWindow(w *aggregate.Window) bool {
	return w == nil || (len(w.Rows) == 0 && len(w.Names) == 0 && len(w.Corrections) == 0 && len(w.Devices) == 0)
}

// chunks yields s in pieces of at most rowsPerStatement.
func chunks[T any](s []T) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			n := min(len(s), rowsPerStatement)
			if !yield(s[:n]) {
				return
			}
			s = s[n:]
		}
	}
}

// multiRow returns head, n copies of tuple separated by commas, then tail.
func multiRow(head, tuple string, n int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(tuple)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	b.WriteString(tail)
	return b.String()
}

// clientValue is a row's client as the client column stores it: the
// address, or aggregate.OverflowClient for the row of the clients past a
// window's cap on new clients (the zero address), which names no device.
func clientValue(a netip.Addr) string {
	if !a.IsValid() {
		return aggregate.OverflowClient
	}
	return a.String()
}

// domainValue is a domain as the VARBINARY column stores it: the bytes as
// they came, cut to the column's width. Binding []byte keeps the server from
// treating it as text in the connection's character set.
func domainValue(d string) []byte {
	if len(d) > maxDomainBytes {
		d = d[:maxDomainBytes]
	}
	return []byte(d)
}

// nicknameValue is a nickname as the utf8mb4 column accepts it: valid UTF-8
// of at most 255 characters.
func nicknameValue(n string) string { return textValue(n, maxNicknameRunes) }
