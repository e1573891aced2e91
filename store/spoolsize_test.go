package store_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/store"
)

// sparse makes a file of size bytes that starts with head and takes no
// disk space beyond it.
func sparse(t *testing.T, path string, head []byte, size int64) {
	t.Helper()
	if err := os.WriteFile(path, head, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// Spool files are size-checked before they are read whole: one larger than
// MaxSpoolFile is set aside at start without being read, one under it
// without netmon's magic is refused after its header; both are counted as
// rejected and moved to rejected/, and the real windows around them are
// written. Neither costs its size in memory. Not parallel: the memory
// measured is the process's.
func TestSpoolFileSizeChecked(t *testing.T) {
	state := t.TempDir()
	down := &fakeDB{}
	down.setFail(func(*aggregate.Window) error { return errRefused })
	w, err := store.NewWriter(fastConfig(state), store.WriterDeps{DB: down, Log: (&logBuf{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, w)
	r.in <- win(0)
	r.finish()
	w.Close()

	dir := store.SpoolDir(state, "a")
	huge := filepath.Join(dir, "0000000000000010-20250301T120100Z.win")
	sparse(t, huge, []byte("NMSPOOL1\xff\xff\xff\xf0"), store.MaxSpoolFile+1)
	noMagic := filepath.Join(dir, "0000000000000011-20250301T120110Z.win")
	sparse(t, noMagic, nil, 200<<20)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db := &fakeDB{}
	var log logBuf
	w, err = store.NewWriter(fastConfig(state), store.WriterDeps{DB: db, Log: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r = run(t, w)
	r.in <- win(20)
	r.finish()
	runtime.ReadMemStats(&after)

	if d := cmp.Diff([]int{0, 20}, db.starts()); d != "" {
		t.Errorf("written (-want +got):\n%s", d)
	}
	if got := w.Stats().Rejected.Load(); got != 2 {
		t.Errorf("rejected %d, want 2", got)
	}
	for _, p := range []string{huge, noMagic} {
		if _, err := os.Stat(filepath.Join(dir, "rejected", filepath.Base(p))); err != nil {
			t.Errorf("%s not set aside: %v", filepath.Base(p), err)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("reading the spool allocated %d MiB: a file was read whole", alloc>>20)
	}
	for _, want := range []string{"larger than a window can be", "not a netmon spool file"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, log.String())
		}
	}
}
