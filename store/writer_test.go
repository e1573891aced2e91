package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// logBuf collects a writer's log while the test reads it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeDB applies windows in memory, each ID once, and fails while told to.
type fakeDB struct {
	mu      sync.Mutex
	fail    func(w *aggregate.Window) error
	ids     map[[16]byte]bool
	applied []*aggregate.Window
}

func (f *fakeDB) Apply(ctx context.Context, w *aggregate.Window) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(w); err != nil {
			return false, err
		}
	}
	if f.ids == nil {
		f.ids = map[[16]byte]bool{}
	}
	if f.ids[w.ID] {
		return false, nil
	}
	f.ids[w.ID] = true
	f.applied = append(f.applied, w)
	return true, nil
}

func (f *fakeDB) setFail(fn func(*aggregate.Window) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// starts lists the windows applied, as offsets from t0 in windows.
func (f *fakeDB) starts() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []int
	for _, w := range f.applied {
		s = append(s, int(w.Start.Sub(t0)/(10*time.Second)))
	}
	return s
}

var errRefused = &netOpError{}

// netOpError stands for the driver's error when nothing listens.
type netOpError struct{}

func (*netOpError) Error() string { return "dial tcp 127.0.0.1:3306: connect: connection refused" }

func fastConfig(dir string) store.WriterConfig {
	cfg := store.DefaultWriterConfig()
	cfg.StateDir, cfg.Agent = dir, "a"
	cfg.MinBackoff = 5 * time.Millisecond
	cfg.MaxBackoff = 40 * time.Millisecond
	cfg.DrainTimeout = 300 * time.Millisecond
	return cfg
}

func win(i int) *aggregate.Window {
	return &aggregate.Window{
		Start: t0.Add(time.Duration(i) * 10 * time.Second),
		Rows:  []aggregate.Row{row(c1, "x.example", "X", source.DNS, uint64(i+1), uint64(100*(i+1)))},
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// running is a Writer.Run in the background.
type running struct {
	in   chan *aggregate.Window
	stop context.CancelFunc
	done chan struct{}
}

func run(t *testing.T, w *store.Writer) *running {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	r := &running{in: make(chan *aggregate.Window), stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := w.Run(ctx, r.in); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-r.done:
		default:
			close(r.in)
			<-r.done
		}
	})
	return r
}

