package store_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// TestReplayFiles: a file is new, then resumed until finished, then
// skipped; --force starts a new generation; prune forgets finished files
// older than its cutoff and keeps unfinished ones.
func TestReplayFiles(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			dsn := storetest.NewDSN(t, b)
			st := open(t, dsn, "pi")
			if _, _, err := st.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			write := func(name, content string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			a := write("a.pcap", "capture a")
			ka, size, err := store.FileKeyOf(a)
			if err != nil || size != 9 {
				t.Fatal(size, err)
			}
			if kc, _, _ := store.FileKeyOf(write("copy.pcap", "capture a")); kc != ka {
				t.Error("a copy of a file has another key")
			}
			if kb, _, _ := store.FileKeyOf(write("b.pcap", "capture b")); kb == ka {
				t.Error("two files of other content have one key")
			}

			s1, err := st.BeginReplay(t.Context(), ka, size, a, false)
			if err != nil || s1 != (store.ReplayState{}) {
				t.Fatalf("first BeginReplay = %+v, %v; want a new file, generation 0", s1, err)
			}
			if s, _ := st.BeginReplay(t.Context(), ka, size, a, false); !s.Resumed || s.Finished || s.Generation != 0 {
				t.Errorf("BeginReplay before FinishReplay = %+v, want resumed", s)
			}
			if err := st.FinishReplay(t.Context(), ka, 7); err != nil {
				t.Fatal(err)
			}
			if s, _ := st.BeginReplay(t.Context(), ka, size, a, false); !s.Finished || s.Windows != 7 || s.FinishedAt.IsZero() {
				t.Errorf("BeginReplay after FinishReplay = %+v, want finished with 7 windows", s)
			}
			if s, _ := st.BeginReplay(t.Context(), ka, size, a, true); s.Finished || s.Generation != 1 {
				t.Errorf("forced BeginReplay = %+v, want generation 1", s)
			}
			w0 := store.ReplayWindowID(ka, 0, time.Unix(100, 0), 0)
			if w0 == store.ReplayWindowID(ka, 1, time.Unix(100, 0), 0) || w0 == store.ReplayWindowID(ka, 0, time.Unix(100, 0), 1) ||
				w0 != store.ReplayWindowID(ka, 0, time.Unix(100, 0), 0) {
				t.Error("window IDs do not depend on exactly generation, start and rank")
			}

			// b is begun, never finished; a finished again.
			kb, sb, _ := store.FileKeyOf(filepath.Join(dir, "b.pcap"))
			if _, err := st.BeginReplay(t.Context(), kb, sb, "b.pcap", false); err != nil {
				t.Fatal(err)
			}
			if err := st.FinishReplay(t.Context(), ka, 3); err != nil {
				t.Fatal(err)
			}
			res, err := st.Prune(t.Context(), time.Now().Add(time.Hour), 0, nil)
			if err != nil || res.ReplayFiles != 1 {
				t.Fatalf("Prune = %+v, %v; want the one finished file", res, err)
			}
			if s, _ := st.BeginReplay(t.Context(), ka, size, a, false); s.Finished || s.Resumed {
				t.Errorf("after prune, a = %+v, want a new file", s)
			}
			if s, _ := st.BeginReplay(t.Context(), kb, sb, "b.pcap", false); !s.Resumed {
				t.Errorf("after prune, the unfinished b = %+v, want resumed", s)
			}
		})
	}
}

// TestBeginReplays: beginning many files in one call gives the states
// BeginReplay gives file after file — a new file, the same file again
// (resumed), a finished one (skipped, or with force a new generation, and
// again a newer one when it comes twice) — across more files than one
// transaction takes.
func TestBeginReplays(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			st := open(t, storetest.NewDSN(t, b), "pi")
			if _, _, err := st.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			key := func(i int) store.FileKey { return store.FileKey{byte(i), byte(i >> 8), 1} }
			// 1,001 new files, one given twice, over two transactions.
			var files []store.ReplayBegin
			for i := range 1001 {
				files = append(files, store.ReplayBegin{Key: key(i), Size: int64(i), Name: "f.pcap"})
			}
			files = append(files, files[3])
			sts, err := st.BeginReplays(t.Context(), files, false)
			if err != nil || len(sts) != len(files) {
				t.Fatal(len(sts), err)
			}
			for i, s := range sts[:1001] {
				if s != (store.ReplayState{}) {
					t.Fatalf("new file %d: %+v", i, s)
				}
			}
			if s := sts[1001]; !s.Resumed || s.Generation != 0 {
				t.Errorf("the same file twice: %+v, want resumed", s)
			}
			if err := st.FinishReplay(t.Context(), key(5), 2); err != nil {
				t.Fatal(err)
			}
			sts, err = st.BeginReplays(t.Context(), []store.ReplayBegin{files[5], files[6]}, false)
			if err != nil || !sts[0].Finished || sts[0].Windows != 2 || !sts[1].Resumed {
				t.Errorf("finished and unfinished: %+v %v", sts, err)
			}
			sts, err = st.BeginReplays(t.Context(), []store.ReplayBegin{files[5], files[5]}, true)
			if err != nil || sts[0].Finished || sts[0].Generation != 1 || sts[1].Generation != 2 {
				t.Errorf("forced twice: %+v %v", sts, err)
			}
			if s, err := st.BeginReplay(t.Context(), files[5].Key, 5, "f.pcap", false); err != nil || !s.Resumed || s.Generation != 2 {
				t.Errorf("after the forced batch: %+v %v", s, err)
			}
		})
	}
}
