package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
)

// fileKeyPrefix is how much of a capture file its identity reads: enough
// to hold its first packets, whose times make two captures differ.
const fileKeyPrefix = 64 << 10

// FileKey identifies a replayed capture file by what it holds: SHA-256 of
// its size and its first 64 KiB. A copy or a renamed file has the same
// key; a file still growing has another at every size.
type FileKey [32]byte

// FileKeyOf reads the identity of the regular file at path.
func FileKeyOf(path string) (FileKey, int64, error) {
	k, size, _, err := FileKeyHead(path)
	return k, size, err
}

// fileHead is how many of a file's first bytes FileKeyHead returns: a
// capture file's header.
const fileHead = 64

// FileKeyHead is FileKeyOf that also returns the file's first bytes (64 at
// most), read on the way: what a caller needs to check the file's header
// without opening it again.
func FileKeyHead(path string) (FileKey, int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileKey{}, 0, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileKey{}, 0, nil, err
	}
	h := sha256.New()
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(st.Size()))
	h.Write(size[:])
	head := &headWriter{}
	if _, err := io.Copy(io.MultiWriter(h, head), io.LimitReader(f, fileKeyPrefix)); err != nil {
		return FileKey{}, 0, nil, fmt.Errorf("read %s: %w", path, err)
	}
	var k FileKey
	h.Sum(k[:0])
	return k, st.Size(), head.b, nil
}

// headWriter keeps the first fileHead bytes written to it.
type headWriter struct{ b []byte }

func (w *headWriter) Write(p []byte) (int, error) {
	if room := fileHead - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// ReplayWindowID is the ID of the seq-th window of counted traffic that
// starts at start in the file key, replayed under generation gen: the same
// file replayed again gives the same IDs, so applied_windows skips what is
// already written.
func ReplayWindowID(key FileKey, gen uint32, start time.Time, seq int) [16]byte {
	h := sha256.New()
	h.Write([]byte("netmon replay window\x00"))
	h.Write(key[:])
	var b [20]byte
	binary.BigEndian.PutUint32(b[0:4], gen)
	binary.BigEndian.PutUint64(b[4:12], uint64(start.UTC().Unix()))
	binary.BigEndian.PutUint64(b[12:20], uint64(seq))
	h.Write(b[:])
	var id [16]byte
	copy(id[:], h.Sum(nil))
	return id
}

// ReplayState is what the database knows of a file when a replay of it
// begins.
type ReplayState struct {
	// Finished is set when an earlier replay read the file to its end and
	// wrote all its windows: BeginReplay changed nothing, and the file is
	// to be skipped (unless forced).
	Finished   bool
	FinishedAt time.Time
	Windows    int64 // windows the finished replay wrote
	// Resumed is set when an earlier replay began the file and did not
	// finish it: its windows are skipped as they come again.
	Resumed bool
	// Generation goes into every window ID of the file.
	Generation uint32
}

// BeginReplay records that agent starts replaying the file key (of size
// bytes, at path name) and says under which generation its windows count.
// A file replayed to the end before is reported Finished and left alone;
// with force it starts a new generation instead, so its windows count
// again, as does a file begun but not finished (force or not: without
// force it resumes under the generation it had).
func (s *Store) BeginReplay(ctx context.Context, key FileKey, size int64, name string, force bool) (ReplayState, error) {
	sts, err := s.BeginReplays(ctx, []ReplayBegin{{Key: key, Size: size, Name: name}}, force)
	if err != nil {
		return ReplayState{}, err
	}
	return sts[0], nil
}

// ReplayBegin is one file of BeginReplays.
type ReplayBegin struct {
	Key  FileKey
	Size int64
	Name string
}

// replayBeginChunk is how many files one transaction of BeginReplays
// begins: one commit for many small files, and no lock held for long.
const replayBeginChunk = 1000

// BeginReplays is BeginReplay for each of files in turn, in one
// transaction per replayBeginChunk files instead of one per file: the
// states are those BeginReplay would give called file after file (the
// same file twice is begun, then resumed). On an error no state is
// returned; the chunks committed before it stay begun, which a later
// BeginReplay of their files finds as begun and resumes.
func (s *Store) BeginReplays(ctx context.Context, files []ReplayBegin, force bool) ([]ReplayState, error) {
	sts := make([]ReplayState, 0, len(files))
	for len(files) > 0 {
		n := min(len(files), replayBeginChunk)
		var err error
		if sts, err = s.beginReplays(ctx, files[:n], force, sts); err != nil {
			return nil, fmt.Errorf("replay bookkeeping: %w", err)
		}
		files = files[n:]
	}
	return sts, nil
}

func (s *Store) beginReplays(ctx context.Context, files []ReplayBegin, force bool, sts []ReplayState) ([]ReplayState, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return sts, err
	}
	defer func() { _ = tx.Rollback() }()
	// Prepared once for the chunk: most files are new, one read and one
	// insert each.
	read, err := tx.PreparexContext(ctx, `SELECT generation, windows, finished_at FROM replay_files WHERE agent = ? AND file_key = ?`)
	if err != nil {
		return sts, err
	}
	defer read.Close()
	insert, err := tx.PreparexContext(ctx, `INSERT INTO replay_files (agent, file_key, name, size, generation, windows, started_at) VALUES (?, ?, ?, ?, 0, 0, `+s.nowSQL()+`)`)
	if err != nil {
		return sts, err
	}
	defer insert.Close()
	for _, f := range files {
		var st ReplayState
		var row struct {
			Generation uint32       `db:"generation"`
			Windows    int64        `db:"windows"`
			FinishedAt sql.NullTime `db:"finished_at"`
		}
		key := f.Key
		err = read.GetContext(ctx, &row, s.agent, key[:])
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = insert.ExecContext(ctx, s.agent, key[:], []byte(f.Name), f.Size)
		case err != nil:
		case row.FinishedAt.Valid && !force:
			st = ReplayState{Finished: true, FinishedAt: row.FinishedAt.Time, Windows: row.Windows, Generation: row.Generation}
		case force:
			st.Generation = row.Generation + 1
			_, err = tx.ExecContext(ctx, `UPDATE replay_files SET generation = ?, name = ?, windows = 0, finished_at = NULL, started_at = `+s.nowSQL()+` WHERE agent = ? AND file_key = ?`, st.Generation, []byte(f.Name), s.agent, key[:])
		default:
			st.Generation, st.Resumed = row.Generation, true
			_, err = tx.ExecContext(ctx, `UPDATE replay_files SET name = ? WHERE agent = ? AND file_key = ?`, []byte(f.Name), s.agent, key[:])
		}
		if err != nil {
			return sts, err
		}
		sts = append(sts, st)
	}
	return sts, tx.Commit()
}

