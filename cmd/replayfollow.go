package cmd

// replay --follow: the capture files of a directory, taken as they are
// completed.

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/netmon/netmon/cmd/internal/pipeline"
)

// follower hands the completed capture files of a directory to the
// pipeline in name order (tcpdump -G names sort by time). A file is
// complete once a file after it exists, or once it has not changed for
// settle.
type follower struct {
	dir    string
	settle time.Duration
	force  bool
	book   *replayBook
	filter string
	log    *slog.Logger

	done map[string]bool // handed on or skipped; forgotten when gone from the directory
	seen map[string]fileSeen
	now  func() time.Time
}

type fileSeen struct {
	size  int64
	mtime time.Time
	since time.Time // when size and mtime were first seen as they are
}

func newFollower(dir string, settle time.Duration, force bool, book *replayBook, filter string, log *slog.Logger) *follower {
	return &follower{dir: dir, settle: settle, force: force, book: book, filter: filter, log: log,
		done: map[string]bool{}, seen: map[string]fileSeen{}, now: time.Now}
}

// pollEvery is how often the directory is listed: often enough that a
// short --settle is honoured, rarely enough to cost nothing.
func (f *follower) pollEvery() time.Duration {
	return min(max(f.settle/4, 100*time.Millisecond), 2*time.Second)
}

// next waits for the next complete file and returns it as an input; false
// when ctx ends first.
func (f *follower) next(ctx context.Context) (pipeline.Input, bool) {
	for {
		if in, ok, err := f.scan(ctx); err != nil {
			f.log.Error("cannot read the directory; trying again", "dir", f.dir, "err", err)
		} else if ok {
			return in, true
		}
		t := time.NewTimer(f.pollEvery())
		select {
		case <-ctx.Done():
			t.Stop()
			return pipeline.Input{}, false
		case <-t.C:
		}
	}
}

// scan lists the directory once and returns the first complete file not
// handed on yet, if any.
func (f *follower) scan(ctx context.Context) (pipeline.Input, bool, error) {
	des, err := os.ReadDir(f.dir)
	if err != nil {
		return pipeline.Input{}, false, err
	}
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			continue
		}
		names = append(names, de.Name())
	}
	slices.Sort(names)
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	for n := range f.done {
		if !present[n] {
			delete(f.done, n)
		}
	}
	for n := range f.seen {
		if !present[n] {
			delete(f.seen, n)
		}
	}
	now := f.now()
	for i, n := range names {
		if f.done[n] {
			continue
		}
		path := filepath.Join(f.dir, n)
		st, err := os.Stat(path)
		if err != nil {
			continue // gone since the listing
		}
		prev, ok := f.seen[n]
		if !ok || prev.size != st.Size() || !prev.mtime.Equal(st.ModTime()) {
			prev = fileSeen{size: st.Size(), mtime: st.ModTime(), since: now}
			f.seen[n] = prev
		}
		newer := i < len(names)-1
		if !newer && now.Sub(prev.since) < f.settle {
			return pipeline.Input{}, false, nil // in order: nothing after an incomplete file
		}
		f.done[n] = true
		delete(f.seen, n)
		id, err := checkReplayFile(path)
		if err != nil {
			f.log.Warn("not a capture file; left alone", "file", path, "err", err)
			continue
		}
		rf, err := f.book.begin(ctx, path, id, f.force)
		if err != nil {
			return pipeline.Input{}, false, err
		}
		if rf == nil {
			if f.book.remove {
				if err := os.Remove(path); err == nil {
					f.log.Info("removed: its windows are in the database", "file", path)
				}
			}
			continue
		}
		return fileInput(f.book, path, f.filter, rf), true, nil
	}
	return pipeline.Input{}, false, nil
}
