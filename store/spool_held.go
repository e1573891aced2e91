package store

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/netmon/netmon/aggregate"
)

// maxHeld caps the windows held in memory instead of the spool (see hold);
// past it they are spooled like any other. A replay's windows wait there
// only for the writer's next transaction, so 4 MiB hold some 8,000 one-row windows.
const maxHeld = 4 << 20

// heldSize estimates what a held window takes in memory, for maxHeld.
func heldSize(w *aggregate.Window) int64 {
	return 256 + 128*int64(BatchItems(w))
}

// hold queues w in memory, neither encoded nor fsynced, and reports true;
// false, queueing nothing, when the held windows already take maxHeld.
// Only a window that its input can make again may be held (a replayed
// file's: the file is marked finished only once all its windows are in
// the database), for a held window dies with the process.
func (s *spool) hold(w *aggregate.Window) bool {
	size := heldSize(w)
	s.mu.Lock()
	if s.heldBytes+size > maxHeld {
		s.mu.Unlock()
		return false
	}
	e := &spoolEntry{seq: s.nextSeq, start: w.Start, size: size, win: w}
	s.nextSeq++
	s.entries = append(s.entries, e)
	s.heldBytes += size
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// heldWindow is e's window if e is held, else nil.
func (s *spool) heldWindow(e *spoolEntry) *aggregate.Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.win
}

// spillHeld writes every held window into the spool, durably, as append
// would have, and counts them: for when the database fails, or the writer
// stops with windows left. Only the writer's goroutine calls it. A window
// the disk refuses stays held; the first such error is returned.
func (s *spool) spillHeld() (rep appendReport, spilled int, firstErr error) {
	s.mu.Lock()
	var held []*spoolEntry
	for _, e := range s.entries {
		if e.win != nil {
			held = append(held, e)
		}
	}
	s.mu.Unlock()
	for _, e := range held {
		data, err := encodeWindow(e.win)
		if err == nil {
			name := spoolName(e.seq, e.start)
			if err = writeDurable(s.dir, name, data); err == nil {
				s.mu.Lock()
				s.heldBytes -= e.size
				e.name, e.size, e.win = name, blocks(int64(len(data))), nil
				s.diskBytes += e.size
				s.enforceCaps(&rep)
				s.mu.Unlock()
				spilled++
				continue
			}
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return rep, spilled, firstErr
}

// heldCount counts the windows held in memory.
func (s *spool) heldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		if e.win != nil {
			n++
		}
	}
	return n
}

// following returns up to n entries after e, in order, and marks them held
// by the writer.
func (s *spool) following(e *spoolEntry, n int) []*spoolEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := -1
	for k, x := range s.entries {
		if x == e {
			i = k
			break
		}
	}
	if i < 0 {
		return nil
	}
	out := make([]*spoolEntry, 0, min(n, len(s.entries)-i-1))
	for _, x := range s.entries[i+1:] {
		if len(out) == n {
			break
		}
		x.busy = true
		out = append(out, x)
	}
	return out
}

// removeAll forgets es once the database has them, as remove does each, in
// one pass over the queue rather than one per window.
func (s *spool) removeAll(es []*spoolEntry) {
	gone := make(map[*spoolEntry]bool, len(es))
	for _, e := range es {
		gone[e] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = slices.DeleteFunc(s.entries, func(e *spoolEntry) bool {
		if !gone[e] {
			return false
		}
		switch {
		case e.win != nil:
			s.heldBytes -= e.size
		case e.name != "":
			s.diskBytes -= e.size
			_ = os.Remove(filepath.Join(s.dir, e.name))
		default:
			s.memBytes -= e.size
		}
		e.busy = false
		return true
	})
}
