package cmd

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/store"
)

// The finish marks that go with a batch of windows are those of the files
// read to their end whose every window handed to the writer is in the
// batch: not a file with a window outside it, nor one still being read or
// cut short.
func TestReplayBookFinishedBy(t *testing.T) {
	t.Parallel()
	b := newReplayBook(nil, slog.New(slog.DiscardHandler), false)
	a := &replayFile{path: "a.pcap", key: store.FileKey{1}, seq: map[int64]int{}}
	c := &replayFile{path: "c.pcap", key: store.FileKey{2}, seq: map[int64]int{}}
	row := []aggregate.Row{{Count: 1}}
	win := func(input, sec int) *aggregate.Window {
		w := &aggregate.Window{Start: streamBase.Add(time.Duration(sec) * time.Second), Rows: row, Input: input}
		if !b.tag(w) {
			t.Fatal("a window with rows was not passed on")
		}
		if !w.Rereadable {
			t.Error("a replayed file's window is not marked rereadable")
		}
		return w
	}
	end := func(input int) { b.tag(&aggregate.Window{Input: input, InputEnd: true}) }
	b.start(a)
	a1, a2 := win(0, 0), win(0, 10)
	b.readDone(a, true)
	end(0)
	b.start(c)
	c1 := win(1, 20)
	names := func(wins ...*aggregate.Window) []string {
		marks, files := b.finishedBy(wins)
		var out []string
		for i, f := range files {
			if marks[i].Key != f.key || marks[i].Windows != f.windows {
				t.Errorf("mark %d = %+v for %s (%d windows)", i, marks[i], f.path, f.windows)
			}
			out = append(out, filepath.Base(f.path))
		}
		return out
	}
	for _, c := range []struct {
		wins []*aggregate.Window
		want []string
	}{
		{[]*aggregate.Window{a1}, nil}, // a2 is not in it
		{[]*aggregate.Window{a1, a2}, []string{"a.pcap"}},
		{[]*aggregate.Window{a1, a2, c1}, []string{"a.pcap"}}, // c is still being read
	} {
		if d := cmp.Diff(c.want, names(c.wins...)); d != "" {
			t.Errorf("finishedBy(%d windows) (-want +got):\n%s", len(c.wins), d)
		}
	}
	b.readDone(c, true)
	end(1)
	if d := cmp.Diff([]string{"a.pcap", "c.pcap"}, names(a1, a2, c1)); d != "" {
		t.Errorf("both read to their end (-want +got):\n%s", d)
	}
	// Not read to its end (a stop request cut it): never marked.
	b.mu.Lock()
	c.complete = false
	b.mu.Unlock()
	if d := cmp.Diff([]string{"a.pcap"}, names(a1, a2, c1)); d != "" {
		t.Errorf("c cut short (-want +got):\n%s", d)
	}
}
