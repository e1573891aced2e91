//go:build e2e

package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
)

// TestReplayCountsOnce: replaying a file twice, or again after kill -9
// part-way through, or a directory of files twice, gives the totals of one
// clean replay; --force counts again.
func TestReplayCountsOnce(t *testing.T) {
	dsn, db := migratedDB(t)
	wins := makeStream(t, 300, 40)
	file := writeStream(t, wins)
	replay := func(agent string, args ...string) result {
		t.Helper()
		r := netmon(t, append([]string{"replay", "--no-ptr", "--dsn", dsn, "--agent", agent, "--state-dir", t.TempDir()}, args...)...)
		r.mustSucceed(t)
		return r
	}
	replay("clean", file)
	cleanRows := stripAgent(rowsOf(t, db, "clean"))
	cleanP, cleanB := sum(cleanRows)
	windows := appliedOf(t, db, "clean")
	if cleanP == 0 || windows < 250 {
		t.Fatalf("clean replay wrote %d packets in %d windows", cleanP, windows)
	}

	// Twice: the second run skips the file in one line.
	replay("twice", file)
	r := replay("twice", file)
	if n := strings.Count(r.stderr, "skipped: replayed before"); n != 1 {
		t.Errorf("second replay says %d skip lines, want 1:\n%s", n, r.stderr)
	}
	if d := cmp.Diff(cleanRows, stripAgent(rowsOf(t, db, "twice"))); d != "" {
		t.Errorf("replayed twice differs from once (-once +twice):\n%s", d)
	}

	// A copy under another name is the same file.
	other := filepath.Join(t.TempDir(), "renamed.pcap")
	copyFile(t, file, other)
	if r := replay("twice", other); !strings.Contains(r.stderr, "skipped: replayed before") {
		t.Errorf("a renamed copy was not skipped:\n%s", r.stderr)
	}

	// --force counts again, on purpose.
	replay("twice", "--force", file)
	if p, b := packetsOf(t, db, "twice"); p != 2*cleanP || b != 2*cleanB {
		t.Errorf("after --force: %d packets %d bytes, want twice %d, %d", p, b, cleanP, cleanB)
	}

	// kill -9 part-way, then again.
	state := t.TempDir()
	log := killReplayWhen(t, func() bool { return appliedOf(t, db, "k9") >= 20 },
		"replay", "--no-ptr", "--dsn", dsn, "--agent", "k9", "--state-dir", state, file)
	atKill := appliedOf(t, db, "k9")
	killedP, _ := packetsOf(t, db, "k9")
	if atKill == 0 || atKill >= windows {
		t.Fatalf("kill -9 landed after %d of %d windows; want part-way (log:\n%s)", atKill, windows, log.String())
	}
	r = netmon(t, "replay", "--no-ptr", "--dsn", dsn, "--agent", "k9", "--state-dir", state, file)
	r.mustSucceed(t)
	if !strings.Contains(r.stderr, "an earlier replay of this file stopped part-way") {
		t.Errorf("the replay after kill -9 does not say it resumes:\n%s", r.stderr)
	}
	if d := cmp.Diff(cleanRows, stripAgent(rowsOf(t, db, "k9"))); d != "" {
		t.Errorf("kill -9 and again differs from once (-once +k9):\n%s", d)
	}
	p9, _ := packetsOf(t, db, "k9")
	t.Logf("kill -9 after %d of %d windows (%d of %d packets); after the second replay %d packets, one clean replay %d",
		atKill, windows, killedP, cleanP, p9, cleanP)

	// A directory of rotated files, twice, and once more with a file of it
	// named again: one skip line per file.
	files := splitStream(t, wins, 60, t.TempDir())
	replay("dir", files...)
	dirP, dirB := packetsOf(t, db, "dir")
	r = replay("dir", files...)
	if n := strings.Count(r.stderr, "skipped: replayed before"); n != len(files) {
		t.Errorf("second replay of %d files says %d skip lines:\n%s", len(files), n, r.stderr)
	}
	if p, b := packetsOf(t, db, "dir"); p != cleanP || b != cleanB || dirP != cleanP || dirB != cleanB {
		t.Errorf("directory replayed twice: %d packets %d bytes (first time %d, %d), want one clean replay's %d, %d", p, b, dirP, dirB, cleanP, cleanB)
	}
	if d := cmp.Diff(totals(cleanRows), totals(rowsOf(t, db, "dir"))); d != "" {
		t.Errorf("directory totals differ from one file's (-file +dir):\n%s", d)
	}
}

