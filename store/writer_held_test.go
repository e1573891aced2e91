package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/store"
)

// batchDB is fakeDB that also writes batches, all or nothing, and counts
// them.
type batchDB struct {
	fakeDB
	limit   int
	batches []int // windows per batch
	gate    chan struct{}
}

func (b *batchDB) BatchLimit() int { return b.limit }

// Apply waits for the gate too: the first write holds the writer until the
// test has queued what it wants batched.
func (b *batchDB) Apply(ctx context.Context, w *aggregate.Window) (bool, error) {
	if b.gate != nil {
		<-b.gate
	}
	return b.fakeDB.Apply(ctx, w)
}

func (b *batchDB) ApplyBatch(ctx context.Context, wins []*aggregate.Window) ([]bool, error) {
	if b.gate != nil {
		<-b.gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range wins {
		if b.fail != nil {
			if err := b.fail(w); err != nil {
				return nil, err
			}
		}
	}
	if b.ids == nil {
		b.ids = map[[16]byte]bool{}
	}
	applied := make([]bool, len(wins))
	for i, w := range wins {
		if !b.ids[w.ID] {
			b.ids[w.ID] = true
			b.applied = append(b.applied, w)
			applied[i] = true
		}
	}
	b.batches = append(b.batches, len(wins))
	return applied, nil
}

func rereadable(i int) *aggregate.Window {
	w := win(i)
	w.ID = [16]byte{0: 0x5E, 14: byte(i >> 8), 15: byte(i)}
	w.Rereadable = true
	return w
}

func spoolFiles(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.win"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// The windows queued behind the oldest are committed together (group
// commit), each exactly once and in order; a replayed file's windows are
// held in memory, never written to the spool.
func TestWriterBatchesHeldWindows(t *testing.T) {
	t.Parallel()
	db := &batchDB{limit: 100, gate: make(chan struct{})}
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: (&logBuf{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	r.in <- rereadable(0) // written alone, once the gate opens
	for i := 1; i < 300; i++ {
		r.in <- rereadable(i)
	}
	close(db.gate)
	r.finish()
	if d := cmp.Diff(seq(0, 300), db.starts()); d != "" {
		t.Errorf("windows written (-want +got):\n%s", d)
	}
	st := w.Stats()
	if st.Written.Load() != 300 || st.Held.Load() != 300 || st.Spooled.Load() != 0 || spoolFiles(t, w.Dir()) != 0 {
		t.Errorf("written %d, held %d, spooled %d, files in the spool %d; want 300, 300, 0, 0",
			st.Written.Load(), st.Held.Load(), st.Spooled.Load(), spoolFiles(t, w.Dir()))
	}
	if len(db.batches) == 0 || slices.Max(db.batches) < 50 {
		t.Errorf("batches of %v windows; want the queued windows together, up to the limit's", db.batches)
	}
	for _, n := range db.batches {
		if n > db.limit { // each window holds one item
			t.Errorf("a batch of %d windows, over the limit of %d items", n, db.limit)
		}
	}
}

// When the database fails, held windows go into the spool, durably, as
// any other; once it is back they are written once, in order, and the
// windows after are held again. A batch that fails is retried window by
// window.
func TestWriterSpillsHeldOnFailure(t *testing.T) {
	t.Parallel()
	db := &batchDB{limit: 1000}
	db.setFail(func(*aggregate.Window) error { return errRefused })
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: (&logBuf{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	for i := range 20 {
		r.in <- rereadable(i)
	}
	waitFor(t, "the held windows in the spool", func() bool { return spoolFiles(t, w.Dir()) == 20 })
	db.setFail(nil)
	waitFor(t, "the spooled windows written", func() bool { return w.Stats().Written.Load() == 20 })
	for i := 20; i < 40; i++ {
		r.in <- rereadable(i)
	}
	r.finish()
	if d := cmp.Diff(seq(0, 40), db.starts()); d != "" {
		t.Errorf("windows written (-want +got):\n%s", d)
	}
	// Held: the first (before the failure showed) and the 20 after.
	if st := w.Stats(); st.Spooled.Load() != 20 || st.Held.Load() < 21 {
		t.Errorf("spooled %d, held %d; want the 20 of the outage spooled, at least the first and the 20 after held", st.Spooled.Load(), st.Held.Load())
	}
	if n := spoolFiles(t, w.Dir()); n != 0 {
		t.Errorf("%d files left in the spool", n)
	}
}

// Held windows still waiting when the writer stops are left in the spool,
// and the next writer writes them first.
func TestWriterHeldLeftInSpool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := &batchDB{limit: 1000}
	db.setFail(func(*aggregate.Window) error { return errRefused })
	w, err := store.NewWriter(fastConfig(dir), store.WriterDeps{DB: db, Log: (&logBuf{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, w)
	for i := range 10 {
		r.in <- rereadable(i)
	}
	r.finish() // gives up after DrainTimeout without a write
	if left := w.Stats().Left.Load(); left != 10 || w.Stats().LostAtExit.Load() != 0 {
		t.Errorf("left %d in the spool, lost %d; want 10, 0", left, w.Stats().LostAtExit.Load())
	}
	w.Close()

	db.setFail(nil)
	w2, err := store.NewWriter(fastConfig(dir), store.WriterDeps{DB: db, Log: (&logBuf{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if n := w2.Stats().Recovered.Load(); n != 10 {
		t.Errorf("the next writer found %d windows, want 10", n)
	}
	run(t, w2).finish()
	if d := cmp.Diff(seq(0, 10), db.starts()); d != "" {
		t.Errorf("windows written (-want +got):\n%s", d)
	}
}

// A window the database refuses for its data, in the middle of a batch,
// fails that batch once: the windows of the failed batch are then written
// alone, the refused one set aside, and batching resumes behind them.
func TestWriterBatchWithRefusedWindow(t *testing.T) {
	t.Parallel()
	db := &batchDB{limit: 1000, gate: make(chan struct{})}
	refused := 0
	db.setFail(func(w *aggregate.Window) error {
		if w.Start.Equal(t0.Add(20 * 10 * time.Second)) {
			refused++
			return &mysql.MySQLError{Number: 1406, Message: "Data too long for column 'domain' at row 1"}
		}
		return nil
	})
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: (&logBuf{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	for i := range 100 {
		r.in <- rereadable(i) // 0 is written alone, once the gate opens; 1–99 in a batch
	}
	close(db.gate)
	r.finish()
	want := append(seq(0, 20), seq(21, 100)...)
	if d := cmp.Diff(want, db.starts()); d != "" {
		t.Errorf("windows written (-want +got):\n%s", d)
	}
	if w.Stats().Rejected.Load() != 1 {
		t.Errorf("rejected %d, want 1", w.Stats().Rejected.Load())
	}
	// Once in the failed batch, once alone.
	if refused != 2 {
		t.Errorf("the refused window was tried %d times, want 2", refused)
	}
}
