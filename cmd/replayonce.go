package cmd

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/cmd/internal/pipeline"
	"github.com/netmon/netmon/store"
)

// Replays count each window once. A replayed file is known by its content
// (store.FileKey); each of its windows of counted traffic gets an ID made
// from that key, its start and its rank among the file's windows of that
// start, and the store skips an ID it already holds, in the same
// transaction as the window's rows. The pipeline cuts windows at file
// boundaries (aggregate.Deps.Cut), so a file's windows are the same
// whichever files were read before it. Once every window of a file is in
// the database the file is marked finished in replay_files, and later
// replays skip it with one line.

// replayFile is one file of a replay, from BeginReplay until finished.
type replayFile struct {
	path string
	key  store.FileKey
	gen  uint32

	// Filled by the pipeline, under replayBook.mu.
	input    int           // its index among the pipeline's inputs
	seq      map[int64]int // window start (Unix s) → windows of counted traffic seen with it
	pending  int           // windows handed to the writer and not yet applied
	windows  int64         // windows handed to the writer
	ended    bool          // its InputEnd came: no more windows
	complete bool          // it was read to its end
	// marked: its finish mark committed with its last windows
	// (bookApplier.ApplyBatch), so finish need not write it.
	marked bool
	// unrecorded: BeginReplay failed, so there is no row to finish.
	unrecorded bool
}

// replayBook follows each replayed file's windows to the database.
type replayBook struct {
	st     *store.Store
	log    *slog.Logger
	remove bool // remove a file once finished (--follow --remove)

	mu sync.Mutex
	// inputs are the files being read or written, by pipeline input
	// index (aggregate.Window.Input); finished ones are forgotten.
	inputs  map[int]*replayFile
	started int // inputs started so far
	// byID maps a handed window's ID to its file (a list: the same file
	// given twice hands the same IDs twice).
	byID map[[16]byte][]*replayFile

	// Finished counts the files finished in this run.
	finished int
	// toFinish are the files waiting to be marked finished by the
	// goroutine finishQueued, which runs while finishing is set.
	toFinish  []*replayFile
	finishing bool
	finishers sync.WaitGroup
}

func newReplayBook(st *store.Store, log *slog.Logger, remove bool) *replayBook {
	return &replayBook{st: st, log: log, remove: remove, inputs: map[int]*replayFile{}, byID: map[[16]byte][]*replayFile{}}
}

// begin asks the database about the file at path, whose identity id
// holds when checkReplayFile read it (nil: read it now). It returns nil,
// with the one line said, when the file was replayed to its end before and
// not forced.
func (b *replayBook) begin(ctx context.Context, path string, id *fileID, force bool) (*replayFile, error) {
	if id == nil {
		key, size, err := store.FileKeyOf(path)
		if err != nil {
			return nil, err
		}
		id = &fileID{key, size}
	}
	st, err := b.st.BeginReplay(ctx, id.key, id.size, path, force)
	return b.begun(path, id.key, st, err), nil
}

// fileID is a replayed file's identity (store.FileKeyOf).
type fileID struct {
	key  store.FileKey
	size int64
}

// checkReplayFile refuses a file that is not a capture, as checkCaptureFile
// does, and returns the identity of a regular file, read in the same pass:
// a classic pcap file is checked by the header its identity reads, and so
// opened once here, not twice (nil for standard input and pipes).
func checkReplayFile(name string) (*fileID, error) {
	if name == "-" {
		return nil, nil
	}
	st, err := os.Stat(name)
	if err == nil && !st.Mode().IsRegular() {
		return nil, nil // a pipe or a device: reading its header would consume it
	}
	var id *fileID
	if err == nil {
		key, size, head, kerr := store.FileKeyHead(name)
		if kerr == nil && capture.ClassicHeader(head) {
			return &fileID{key, size}, nil
		}
		if kerr == nil {
			id = &fileID{key, size}
		}
	}
	// Anything else is opened as a capture: it is taken (pcapng) or refused
	// in capture's words.
	if err := checkCaptureFile(name); err != nil {
		return nil, err
	}
	return id, nil
}

// begun turns what the database said of the file at path into its
// replayFile (nil: skipped, with the one line said).
func (b *replayBook) begun(path string, key store.FileKey, st store.ReplayState, err error) *replayFile {
	if err != nil {
		// The database is away or locked: count anyway, the windows wait
		// in the spool. IDs of the first generation still make a replay
		// of a file counted before skip its windows; only --force cannot
		// start a new generation now.
		b.log.Warn("cannot read which files were replayed before; counting under the file's first generation, windows already written are still skipped",
			"file", path, "err", err)
		return &replayFile{path: path, key: key, seq: map[int64]int{}, unrecorded: true}
	}
	if st.Finished {
		b.log.Info("skipped: replayed before, its windows are in the database (--force counts it again)",
			"file", path, "finished", st.FinishedAt.UTC().Format(time.RFC3339), "windows", st.Windows)
		return nil
	}
	if st.Resumed {
		b.log.Info("an earlier replay of this file stopped part-way: the windows it wrote are skipped", "file", path)
	}
	return &replayFile{path: path, key: key, gen: st.Generation, seq: map[int64]int{}}
}