// killReplayWhen runs netmon with args and kills it with -9 once done
// says so (or after a minute), and returns its log.
func killReplayWhen(t *testing.T, done func() bool, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(netmonBinary(t), args...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return log
}

// startFollow starts `netmon replay --follow dir` as its own process.
func startFollow(t *testing.T, dsn, agent, state, dir string, extra ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	args := append([]string{"replay", "--no-ptr", "--dsn", dsn, "--agent", agent, "--state-dir", state, "--follow", dir}, extra...)
	cmd := exec.Command(netmonBinary(t), args...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, log
}

// finishedOf is how many files agent has replayed to the end.
func finishedOf(t *testing.T, db *sqlx.DB, agent string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM replay_files WHERE agent = ? AND finished_at IS NOT NULL`, agent); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool, log *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log:\n%s", what, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopFollow sends SIGTERM and wants a clean exit, as run's.
func stopFollow(t *testing.T, cmd *exec.Cmd, log *syncBuffer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("--follow after SIGTERM: %v; log:\n%s", err, log.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("--follow did not stop on SIGTERM; log:\n%s", log.String())
	}
}

// TestReplayFollow: files copied into a directory one by one, taken by
// replay --follow, stopped (SIGTERM) and restarted in the middle, and once
// killed with -9: the totals equal a replay of the same files, and with
// --remove every file is gone once its windows are in.
func TestReplayFollow(t *testing.T) {
	dsn, db := migratedDB(t)
	wins := makeStream(t, 120, 30)
	files := splitStream(t, wins, 10, t.TempDir())
	netmon(t, append([]string{"replay", "--no-ptr", "--dsn", dsn, "--agent", "ref", "--state-dir", t.TempDir()}, files...)...).mustSucceed(t)
	refP, refB := packetsOf(t, db, "ref")

	dir, state := t.TempDir(), t.TempDir()
	// The newest file is taken once it has been unchanged for --settle.
	const settle = "1s"
	cmd, log := startFollow(t, dsn, "follow", state, dir, "--settle", settle, "--remove")
	for i, f := range files[:6] {
		copyFile(t, f, filepath.Join(dir, filepath.Base(f)))
		if i%2 == 1 {
			time.Sleep(300 * time.Millisecond)
		}
	}
	waitFor(t, "the first 6 files", func() bool { return finishedOf(t, db, "follow") == 6 }, log)
	stopFollow(t, cmd, log)

	// Restart; two files arrive, and it is killed with -9 while on them.
	cmd, log = startFollow(t, dsn, "follow", state, dir, "--settle", settle, "--remove")
	for _, f := range files[6:8] {
		copyFile(t, f, filepath.Join(dir, filepath.Base(f)))
	}
	waitFor(t, "windows of file 7", func() bool { return appliedOf(t, db, "follow") > 65 }, log)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	cmd, log = startFollow(t, dsn, "follow", state, dir, "--settle", settle, "--remove")
	for _, f := range files[8:] {
		copyFile(t, f, filepath.Join(dir, filepath.Base(f)))
		time.Sleep(200 * time.Millisecond)
	}
	waitFor(t, "every file", func() bool { return finishedOf(t, db, "follow") == len(files) }, log)
	waitFor(t, "every file removed", func() bool {
		des, _ := os.ReadDir(dir)
		return len(des) == 0
	}, log)
	stopFollow(t, cmd, log)

	p, b := packetsOf(t, db, "follow")
	if p != refP || b != refB {
		t.Errorf("--follow with a restart and a kill -9: %d packets %d bytes, a replay of the same files %d, %d", p, b, refP, refB)
	}
	// Per client: per name, a correction that a restart separates from the
	// guess it corrects (a name learned in the file after) cannot move the
	// rows, as after any restart of run.
	if d := cmp.Diff(clientTotals(rowsOf(t, db, "ref")), clientTotals(rowsOf(t, db, "follow"))); d != "" {
		t.Errorf("--follow totals differ from a replay's (-replay +follow):\n%s", d)
	}
	t.Logf("--follow: %d files copied in one by one, SIGTERM after 6, kill -9 during the 8th: %d packets, %d bytes; replay of the same files: %d, %d",
		len(files), p, b, refP, refB)
}
