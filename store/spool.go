package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netmon/netmon/aggregate"
)

const (
	// spoolExt ends the name of a durable spool file; spoolTmp one still
	// being written, which never counted as safe and is deleted at open.
	spoolExt = ".win"
	spoolTmp = ".tmp"
	// rejectedDir holds windows the writer gave up on — damaged files, and
	// windows the database refuses for their data — for an operator to
	// look at. They are counted and logged; they do not count toward the cap.
	rejectedDir = "rejected"
	lockName    = "lock"

	// blockSize is what a small file really costs: ext4, like most file
	// systems, allocates whole 4 KiB blocks, and a window of a quiet network
	// is a few hundred bytes. The cap counts blocks, so that it bounds the
	// disk space the spool takes, not the sum of its file lengths.
	blockSize = 4096

	// memoryCap bounds the windows kept only in memory because the spool
	// could not be written (disk full, read-only): enough for several
	// minutes of a busy network, small against a Raspberry Pi's RAM.
	memoryCap = 64 << 20

	// MaxSpoolFile is the largest spool file netmon reads: a window of
	// 200,000 rows takes about 20 MiB. A bigger *.win file (put there by
	// hand, or damaged) is not read but set aside in rejected/ and
	// counted, so that a 3 GB file cannot take 3 GB of memory.
	MaxSpoolFile = 256 << 20
)

// errSpoolBusy means another netmon holds the spool directory.
var errSpoolBusy = errors.New("is in use by another netmon")

// spool is the write-ahead queue of closed windows: one file per window in
// one directory, named by a sequence number so that a directory listing
// gives the order they closed in. A window is durable once append returns
// with the file and the directory entry fsynced. The writer takes the
// oldest entry, writes it to the database and removes it; a crash between
// the commit and the removal replays the window, which its ID makes
// harmless.
//
// Appends come from one goroutine and the writer is another; the mutex
// guards the index, never the disk I/O of an append.
type spool struct {
	dir      string
	maxBytes int64
	maxFile  int64 // MaxSpoolFile; tests lower it
	maxMem   int64 // cap of the windows in memory only
	lock     *os.File
	// oversize are the files set aside at open without being read.
	oversize []oversizeFile

	mu        sync.Mutex
	entries   []*spoolEntry // oldest first
	diskBytes int64
	memBytes  int64
	heldBytes int64 // of held windows (see hold), apart from both caps
	nextSeq   uint64
	// wake has room for one signal: an append that finds it full knows
	// the writer has a wake-up pending already.
	wake chan struct{}
}

type spoolEntry struct {
	seq   uint64
	start time.Time
	name  string // file in dir; "" while the window is in memory only
	data  []byte // the encoded window, while in memory only
	size  int64  // bytes counted against its cap: disk blocks, or memory
	busy  bool   // the writer holds it: the caps must not drop it underneath
	// win is a held window (see hold): kept as it is, in memory, and
	// neither encoded nor fsynced; nil once spilled to disk.
	win *aggregate.Window
}

// appendReport says what an append did besides queueing the window.
type appendReport struct {
	diskErr     error // the window is in memory only
	dropped     int   // windows dropped to keep within the caps, lost
	droppedMem  int   // of those, windows in memory only, at the memory cap
	droppedFrom time.Time
	droppedTo   time.Time
}