// beginAll is begin for each of paths, asking the database in one
// transaction per thousand files rather than one per file (the answers are
// those of begin called file after file). When the batch fails, each file
// is begun alone, as begin would.
func (b *replayBook) beginAll(ctx context.Context, paths []string, ids map[string]fileID, force bool) ([]*replayFile, error) {
	files := make([]store.ReplayBegin, len(paths))
	for i, path := range paths {
		id, ok := ids[path]
		if !ok {
			key, size, err := store.FileKeyOf(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			id = fileID{key, size}
		}
		files[i] = store.ReplayBegin{Key: id.key, Size: id.size, Name: path}
	}
	sts, err := b.st.BeginReplays(ctx, files, force)
	rfs := make([]*replayFile, len(paths))
	for i, path := range paths {
		if err != nil {
			// As begin: each file asked alone, and counted unrecorded
			// when the database cannot answer.
			st, err := b.st.BeginReplay(ctx, files[i].Key, files[i].Size, path, force)
			rfs[i] = b.begun(path, files[i].Key, st, err)
			continue
		}
		rfs[i] = b.begun(path, files[i].Key, sts[i], nil)
	}
	return rfs, nil
}

// start notes that the pipeline begins reading f (nil: a file without
// bookkeeping, standard input) as its next input.
func (b *replayBook) start(f *replayFile) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f != nil {
		b.inputs[b.started] = f
		f.input = b.started
	}
	b.started++
}

// readDone notes whether the input being read was read to its end; the
// pipeline calls it before it sends the input's cut.
func (b *replayBook) readDone(f *replayFile, complete bool) {
	if f == nil {
		return
	}
	b.mu.Lock()
	f.complete = complete
	b.mu.Unlock()
}

// tag gives a window its ID before the writer sees it, and reports whether
// it goes on to the writer (an InputEnd does not).
func (b *replayBook) tag(w *aggregate.Window) bool {
	b.mu.Lock()
	f := b.inputs[w.Input]
	if w.InputEnd {
		var done bool
		if f != nil {
			f.ended = true
			done = f.pending == 0
			if done {
				delete(b.inputs, w.Input)
			}
		}
		b.mu.Unlock()
		if done {
			b.finish(f)
		}
		return false
	}
	defer b.mu.Unlock()
	if f == nil {
		return true
	}
	if len(w.Rows) > 0 {
		start := w.Start.Unix()
		w.ID = store.ReplayWindowID(f.key, f.gen, w.Start, f.seq[start])
		f.seq[start]++
	} else {
		// Names and devices alone: writing them again changes nothing,
		// so they need no stable ID, only one to be followed by.
		_, _ = crand.Read(w.ID[:])
	}
	f.pending++
	f.windows++
	b.byID[w.ID] = append(b.byID[w.ID], f)
	// The file is the durable copy: until all its windows are written it
	// is not marked finished, and the next replay reads it again.
	w.Rereadable = !f.unrecorded
	return true
}

// finishedBy lists the files whose last windows are all among wins, to be
// marked finished in the same transaction; marked notes that it committed.
func (b *replayBook) finishedBy(wins []*aggregate.Window) ([]store.ReplayFinish, []*replayFile) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := map[*replayFile]int{}
	nth := map[[16]byte]int{}
	for _, w := range wins {
		// applied takes a repeated ID's files in order: so does this.
		fs := b.byID[w.ID]
		if k := nth[w.ID]; k < len(fs) {
			in[fs[k]]++
		}
		nth[w.ID]++
	}
	var marks []store.ReplayFinish
	var files []*replayFile
	for f, n := range in {
		if f.ended && f.complete && !f.unrecorded && !f.marked && f.pending == n {
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b *replayFile) int { return strings.Compare(a.path, b.path) })
	for _, f := range files {
		marks = append(marks, store.ReplayFinish{Key: f.key, Windows: f.windows})
	}
	return marks, files
}

func (b *replayBook) marked(files []*replayFile) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range files {
		f.marked = true
	}
}

// applied is told of every window the writer committed or found already
// committed.
func (b *replayBook) applied(id [16]byte) {
	b.mu.Lock()
	fs := b.byID[id]
	if len(fs) == 0 {
		b.mu.Unlock()
		return // from an earlier run's spool, or not a replay's
	}
	f := fs[0]
	if len(fs) == 1 {
		delete(b.byID, id)
	} else {
		b.byID[id] = fs[1:]
	}
	f.pending--
	done := f.ended && f.pending == 0
	if done && b.inputs[f.input] == f {
		delete(b.inputs, f.input)
	}
	b.mu.Unlock()
	if done {
		b.finish(f)
	}
}

// finish marks a file whose windows are all in the database, when it was
// read to its end, and removes it if asked to. The marks are written by
// one goroutine, all the files queued since its last commit in one
// transaction, so that many small files do not cost a commit each; wait
// waits for them. A mark lost to a kill costs nothing but a read: the next
// replay reads the file again and finds all its windows written.
func (b *replayBook) finish(f *replayFile) {
	if !f.complete || f.unrecorded {
		return // cut short, or not known to replay_files: the next replay reads it again
	}
	b.mu.Lock()
	if f.marked {
		b.mu.Unlock()
		b.finished1(f, nil)
		return
	}
	defer b.mu.Unlock()
	b.toFinish = append(b.toFinish, f)
	if !b.finishing {
		b.finishing = true
		b.finishers.Add(1)
		go b.finishQueued()
	}
}

