//go:build e2e

package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/store/storetest"
)

// smallFiles writes the stream's packets into files of per packets each,
// named in order, in dir; it returns the files and the counted packets of
// each.
func smallFiles(t *testing.T, wins [][]pkt, per int, dir string) ([]string, map[string]uint64) {
	t.Helper()
	var all []pkt
	for _, w := range wins {
		all = append(all, w...)
	}
	var files []string
	counted := map[string]uint64{}
	for i := 0; i < len(all); i += per {
		name := filepath.Join(dir, fmt.Sprintf("%06d.pcap", i/per))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		for _, p := range all[i:min(i+per, len(all))] {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}, p.data); err != nil {
				t.Fatal(err)
			}
			if isCounted(p) {
				counted[name]++
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files, counted
}

// sqliteTotals are agent's packets and bytes.
func sqliteTotals(t *testing.T, db *sqlx.DB, agent string) [2]uint64 {
	t.Helper()
	var tot [2]uint64
	if err := db.QueryRow(`SELECT COALESCE(SUM(count), 0), COALESCE(SUM(bytes), 0) FROM tcpdump_records WHERE agent = ?`, agent).Scan(&tot[0], &tot[1]); err != nil {
		t.Fatal(err)
	}
	return tot
}

// TestReplayManySmallFiles: thousands of files of a few packets each — whose
// windows the writer commits many to a transaction, held in memory rather
// than spooled, with the files' finish marks — count exactly what a replay
// of the same packets in one file counts; killed with -9 part-way, every
// file marked finished has its packets in the database, and replaying the
// same files again (some named twice) gives the clean totals; a third
// replay skips every file.
func TestReplayManySmallFiles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "netmon.db")
	wins := makeStream(t, 120, 20)
	files, counted := smallFiles(t, wins, 3, t.TempDir())
	replay := func(agent string, args ...string) result {
		t.Helper()
		r := netmon(t, append([]string{"replay", "--no-ptr", "--db", path, "--agent", agent, "--state-dir", t.TempDir()}, args...)...)
		r.mustSucceed(t)
		return r
	}
	replay("one", writeStream(t, wins))
	replay("clean", files...)
	db := storetest.Open(t, "sqlite:"+path)
	var fed uint64
	for _, n := range counted {
		fed += n
	}
	one, clean := sqliteTotals(t, db, "one"), sqliteTotals(t, db, "clean")
	if one[0] != fed || clean[0] != fed || clean[1] != one[1] {
		t.Fatalf("%d files: %d packets %d bytes, one file of the same packets: %d, %d; %d fed", len(files), clean[0], clean[1], one[0], one[1], fed)
	}
	if n := finishedOf(t, db, "clean"); n != len(files) {
		t.Errorf("%d of %d files marked finished", n, len(files))
	}

	// kill -9 part-way.
	log := killReplayWhen(t, func() bool { return finishedOf(t, db, "k9") >= 40 },
		append([]string{"replay", "--no-ptr", "--db", path, "--agent", "k9", "--state-dir", t.TempDir()}, files...)...)
	var names [][]byte
	if err := db.Select(&names, `SELECT name FROM replay_files WHERE agent = 'k9' AND finished_at IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	var marked uint64
	for _, n := range names {
		marked += counted[string(n)]
	}
	atKill := sqliteTotals(t, db, "k9")
	if len(names) == 0 || len(names) == len(files) {
		t.Fatalf("kill -9 landed after %d of %d files finished; want part-way (log:\n%s)", len(names), len(files), log.String())
	}
	if atKill[0] < marked {
		t.Errorf("at the kill %d files are marked finished, holding %d packets, but the database has %d", len(names), marked, atKill[0])
	}
	again := append(append([]string{}, files...), files[:50]...)
	replay("k9", again...)
	if got := sqliteTotals(t, db, "k9"); got != clean {
		t.Errorf("kill -9 and again (%d files named twice): packets, bytes = %v, want the clean replay's %v", 50, got, clean)
	}
	r := replay("k9", files...)
	if n := strings.Count(r.stderr, "skipped: replayed before"); n != len(files) {
		t.Errorf("third replay skipped %d of %d files", n, len(files))
	}
	if got := sqliteTotals(t, db, "k9"); got != clean {
		t.Errorf("after a third replay: %v, want %v", got, clean)
	}
	if d := cmp.Diff(finishedOf(t, db, "clean"), finishedOf(t, db, "k9")); d != "" {
		t.Errorf("files marked finished (-clean +k9):\n%s", d)
	}
	t.Logf("%d files, %d packets; kill -9 after %d files marked finished (%d packets in the database)", len(files), fed, len(names), atKill[0])
}