// openSpool opens (creating it, mode 0700) the spool in dir, takes its lock,
// deletes the files of appends that never completed and indexes the rest.
func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	// The lock dies with the process, however it dies, so a crash never
	// leaves the spool locked.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(lock.Name())
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(owner))
			return nil, fmt.Errorf("spool %s %w (pid %s): give each netmon on this machine its own --state-dir or --agent", dir, errSpoolBusy, pid)
		}
		return nil, fmt.Errorf("spool %s: lock: %w", dir, err)
	}
	_ = lock.Truncate(0)
	_, _ = lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)

	s := &spool{dir: dir, maxBytes: maxBytes, lock: lock, wake: make(chan struct{}, 1), nextSeq: 1, maxFile: MaxSpoolFile, maxMem: memoryCap}
	des, err := os.ReadDir(dir)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasSuffix(name, spoolTmp):
			_ = os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, spoolExt):
			seq, start, ok := parseSpoolName(name)
			info, err := de.Info()
			if !ok || err != nil || !info.Mode().IsRegular() {
				continue // not ours; leave it alone
			}
			e := &spoolEntry{seq: seq, start: start, name: name, size: blocks(info.Size())}
			if info.Size() > s.maxFile {
				// Not read, and not counted against the cap, where it
				// would push real windows out: set aside at once.
				s.oversize = append(s.oversize, oversizeFile{name: name, size: info.Size(), start: start})
				continue
			}
			s.entries = append(s.entries, e)
			s.diskBytes += e.size
			s.nextSeq = max(s.nextSeq, seq+1)
		}
	}
	slices.SortFunc(s.entries, func(a, b *spoolEntry) int { return cmpUint(a.seq, b.seq) })
	for i, o := range s.oversize {
		rdir := filepath.Join(dir, rejectedDir)
		err := os.MkdirAll(rdir, 0o700)
		if err == nil {
			err = os.Rename(filepath.Join(dir, o.name), filepath.Join(rdir, o.name))
		}
		s.oversize[i].err = err
	}
	return s, nil
}

// oversizeFile is a spool file larger than MaxSpoolFile, found at open.
type oversizeFile struct {
	name  string
	size  int64
	start time.Time
	err   error // from moving it to rejected/
}

// blocks rounds a file's length up to the space it takes on disk.
func blocks(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// spoolName is <seq, 16 hex digits>-<window start>.win: sortable, and an
// operator listing the directory sees which windows wait.
func spoolName(seq uint64, start time.Time) string {
	return fmt.Sprintf("%016x-%s%s", seq, start.UTC().Format("20060102T150405Z"), spoolExt)
}

func parseSpoolName(name string) (uint64, time.Time, bool) {
	base := strings.TrimSuffix(name, spoolExt)
	hexSeq, stamp, ok := strings.Cut(base, "-")
	if !ok || len(hexSeq) != 16 {
		return 0, time.Time{}, false
	}
	seq, err := strconv.ParseUint(hexSeq, 16, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	start, err := time.Parse("20060102T150405Z", stamp)
	if err != nil {
		return 0, time.Time{}, false
	}
	return seq, start, true
}

// append makes w durable and queues it. When the disk refuses, w is kept in
// memory instead and the report says why. Either way the oldest windows
// beyond the caps are dropped, and the report counts them.
func (s *spool) append(w *aggregate.Window) (appendReport, error) {
	var rep appendReport
	data, err := encodeWindow(w)
	if err != nil {
		return rep, err
	}
	s.mu.Lock()
	seq := s.nextSeq
	s.nextSeq++
	s.mu.Unlock()

	e := &spoolEntry{seq: seq, start: w.Start, name: spoolName(seq, w.Start), size: blocks(int64(len(data)))}
	if err := writeDurable(s.dir, e.name, data); err != nil {
		e.name, e.data, e.size = "", data, int64(len(data))
		rep.diskErr = err
	}

	s.mu.Lock()
	s.entries = append(s.entries, e)
	if e.name != "" {
		s.diskBytes += e.size
	} else {
		s.memBytes += e.size
	}
	s.enforceCaps(&rep)
	s.mu.Unlock()

	select {
	case s.wake <- struct{}{}:
	default:
	}
	return rep, nil
}

// enforceCaps drops the oldest windows, on disk and in memory separately,
// until each budget holds. The entry the writer holds is never dropped: it
// may be committing right now.
func (s *spool) enforceCaps(rep *appendReport) {
	drop := func(onDisk bool) bool {
		for i, e := range s.entries {
			if e.busy || e.win != nil || (e.name != "") != onDisk {
				continue
			}
			if e.name != "" {
				_ = os.Remove(filepath.Join(s.dir, e.name))
				s.diskBytes -= e.size
			} else {
				s.memBytes -= e.size
			}
			s.entries = slices.Delete(s.entries, i, i+1)
			if rep.dropped == 0 || e.start.Before(rep.droppedFrom) {
				rep.droppedFrom = e.start
			}
			if e.start.After(rep.droppedTo) {
				rep.droppedTo = e.start
			}
			rep.dropped++
			if !onDisk {
				rep.droppedMem++
			}
			return true
		}
		return false
	}
	for s.diskBytes > s.maxBytes && drop(true) {
	}
	for s.memBytes > s.maxMem && drop(false) {
	}
}

// writeDurable writes data to dir/name so that it survives a crash once it
// returns: a temporary file, fsynced, renamed into place, and the directory
// fsynced so that the rename itself is on disk.
func writeDurable(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+spoolTmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		_ = os.Remove(filepath.Join(dir, name))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// head returns the oldest entry and marks it held, or nil when the spool is
// empty.
func (s *spool) head() *spoolEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return nil
	}
	e := s.entries[0]
	e.busy = true
	return e
}

// after returns the entry that follows e and marks it held, or nil.
func (s *spool) after(e *spoolEntry) *spoolEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.entries, e)
	if i < 0 || i+1 >= len(s.entries) {
		return nil
	}
	n := s.entries[i+1]
	n.busy = true
	return n
}