// finish closes the input and waits for Run to return.
func (r *running) finish() {
	close(r.in)
	<-r.done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// While the database refuses, windows are taken at once (capture does not
// wait), kept in the spool, and written in order when it answers again.
func TestWriterOutageKeepsOrder(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	var down atomic.Bool
	down.Store(true)
	db.setFail(func(*aggregate.Window) error {
		if down.Load() {
			return errRefused
		}
		return nil
	})
	var log logBuf
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	began := time.Now()
	for i := range 50 {
		r.in <- win(i)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("handing over 50 windows took %s while the database was down", took)
	}
	waitFor(t, "failures", func() bool { return w.Stats().Failures.Load() >= 3 && w.Stats().Spooled.Load() == 50 })
	if n := w.Pending(); n != 50 {
		t.Errorf("pending = %d during the outage, want 50", n)
	}
	files, _ := filepath.Glob(filepath.Join(w.Dir(), "*.win"))
	if len(files) != 50 {
		t.Errorf("%d spool files during the outage, want 50", len(files))
	}
	down.Store(false)
	r.finish()
	if d := cmp.Diff(seq(0, 50), db.starts()); d != "" {
		t.Errorf("windows written out of order (-want +got):\n%s", d)
	}
	st := w.Stats()
	if st.Written.Load() != 50 || st.Left.Load() != 0 || st.Lost() != 0 || st.Spooled.Load() != 50 {
		t.Errorf("stats: written %d left %d lost %d spooled %d", st.Written.Load(), st.Left.Load(), st.Lost(), st.Spooled.Load())
	}
	out := log.String()
	for _, want := range []string{"database write failed; windows wait in the spool", "connection refused", "is the server running?", "database write succeeded again"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "level=ERROR"); n > 3 {
		t.Errorf("%d error lines for one short outage; want them rate-limited:\n%s", n, out)
	}
}

// A stop request drains for at most the drain timeout and leaves the rest in
// the spool; the next writer on that spool writes it first, before new
// windows.
func TestWriterStopThenResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	down := &fakeDB{}
	down.setFail(func(*aggregate.Window) error { return errRefused })
	w1, err := store.NewWriter(fastConfig(dir), store.WriterDeps{DB: down, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, w1)
	for i := range 5 {
		r.in <- win(i)
	}
	r.stop()
	stopped := time.Now()
	r.in <- win(5) // the open window, flushed after the stop request
	r.finish()
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("Run returned %s after the stop request; the drain timeout is 300ms", took)
	}
	if left := w1.Stats().Left.Load(); left != 6 {
		t.Errorf("left in spool = %d, want 6", left)
	}
	w1.Close()

	up := &fakeDB{}
	var log logBuf
	w2, err := store.NewWriter(fastConfig(dir), store.WriterDeps{DB: up, Log: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if got := w2.Stats().Recovered.Load(); got != 6 {
		t.Errorf("recovered %d windows, want 6", got)
	}
	if !strings.Contains(log.String(), "writing them first") {
		t.Errorf("no word of the recovered windows:\n%s", log.String())
	}
	r2 := run(t, w2)
	for i := 6; i < 9; i++ {
		r2.in <- win(i)
	}
	r2.finish()
	if d := cmp.Diff(seq(0, 9), up.starts()); d != "" {
		t.Errorf("after restart (-want +got):\n%s", d)
	}
	if w2.Stats().Left.Load() != 0 {
		t.Errorf("left %d", w2.Stats().Left.Load())
	}
}

// A replay that ends while the database refuses gives up after the drain
// timeout without progress, and says what it left.
func TestWriterInputEndsDuringOutage(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	db.setFail(func(*aggregate.Window) error { return errRefused })
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	r.in <- win(0)
	r.in <- win(1)
	began := time.Now()
	r.finish()
	if took := time.Since(began); took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %s, want about the drain timeout (300ms)", took)
	}
	if w.Stats().Left.Load() != 2 {
		t.Errorf("left %d, want 2", w.Stats().Left.Load())
	}
}

// A window the database refuses for its data is set aside, counted and
// logged, and the windows after it are still written.
func TestWriterRejects(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	db.setFail(func(w *aggregate.Window) error {
		if w.Start.Equal(t0.Add(10 * time.Second)) {
			return &mysql.MySQLError{Number: 1406, Message: "Data too long for column 'domain' at row 1"}
		}
		return nil
	})
	var log logBuf
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	for i := range 3 {
		r.in <- win(i)
	}
	r.finish()
	if d := cmp.Diff([]int{0, 2}, db.starts()); d != "" {
		t.Errorf("written (-want +got):\n%s", d)
	}
	if w.Stats().Rejected.Load() != 1 || w.Stats().Lost() != 1 {
		t.Errorf("rejected %d, lost %d; want 1, 1", w.Stats().Rejected.Load(), w.Stats().Lost())
	}
	set, _ := filepath.Glob(filepath.Join(w.Dir(), "rejected", "*.win"))
	if len(set) != 1 {
		t.Errorf("%d windows set aside, want 1", len(set))
	}
	if !strings.Contains(log.String(), "set aside for inspection") || !strings.Contains(log.String(), "Data too long") {
		t.Errorf("log does not say what was set aside and why:\n%s", log.String())
	}
}

// A full spool drops the oldest windows, counts them and says so at error
// level; every window is either written or counted as dropped.
func TestWriterSpoolFull(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	var down atomic.Bool
	down.Store(true)
	db.setFail(func(*aggregate.Window) error {
		if down.Load() {
			return errRefused
		}
		return nil
	})
	cfg := fastConfig(t.TempDir())
	cfg.MaxSpoolBytes = 3*4096 + 100 // three small windows, a 4 KiB block each
	var log logBuf
	w, err := store.NewWriter(cfg, store.WriterDeps{DB: db, Log: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	const n = 40
	for i := range n {
		r.in <- win(i)
	}
	waitFor(t, "the last window spooled", func() bool { return w.Stats().Spooled.Load() == n })
	if w.Stats().Dropped.Load() == 0 {
		t.Fatal("nothing dropped at a 12 KiB cap")
	}
	down.Store(false)
	r.finish()
	st := w.Stats()
	written := st.Written.Load()
	if written+st.Dropped.Load() != n {
		t.Errorf("written %d + dropped %d != %d windows", written, st.Dropped.Load(), n)
	}
	// The newest windows survive, in order; the held head may too.
	got := db.starts()
	if len(got) == 0 || got[len(got)-1] != n-1 {
		t.Errorf("written %v, want the newest windows", got)
	}
	out := log.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "spool is full") || !strings.Contains(out, "dropped=") {
		t.Errorf("no loud line about the drops:\n%s", out)
	}
	t.Logf("cap 12 KiB: %d windows dropped, %d written", st.Dropped.Load(), written)
}

// A window written, whose commit the writer never heard of (the connection
// died after COMMIT), is retried and skipped by its ID: it counts once.
func TestWriterRetryAfterUnknownCommit(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		real := d.store("a")
		var calls atomic.Int32
		db := applierFunc(func(ctx context.Context, w *aggregate.Window) (bool, error) {
			applied, err := real.Apply(ctx, w)
			if calls.Add(1) == 1 && err == nil && applied {
				return false, errors.New("invalid connection") // lost the reply
			}
			return applied, err
		})
		w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		r := run(t, w)
		r.in <- win(0)
		r.finish()
		if got := w.Stats().Duplicates.Load(); got != 1 {
			t.Errorf("duplicates = %d, want 1", got)
		}
		want := []record{{t0, "a", "192.168.1.10", "x.example", "X", "dns", 1, 100}}
		if diff := cmp.Diff(d.records(), want); diff != "" {
			t.Errorf("tcpdump_records (-got +want):\n%s", diff)
		}
	})
}

