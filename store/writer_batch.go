package store

import (
	"context"
	"time"

	"github.com/netmon/netmon/aggregate"
)

// maxBatchWindows caps the windows of one transaction (group commit); the
// items they hold are capped by the applier's BatchLimit.
const maxBatchWindows = 256

// putHeld keeps win in memory instead of the spool when its input can make
// it again (Window.Rereadable), and reports whether it did. It does not
// while the database is failing — the spool is the fallback then — nor
// past maxHeld.
func (w *Writer) putHeld(win *aggregate.Window) bool {
	if !win.Rereadable || w.spillHeld.Load() {
		return false
	}
	if !w.spool.hold(win) {
		return false
	}
	w.stats.Held.Add(1)
	return true
}

// spill writes the held windows into the spool, durably: the database
// failed, or the writer stops with windows left.
func (w *Writer) spill() {
	if w.spool.heldCount() == 0 {
		return
	}
	rep, n, err := w.spool.spillHeld()
	w.stats.Spooled.Add(uint64(n))
	if err != nil {
		w.diskErr.Store(&err)
		if w.diskLog.allow(time.Now()) {
			w.log.Error("cannot write the spool; windows of replayed files are kept in memory only, and read again from their files if netmon dies before the database takes them",
				"spool", w.spool.dir, "err", oneLineErr(err))
		}
	}
	w.countDrops(rep)
}

// writeBatch writes e (whose window is win) together with the windows
// queued after it, in one transaction, when the applier can (BatchApplier)
// and more than one is queued. It reports true when they were all
// written; false, leaving e to be written alone, when it wrote nothing.
func (w *Writer) writeBatch(ctx context.Context, e *spoolEntry, win *aggregate.Window) bool {
	ba, ok := w.db.(BatchApplier)
	if !ok {
		return false
	}
	if w.solo > 0 {
		w.solo--
		return false
	}
	limit := ba.BatchLimit()
	items := BatchItems(win)
	if items > limit {
		return false
	}
	more := w.spool.following(e, maxBatchWindows-1)
	entries := []*spoolEntry{e}
	wins := []*aggregate.Window{win}
	for i, n := range more {
		nw, err := w.spool.load(n)
		add := BatchItems(nw) // 0 for a window that did not load
		if err != nil || items+add > limit {
			// A damaged file waits for its turn as the head, where it is
			// set aside; a large window is written alone.
			for _, x := range more[i:] {
				w.spool.release(x)
			}
			break
		}
		items += add
		entries = append(entries, n)
		wins = append(wins, nw)
	}
	if len(wins) == 1 {
		return false
	}
	actx, acancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	began := time.Now()
	applied, err := ba.ApplyBatch(actx, wins)
	acancel()
	if w.onWrite != nil {
		w.onWrite(time.Since(began), err)
	}
	if err != nil {
		// Each is tried alone, with the failure handling of one window:
		// retries, backoff, setting aside what the database refuses. A
		// window the database refuses fails no second batch on its way.
		for _, x := range entries[1:] {
			w.spool.release(x)
		}
		w.solo = len(entries) - 1
		return false
	}
	for i, x := range wins {
		w.succeeded(x, applied[i])
	}
	w.spool.removeAll(entries)
	return true
}

// countDrops counts and logs the windows an append or a spill dropped to
// keep within the spool's caps.
func (w *Writer) countDrops(rep appendReport) {
	now := time.Now()
	if rep.droppedMem > 0 {
		w.stats.Dropped.Add(uint64(rep.droppedMem))
		w.stats.DroppedMemory.Add(uint64(rep.droppedMem))
		if w.memLog.allow(now) {
			w.log.Error("the disk refuses the spool and the memory kept for windows is full: dropped the oldest windows, their counts are lost",
				"dropped_total", w.stats.DroppedMemory.Load(), "max_memory_bytes", w.spool.maxMem, "spool", w.spool.dir,
				"err", oneLineErr(w.DiskError()))
		}
		rep.dropped -= rep.droppedMem
	}
	if rep.dropped > 0 {
		w.stats.Dropped.Add(uint64(rep.dropped))
		w.stats.DroppedCap.Add(uint64(rep.dropped))
		if w.droppedSinceLog == 0 || rep.droppedFrom.Before(w.droppedFrom) {
			w.droppedFrom = rep.droppedFrom
		}
		if rep.droppedTo.After(w.droppedTo) {
			w.droppedTo = rep.droppedTo
		}
		w.droppedSinceLog += rep.dropped
		if w.dropLog.allow(now) {
			w.log.Error("spool is full: dropped the oldest windows, their counts are lost",
				"dropped", w.droppedSinceLog, "first", w.droppedFrom, "last", w.droppedTo,
				"dropped_total", w.stats.Dropped.Load(), "max_spool_bytes", w.cfg.MaxSpoolBytes, "spool", w.spool.dir)
			w.droppedSinceLog = 0
			w.droppedTo = time.Time{}
		}
	}
}