// finishQueued marks the queued files finished until the queue is empty.
func (b *replayBook) finishQueued() {
	defer b.finishers.Done()
	for {
		b.mu.Lock()
		fs := b.toFinish
		b.toFinish = nil
		if len(fs) == 0 {
			b.finishing = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		marks := make([]store.ReplayFinish, len(fs))
		for i, f := range fs {
			marks[i] = store.ReplayFinish{Key: f.key, Windows: f.windows}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := b.st.FinishReplays(ctx, marks)
		cancel()
		for _, f := range fs {
			b.finished1(f, err)
		}
	}
}

// wait returns once every file finish was given is marked (or failed to
// be).
func (b *replayBook) wait() { b.finishers.Wait() }

// finished1 says how marking f finished went, and removes it if asked to.
func (b *replayBook) finished1(f *replayFile, err error) {
	if err != nil {
		b.log.Error("could not mark the file replayed; a later replay reads it again and skips its windows", "file", f.path, "err", err)
		return
	}
	b.mu.Lock()
	b.finished++
	b.mu.Unlock()
	b.log.Debug("file replayed, every window in the database", "file", f.path, "windows", f.windows)
	if b.remove {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Error("could not remove a replayed file", "file", f.path, "err", err)
			return
		}
		b.log.Info("removed: its windows are in the database", "file", f.path)
	}
}

// bookApplier is the writer's database with the replay book told of every
// window applied. With no book it is the store.
type bookApplier struct {
	store.Applier
	book *replayBook
}

func (a *bookApplier) Apply(ctx context.Context, w *aggregate.Window) (bool, error) {
	applied, err := a.Applier.Apply(ctx, w)
	if err == nil && a.book != nil {
		a.book.applied(w.ID)
	}
	return applied, err
}

// replayBatcher is what bookApplier needs of the store to write batches:
// *store.Store.
type replayBatcher interface {
	store.BatchApplier
	ApplyReplayBatch(ctx context.Context, wins []*aggregate.Window, finished []store.ReplayFinish) ([]bool, error)
}

// BatchLimit lets the writer batch windows when the store can (0: not).
func (a *bookApplier) BatchLimit() int {
	if st, ok := a.Applier.(store.BatchApplier); ok {
		return st.BatchLimit()
	}
	return 0
}

// ApplyBatch writes wins in one transaction with the finish marks of the
// files whose last windows they are, then tells the book.
func (a *bookApplier) ApplyBatch(ctx context.Context, wins []*aggregate.Window) ([]bool, error) {
	if ba, ok := a.Applier.(store.BatchApplier); ok && a.book == nil {
		return ba.ApplyBatch(ctx, wins)
	}
	st, ok := a.Applier.(replayBatcher)
	if !ok {
		return nil, errors.New("the store writes no batches")
	}
	marks, files := a.book.finishedBy(wins)
	applied, err := st.ApplyReplayBatch(ctx, wins, marks)
	if err != nil {
		return nil, err
	}
	a.book.marked(files)
	for _, w := range wins {
		a.book.applied(w.ID)
	}
	return applied, nil
}

// fileInput is a capture file as a pipeline input, in book's keeping (rf
// nil: standard input, a pipe, a file without bookkeeping).
func fileInput(book *replayBook, path, filter string, rf *replayFile) pipeline.Input {
	return pipeline.Input{
		Name:    path,
		Open:    func() (capture.Source, error) { return capture.OpenFile(path, filter) },
		Started: func() { book.start(rf) },
		Read:    func(complete bool) { book.readDone(rf, complete) },
	}
}

// replayInputs asks the database about each file (identified already when
// ids holds it) and returns the inputs still to read; the files replayed to the end before are said and left
// out.
func replayInputs(ctx context.Context, book *replayBook, files []string, ids map[string]fileID, filter string, force bool) ([]pipeline.Input, int, error) {
	// Regular files have an identity, asked of the database all at once;
	// standard input and pipes can be read once: no identity.
	var regular []string
	for _, name := range files {
		if st, err := os.Stat(name); name != "-" && err == nil && st.Mode().IsRegular() {
			regular = append(regular, name)
		}
	}
	rfs, err := book.beginAll(ctx, regular, ids, force)
	if err != nil {
		return nil, 0, err
	}
	var inputs []pipeline.Input
	skipped := 0
	for _, name := range files {
		if len(regular) == 0 || regular[0] != name {
			inputs = append(inputs, fileInput(book, name, filter, nil))
			continue
		}
		rf := rfs[0]
		regular, rfs = regular[1:], rfs[1:]
		if rf == nil {
			skipped++
			continue
		}
		inputs = append(inputs, fileInput(book, name, filter, rf))
	}
	return inputs, skipped, nil
}