type applierFunc func(ctx context.Context, w *aggregate.Window) (bool, error)

func (f applierFunc) Apply(ctx context.Context, w *aggregate.Window) (bool, error) { return f(ctx, w) }

// A table dropped under a running writer: the error says which table and
// what to do, windows wait in the spool, and once the table is back every
// one of them is written.
func TestWriterDroppedTable(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		// What recreates the table as it was: on SQLite its indexes are
		// statements of their own, and go with the table.
		var create []string
		missing := "doesn't exist" // what the server says of the missing table
		switch b {
		case storetest.MariaDB:
			var row struct {
				Table string `db:"Table"`
				SQL   string `db:"Create Table"`
			}
			if err := d.raw.GetContext(t.Context(), &row, "SHOW CREATE TABLE tcpdump_records"); err != nil {
				t.Fatal(err)
			}
			create = []string{row.SQL}
		case storetest.SQLite:
			// The table first ("table" sorts after "index" descending).
			err := d.raw.SelectContext(t.Context(), &create,
				"SELECT sql FROM sqlite_master WHERE tbl_name = 'tcpdump_records' AND sql IS NOT NULL ORDER BY type DESC")
			if err != nil {
				t.Fatal(err)
			}
			missing = "no such table"
		}
		var log logBuf
		w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: d.store("a"), Log: log.logger()})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		r := run(t, w)
		r.in <- win(0)
		waitFor(t, "first window", func() bool { return w.Stats().Written.Load() == 1 })
		if _, err := d.raw.ExecContext(t.Context(), "DROP TABLE tcpdump_records"); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 4; i++ {
			r.in <- win(i)
		}
		// Spooled first: a failing write can come back before the last
		// window has been taken from the channel.
		waitFor(t, "failures", func() bool { return w.Stats().Spooled.Load() == 4 && w.Stats().Failures.Load() >= 2 })
		if n := w.Pending(); n != 3 {
			t.Errorf("pending %d while the table is missing, want 3; log:\n%s", n, log.String())
		}
		for _, q := range create {
			if _, err := d.raw.ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		r.finish()
		if w.Stats().Written.Load() != 4 || w.Stats().Lost() != 0 {
			t.Errorf("written %d, lost %d; want 4, 0", w.Stats().Written.Load(), w.Stats().Lost())
		}
		var want []record
		for i := 1; i < 4; i++ {
			want = append(want, record{t0.Add(time.Duration(i) * 10 * time.Second), "a", "192.168.1.10", "x.example", "X", "dns", uint64(i + 1), uint64(100 * (i + 1))})
		}
		if diff := cmp.Diff(d.records(), want); diff != "" {
			t.Errorf("tcpdump_records after the table came back (-got +want):\n%s", diff)
		}
		out := log.String()
		for _, want := range []string{missing, "a table is missing", "windows wait in the spool"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}

// Several agents writing to one database at once: every agent's rows are
// exactly its own windows' sums, nothing lost or merged across agents.
func TestWritersManyAgents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		const agents, windows, rowsPer = 4, 25, 120
		want := map[string]uint64{}
		var wg sync.WaitGroup
		writers := make([]*store.Writer, agents)
		for a := range agents {
			agent := fmt.Sprintf("agent-%d", a)
			cfg := fastConfig(t.TempDir())
			cfg.Agent = agent
			w, err := store.NewWriter(cfg, store.WriterDeps{DB: open(t, d.dsn, agent), Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			writers[a] = w
			var ws []*aggregate.Window
			for i := range windows {
				// Every agent writes the same keys in the same windows, so their
				// index ranges interleave and their transactions meet.
				win := &aggregate.Window{Start: t0.Add(time.Duration(i%5) * 10 * time.Second)}
				for k := range rowsPer {
					client := netip.AddrFrom4([4]byte{10, 0, byte(k / 50), byte(k % 50)})
					win.Rows = append(win.Rows, row(client, fmt.Sprintf("s%d.example", k%9), "S", source.DNS, uint64(a+i+k+1), 10))
					want[fmt.Sprintf("%s %s %s %s", agent, win.Start.Format(time.RFC3339), client, fmt.Sprintf("s%d.example", k%9))] += uint64(a + i + k + 1)
				}
				ws = append(ws, win)
			}
			wg.Go(func() {
				in := make(chan *aggregate.Window, len(ws))
				for _, x := range ws {
					in <- x
				}
				close(in)
				_ = w.Run(context.Background(), in)
			})
		}
		wg.Wait()
		got := map[string]uint64{}
		for _, r := range d.records() {
			got[fmt.Sprintf("%s %s %s %s", r.Agent, r.TS.Format(time.RFC3339), r.Client, r.Domain)] += r.Count
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("per-agent sums (-want +got):\n%s", diff)
		}
		var conflicts, written uint64
		for _, w := range writers {
			conflicts += w.Stats().Conflicts.Load()
			written += w.Stats().Written.Load()
			if w.Stats().Lost() != 0 || w.Stats().Left.Load() != 0 {
				t.Errorf("writer lost %d, left %d", w.Stats().Lost(), w.Stats().Left.Load())
			}
		}
		if written != agents*windows {
			t.Errorf("written %d windows, want %d", written, agents*windows)
		}
		t.Logf("%d agents × %d windows × %d rows: %d rows, %d conflicts retried", agents, windows, rowsPer, len(got), conflicts)
	})
}

// NewWriter on a directory it cannot create says which one.
func TestWriterStateDirRefused(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.NewWriter(fastConfig(file), store.WriterDeps{DB: &fakeDB{}, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), file) || !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("NewWriter under a file = %v, want an error naming %s", err, file)
	}
}

// NewWriter refuses settings no writer can run with (a WriterConfig that did
// not start from DefaultWriterConfig), naming them, and creates nothing.
func TestWriterRefusesUnusableConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for want, cfg := range map[string]store.WriterConfig{
		"MaxSpoolBytes 0": {StateDir: dir},
		"no StateDir":     func() store.WriterConfig { c := fastConfig(dir); c.StateDir = ""; return c }(),
		"MaxBackoff 1ms":  func() store.WriterConfig { c := fastConfig(dir); c.MaxBackoff = time.Millisecond; return c }(),
	} {
		if _, err := store.NewWriter(cfg, store.WriterDeps{DB: &fakeDB{}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewWriter with %s: %v, want an error naming it", want, err)
		}
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("refused writers left %d entries in the state directory", len(des))
	}
}