// load reads e's window back. A file is checked before it is read whole:
// its size against MaxSpoolFile, its magic, and its header's length
// against its size.
func (s *spool) load(e *spoolEntry) (*aggregate.Window, error) {
	if w := s.heldWindow(e); w != nil {
		return w, nil
	}
	data := e.data
	if e.name != "" {
		var err error
		if data, err = readSpoolFile(filepath.Join(s.dir, e.name), s.maxFile); err != nil {
			return nil, fmt.Errorf("read %s: %w", e.name, err)
		}
	}
	w, err := decodeWindow(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.label(), err)
	}
	return w, nil
}

func (e *spoolEntry) label() string {
	if e.name != "" {
		return e.name
	}
	return "window " + e.start.UTC().Format(time.RFC3339) + " (in memory)"
}

// remove forgets e once the database has it. The unlink is not fsynced: if
// a crash undoes it, the window is written again and skipped by its ID.
func (s *spool) remove(e *spoolEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forget(e)
	if e.name != "" {
		_ = os.Remove(filepath.Join(s.dir, e.name))
	}
}

// reject moves e to the rejected folder and forgets it. It returns where the
// window went, or an error when even that failed.
func (s *spool) reject(e *spoolEntry) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.win != nil {
		data, err := encodeWindow(e.win)
		if err != nil {
			s.forget(e)
			return "", err
		}
		e.data = data
	}
	s.forget(e)
	rdir := filepath.Join(s.dir, rejectedDir)
	name := e.name
	if name == "" {
		name = spoolName(e.seq, e.start)
	}
	dst := filepath.Join(rdir, name)
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return "", err
	}
	if e.name != "" {
		return dst, os.Rename(filepath.Join(s.dir, e.name), dst)
	}
	return dst, writeDurable(rdir, name, e.data)
}

func (s *spool) forget(e *spoolEntry) {
	if i := slices.Index(s.entries, e); i >= 0 {
		s.entries = slices.Delete(s.entries, i, i+1)
		switch {
		case e.win != nil:
			s.heldBytes -= e.size
		case e.name != "":
			s.diskBytes -= e.size
		default:
			s.memBytes -= e.size
		}
	}
	e.busy = false
}

// release hands e back unwritten.
func (s *spool) release(e *spoolEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.busy = false
}

// pending counts the windows waiting, and the oldest one's start.
func (s *spool) pending() (n int, bytes int64, oldest time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) > 0 {
		oldest = s.entries[0].start
	}
	return len(s.entries), s.diskBytes + s.memBytes + s.heldBytes, oldest
}

// memoryOnly counts the windows that are not on disk.
func (s *spool) memoryOnly() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		if e.name == "" && e.win == nil {
			n++
		}
	}
	return n
}

// close releases the lock. Windows in memory only are lost; the writer says
// so before it calls close.
func (s *spool) close() {
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
}