// FinishReplay records that every window of the file key is written.
func (s *Store) FinishReplay(ctx context.Context, key FileKey, windows int64) error {
	return s.FinishReplays(ctx, []ReplayFinish{{Key: key, Windows: windows}})
}

// ReplayFinish is one file of FinishReplays: its key and the windows its
// replay wrote.
type ReplayFinish struct {
	Key     FileKey
	Windows int64
}

// FinishReplays is FinishReplay for each of files, in one transaction.
func (s *Store) FinishReplays(ctx context.Context, files []ReplayFinish) error {
	err := func() error {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if err := s.finishReplays(ctx, tx, files); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("replay bookkeeping: %w", err)
	}
	return nil
}

func (s *Store) finishReplays(ctx context.Context, tx *sqlx.Tx, files []ReplayFinish) error {
	mark, err := tx.PreparexContext(ctx, `UPDATE replay_files SET windows = ?, finished_at = `+s.nowSQL()+` WHERE agent = ? AND file_key = ?`)
	if err != nil {
		return err
	}
	defer mark.Close()
	for _, f := range files {
		if _, err := mark.ExecContext(ctx, f.Windows, s.agent, f.Key[:]); err != nil {
			return err
		}
	}
	return nil
}

// ApplyReplayBatch is ApplyBatch that also marks files finished (as
// FinishReplays) in the same transaction: those whose last windows are in
// wins. Either the windows and the marks commit, or nothing does.
func (s *Store) ApplyReplayBatch(ctx context.Context, wins []*aggregate.Window, finished []ReplayFinish) ([]bool, error) {
	if len(finished) == 0 {
		return s.ApplyBatch(ctx, wins)
	}
	return s.applyBatchWith(ctx, wins, func(ctx context.Context, tx *sqlx.Tx) error {
		if err := s.finishReplays(ctx, tx, finished); err != nil {
			return fmt.Errorf("replay bookkeeping: %w", err)
		}
		return nil
	})
}

// nowSQL is the current UTC time in the form ts columns hold.
func (s *Store) nowSQL() string {
	if s.sql.backend == SQLite {
		return `datetime('now')`
	}
	return `UTC_TIMESTAMP()`
}
