package cmd

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

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

// checkReplayFile refuses exactly what checkCaptureFile refuses, in the same
// words, and gives a regular capture file's identity as FileKeyOf reads it
// (classic pcap, checked by its header alone, and pcapng alike).
func TestCheckReplayFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	classic := writeStream(t, [][]pkt{{{streamBase, oneTCP(t)}}})
	paths := []string{
		classic,
		write("ng.pcapng", pcapngOf(layers.LinkTypeEthernet, oneTCP(t), uint64(streamBase.UnixNano()))),
		write("empty.pcap", nil),
		write("text.pcap", []byte("not a capture file, whatever its name says\n")),
		write("v3.pcap", append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 3, 0, 4, 0}, make([]byte, 40)...)),
		dir,
		filepath.Join(dir, "missing.pcap"),
	}
	for _, path := range paths {
		id, err := checkReplayFile(path)
		want := checkCaptureFile(path)
		if fmt.Sprint(err) != fmt.Sprint(want) {
			t.Errorf("%s: checkReplayFile %v, checkCaptureFile %v", filepath.Base(path), err, want)
			continue
		}
		if err != nil {
			continue
		}
		if st, _ := os.Stat(path); !st.Mode().IsRegular() {
			if id != nil { // a pipe or a device is taken on trust, unread
				t.Errorf("%s: identity %+v of a file that is not regular", filepath.Base(path), id)
			}
			continue
		}
		key, size, kerr := store.FileKeyOf(path)
		if id == nil || kerr != nil || id.key != key || id.size != size {
			t.Errorf("%s: identity %+v, FileKeyOf %x %d %v", filepath.Base(path), id, key, size, kerr)
		}
	}
}
