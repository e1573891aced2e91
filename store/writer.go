package store

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/netmon/netmon/aggregate"
)

// Applier writes one window in one transaction, at most once per window ID.
// *Store implements it.
type Applier interface {
	Apply(ctx context.Context, w *aggregate.Window) (applied bool, err error)
}

var _ Applier = (*Store)(nil)

// WriterStats counts what the writer did. All fields are read atomically.
type WriterStats struct {
	Recovered atomic.Uint64 // windows found in the spool at start, from an earlier run
	Spooled   atomic.Uint64 // windows made durable in the spool
	// Held counts windows of replayed files held in memory instead of
	// spooled (see Window.Rereadable); those spooled later, when the
	// database failed or the writer stopped, count in Spooled too.
	Held       atomic.Uint64
	MemoryOnly atomic.Uint64 // windows the spool could not write, kept in memory only
	Written    atomic.Uint64 // windows committed to the database
	Duplicates atomic.Uint64 // windows whose ID the database already had: skipped
	Failures   atomic.Uint64 // failed attempts, each retried
	Conflicts  atomic.Uint64 // of which deadlocks, lock wait timeouts, certification failures
	Dropped    atomic.Uint64 // windows dropped at the spool's caps: lost
	// Dropped by cause, so that the exit line names the real one.
	DroppedCap    atomic.Uint64 // at the spool's cap on disk (MaxSpoolBytes)
	DroppedMemory atomic.Uint64 // held in memory because the disk refused them, dropped at MaxMemoryBytes
	LostAtExit    atomic.Uint64 // held in memory because the disk refused them, lost when Run returned
	Rejected      atomic.Uint64 // windows set aside in the rejected folder: not written
	// SetAside counts, of those, windows set aside because they kept
	// failing while a later window could be written: they blocked the
	// windows after them.
	SetAside atomic.Uint64
	Left     atomic.Uint64 // windows still in the spool when Run returned
}

// Lost is the number of windows that will not reach the database by
// themselves: dropped at a cap, or set aside as rejected.
func (s *WriterStats) Lost() uint64 { return s.Dropped.Load() + s.Rejected.Load() }

// Writer is the store stage of the pipeline. Every window it is given goes
// first into an on-disk spool (fsynced) and then, oldest first, into the
// database; a window leaves the spool only after its transaction commits.
// Receiving never waits for the database, so capture never does either.
type Writer struct {
	cfg     WriterConfig
	db      Applier
	log     *slog.Logger
	onWrite func(took time.Duration, err error) // WriterDeps.OnWrite
	spool   *spool
	stats   WriterStats

	// Rate limits for the loud but repetitive log lines.
	dropLog, diskLog limiter
	memLog           limiter
	// diskErr is the last error of a spool write, for the exit summary.
	diskErr atomic.Pointer[error]
	// spillHeld is set while the database fails: windows are spooled,
	// not held (see putHeld).
	spillHeld atomic.Bool
	// solo counts the windows still to write alone after a batch failed
	// (see writeBatch).
	solo                   int
	droppedSinceLog        int
	memOnlySinceLog        int
	droppedFrom, droppedTo time.Time
	failingSince           time.Time
	lastFailLog            time.Time
	lastFailText           string
	lastConflictLog        time.Time
	conflictsSinceLog      int
}

// limiter lets a line through at most once per period.
type limiter struct {
	period time.Duration
	last   time.Time
}

func (l *limiter) allow(now time.Time) bool {
	if !l.last.IsZero() && now.Sub(l.last) < l.period {
		return false
	}
	l.last = now
	return true
}

// failLogPeriod spaces the "still failing" lines of a long outage.
const failLogPeriod = time.Minute

// blockingAttempts is how many attempts in a row a window may fail, none
// of them writing a part of it, before the writer tries the window after
// it: if that one is written, the database works and the first window is
// what fails, so it is set aside (rejected folder, counted, logged) rather
// than block every later window. If the later one fails too, the database
// is away, and both wait.
const blockingAttempts = 5

// SpoolDir is where the writer of agent keeps its spool under stateDir.
// Each agent has its own, so that two sensors on one machine do not mix.
func SpoolDir(stateDir, agent string) string {
	return filepath.Join(stateDir, "spool", escapeAgent(agent))
}

// escapeAgent makes an agent name one safe path element: letters, digits,
// '-' and '_' stay, every other byte becomes %XX (so "." and ".." cannot
// name a directory, and "/" cannot leave this one).
func escapeAgent(agent string) string {
	if agent == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(agent); i++ {
		c := agent[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// NewWriter opens the spool of cfg.Agent under cfg.StateDir, taking its
// lock, and returns a writer that will write to deps.DB. Windows left in
// the spool by an earlier run are written first, once Run starts. cfg is
// DefaultWriterConfig() with the settings the caller changes; settings no
// writer can run with are an error.
func NewWriter(cfg WriterConfig, deps WriterDeps) (*Writer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if deps.DB == nil {
		return nil, errors.New("writer: no database (WriterDeps.DB)")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := SpoolDir(cfg.StateDir, cfg.Agent)
	sp, err := openSpool(dir, cfg.MaxSpoolBytes)
	if err != nil {
		return nil, err
	}
	sp.maxMem = cfg.MaxMemoryBytes
	w := &Writer{
		cfg: cfg, db: deps.DB, log: log.With("component", "writer"), onWrite: deps.OnWrite, spool: sp,
		dropLog: limiter{period: 10 * time.Second}, diskLog: limiter{period: 10 * time.Second}, memLog: limiter{period: 10 * time.Second},
	}
	for _, o := range sp.oversize {
		w.stats.Rejected.Add(1)
		if o.err != nil {
			w.log.Error("spool file larger than a window can be, not read, and could not be set aside: it is not written",
				"file", filepath.Join(dir, o.name), "bytes", o.size, "max_bytes", MaxSpoolFile, "set_aside_err", o.err)
			continue
		}
		w.log.Error("spool file larger than a window can be: not read, set aside for inspection",
			"window", o.start, "file", filepath.Join(dir, rejectedDir, o.name), "bytes", o.size, "max_bytes", MaxSpoolFile)
	}
	if n, size, oldest := sp.pending(); n > 0 {
		w.stats.Recovered.Store(uint64(n))
		w.log.Info("the spool holds windows from an earlier run; writing them first",
			"windows", n, "bytes", size, "oldest", oldest, "spool", dir)
	}
	w.warnOtherSpools(cfg.Agent)
	return w, nil
}

// warnOtherSpools points at spools of other agent names on this machine:
// after a change of --agent they would otherwise wait unnoticed.
func (w *Writer) warnOtherSpools(agent string) {
	root := filepath.Join(w.cfg.StateDir, "spool")
	des, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, de := range des {
		if !de.IsDir() || de.Name() == escapeAgent(agent) {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, de.Name(), "*"+spoolExt))
		if len(files) > 0 {
			w.log.Warn("another agent's spool holds unwritten windows; run netmon with that --agent to write them",
				"spool", filepath.Join(root, de.Name()), "windows", len(files))
		}
	}
}

// DiskError is the last error writing the spool (ENOSPC when the disk is
// full), or nil when none failed.
func (w *Writer) DiskError() error {
	if e := w.diskErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Dir is the spool directory.
func (w *Writer) Dir() string { return w.spool.dir }

// Stats returns the live counters.
func (w *Writer) Stats() *WriterStats { return &w.stats }

// Pending is the number of windows waiting in the spool (on disk or, when
// the disk failed, in memory).
func (w *Writer) Pending() int {
	n, _, _ := w.spool.pending()
	return n
}

// Close releases the spool. Call it after Run has returned.
func (w *Writer) Close() error {
	w.spool.close()
	return nil
}

// Run spools every window from in and writes the spool to the database,
// oldest first, until in is closed and the spool is empty. When stop ends
// (SIGTERM), it keeps spooling what still arrives on in — the open window
// among it — and keeps writing for at most DrainTimeout; what is left stays
// in the spool for the next start. When in is closed without a stop request
// it gives up only after DrainTimeout without a successful write. The
// caller closes in; Run always returns nil, and Stats says what happened.
func (w *Writer) Run(stop context.Context, in <-chan *aggregate.Window) error {
	inDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.writeLoop(stop, inDone)
	}()
	for win := range in {
		w.put(win)
	}
	close(inDone)
	<-done
	w.spill()                  // what is left waits in the spool for the next start
	if w.droppedSinceLog > 0 { // drops the rate limit held back
		w.log.Error("spool is full: dropped the oldest windows, their counts are lost",
			"dropped", w.droppedSinceLog, "first", w.droppedFrom, "last", w.droppedTo,
			"dropped_total", w.stats.Dropped.Load(), "max_spool_bytes", w.cfg.MaxSpoolBytes, "spool", w.spool.dir)
	}
	n, _, _ := w.spool.pending()
	m := w.spool.memoryOnly() + w.spool.heldCount() // held: the disk refused them too
	w.stats.Left.Store(uint64(n - m))
	if m > 0 {
		w.stats.Dropped.Add(uint64(m))
		w.stats.LostAtExit.Add(uint64(m))
		w.log.Error("windows held in memory only (the spool could not be written) are lost at exit",
			"windows", m, "spool", w.spool.dir, "err", oneLineErr(w.DiskError()))
	}
	return nil
}

// put makes win durable. It never waits for the database.
func (w *Writer) put(win *aggregate.Window) {
	if emptyWindow(win) {
		return // nothing to write, nothing to keep
	}
	if win.ID == ([16]byte{}) {
		_, _ = crand.Read(win.ID[:]) // crypto/rand.Read never fails
	}
	if w.putHeld(win) {
		return
	}
	rep, err := w.spool.append(win)
	now := time.Now()
	if err != nil {
		// Only an encoding failure gets here, and a window that cannot be
		// encoded cannot be kept anywhere.
		w.stats.Dropped.Add(1)
		w.log.Error("window dropped: it cannot be spooled", "window", win.Start, "rows", len(win.Rows), "err", err)
		return
	}
	if rep.diskErr != nil {
		w.diskErr.Store(&rep.diskErr)
		w.stats.MemoryOnly.Add(1)
		w.memOnlySinceLog++
		if w.diskLog.allow(now) {
			w.log.Error("cannot write the spool; windows are kept in memory only, and lost if netmon dies before the database takes them",
				"spool", w.spool.dir, "windows_since_last_report", w.memOnlySinceLog, "err", rep.diskErr)
			w.memOnlySinceLog = 0
		}
	} else {
		w.stats.Spooled.Add(1)
	}
	w.countDrops(rep)
}

// writeLoop writes the oldest spooled window until the spool is empty and
// the input has ended, or until it must give up (see Run).
func (w *Writer) writeLoop(stop context.Context, inDone <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped atomic.Bool
	unwatch := context.AfterFunc(stop, func() {
		stopped.Store(true)
		t := time.AfterFunc(w.cfg.DrainTimeout, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	defer unwatch()

	backoff := w.cfg.MinBackoff
	fails := 0          // attempts in a row at the head window that wrote nothing
	var ended time.Time // when in was closed, if it was
	lastProgress := time.Now()
	inEnded := inDone
	noteEnd := func() {
		select {
		case <-inEnded:
			ended, inEnded = time.Now(), nil
		default:
		}
	}
	for {
		e := w.spool.head()
		if e == nil {
			if !ended.IsZero() {
				return
			}
			select {
			case <-w.spool.wake:
			case <-inEnded:
				ended, inEnded = time.Now(), nil
			case <-ctx.Done():
				return
			}
			continue
		}
		win, err := w.spool.load(e)
		if err != nil {
			w.rejectEntry(e, win, err)
			continue
		}
		if w.writeBatch(ctx, e, win) {
			backoff, lastProgress, fails = w.cfg.MinBackoff, time.Now(), 0
			continue
		}
		for {
			actx, acancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
			began := time.Now()
			applied, err := w.db.Apply(actx, win)
			acancel()
			if w.onWrite != nil {
				w.onWrite(time.Since(began), err)
			}
			if err == nil {
				w.succeeded(win, applied)
				w.spool.remove(e)
				backoff = w.cfg.MinBackoff
				lastProgress = time.Now()
				fails = 0
				break
			}
			if ctx.Err() != nil {
				w.spool.release(e)
				return
			}
			if isPermanent(err) {
				w.rejectEntry(e, win, err)
				fails = 0
				break
			}
			var partial *PartialError
			if errors.As(err, &partial) {
				// Some parts were written: the next attempt resumes.
				fails = 0
				lastProgress = time.Now()
			} else if !isConflict(err) {
				fails++
			}
			if fails%blockingAttempts == 0 && fails > 0 && w.passBlocked(ctx, e, win, err, fails) {
				backoff = w.cfg.MinBackoff
				lastProgress = time.Now()
				fails = 0
				break
			}
			var wait time.Duration
			if isConflict(err) {
				// Another agent's transaction won; the next try will most
				// likely not meet it again. No backoff growth, no alarm.
				w.stats.Failures.Add(1)
				w.stats.Conflicts.Add(1)
				w.conflict(err)
				wait = 10*time.Millisecond + rand.N(90*time.Millisecond)
			} else {
				w.failed(win, err, backoff)
				// The spool is the fallback while the database fails.
				w.spillHeld.Store(true)
				w.spill()
				// Equal jitter: half the backoff fixed, half random, so
				// many sensors behind one database do not retry in step.
				wait = backoff/2 + rand.N(backoff/2+1)
				backoff = min(2*backoff, w.cfg.MaxBackoff)
			}
			noteEnd()
			since := lastProgress
			if ended.After(since) {
				since = ended
			}
			if !ended.IsZero() && !stopped.Load() && time.Since(since) > w.cfg.DrainTimeout {
				// The input is over and the database has taken nothing for
				// DrainTimeout: leave the rest for the next start.
				w.spool.release(e)
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				w.spool.release(e)
				return
			}
		}
	}
}

// passBlocked tries the window after e, which has failed fails times in a
// row with err. When that one is written, e is set aside and passBlocked
// reports true; when it fails too (the database is away), both wait.
func (w *Writer) passBlocked(ctx context.Context, e *spoolEntry, win *aggregate.Window, err error, fails int) bool {
	n := w.spool.after(e)
	if n == nil {
		return false
	}
	next, lerr := w.spool.load(n)
	if lerr != nil {
		w.rejectEntry(n, nil, lerr)
		return false
	}
	actx, acancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	began := time.Now()
	applied, nerr := w.db.Apply(actx, next)
	acancel()
	if w.onWrite != nil {
		w.onWrite(time.Since(began), nerr)
	}
	if nerr != nil {
		w.spool.release(n)
		return false
	}
	w.succeeded(next, applied)
	w.spool.remove(n)
	w.stats.SetAside.Add(1)
	w.rejectEntry(e, win, fmt.Errorf("failed %d times in a row while the window after it was written; set aside so that it blocks no later window: %w", fails, err))
	return true
}

func (w *Writer) succeeded(win *aggregate.Window, applied bool) {
	w.spillHeld.Store(false) // the database takes windows again: hold them again
	if applied {
		w.stats.Written.Add(1)
	} else {
		w.stats.Duplicates.Add(1)
		w.log.Debug("window already in the database; skipped", "window", win.Start, "id", fmt.Sprintf("%x", win.ID))
	}
	if !w.failingSince.IsZero() {
		n, _, _ := w.spool.pending()
		w.log.Info("database write succeeded again; catching up from the spool",
			"outage_s", time.Since(w.failingSince).Round(time.Millisecond).Seconds(), "pending", n-1)
		w.failingSince, w.lastFailText = time.Time{}, ""
	}
}

// failed logs a failed write: at once when a failure starts or changes
// kind, then once a minute while it lasts.
func (w *Writer) failed(win *aggregate.Window, err error, retry time.Duration) {
	w.stats.Failures.Add(1)
	now := time.Now()
	text := oneLineErr(err) + " " + hint(err)
	n, _, oldest := w.spool.pending()
	switch {
	case w.failingSince.IsZero():
		w.failingSince = now
		w.log.Error("database write failed; windows wait in the spool and are retried",
			"window", win.Start, "pending", n, "retry_in_s", retry.Seconds(), "err", text)
	case text != w.lastFailText || now.Sub(w.lastFailLog) >= failLogPeriod:
		w.log.Error("database write still failing; windows wait in the spool",
			"for_s", now.Sub(w.failingSince).Round(time.Second).Seconds(), "pending", n, "oldest", oldest, "err", text)
	default:
		return
	}
	w.lastFailLog, w.lastFailText = now, text
}

func (w *Writer) conflict(err error) {
	w.conflictsSinceLog++
	if now := time.Now(); now.Sub(w.lastConflictLog) >= failLogPeriod {
		w.log.Info("write lost to a concurrent transaction, retried", "conflicts", w.conflictsSinceLog, "err", oneLineErr(err))
		w.lastConflictLog, w.conflictsSinceLog = now, 0
	}
}

// rejectEntry sets a window aside that no retry can write.
func (w *Writer) rejectEntry(e *spoolEntry, win *aggregate.Window, cause error) {
	w.stats.Rejected.Add(1)
	where, err := w.spool.reject(e)
	if err != nil {
		w.log.Error("window not written and could not be set aside: its counts are lost",
			"window", e.start, "err", oneLineErr(cause), "set_aside_err", err)
		return
	}
	rows := 0
	if win != nil {
		rows = len(win.Rows)
	}
	w.log.Error("window not written: the database refuses it or its file is damaged; set aside for inspection",
		"window", e.start, "rows", rows, "file", where, "err", oneLineErr(cause))
}

// oneLineErr keeps an error on one line in a log record.
func oneLineErr(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
