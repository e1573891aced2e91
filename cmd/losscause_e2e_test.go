//go:build e2e

package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture/capturetest"
	namesource "github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
)

// downDB is a database that never answers.
type downDB struct{}

func (downDB) Apply(context.Context, *aggregate.Window) (bool, error) {
	return false, errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
}

// spoolAll runs a writer over n windows of 40 rows with the database down
// and returns the exit error writerResult makes of what it lost.
func spoolAll(t *testing.T, cfg store.WriterConfig, n int) (*store.Writer, error) {
	t.Helper()
	cfg.Agent = "loss"
	cfg.DrainTimeout = 200 * time.Millisecond
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	w, err := store.NewWriter(cfg, store.WriterDeps{DB: downDB{}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	in := make(chan *aggregate.Window)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(context.Background(), in) }()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		win := &aggregate.Window{Start: base.Add(time.Duration(i) * 10 * time.Second)}
		for k := range 40 {
			win.Rows = append(win.Rows, aggregate.Row{
				Client: netip.AddrFrom4([4]byte{192, 168, 1, byte(k)}), Domain: fmt.Sprintf("host%d-%d.example.com", i, k),
				Nickname: "Example", Source: namesource.DNS, Count: 1, Bytes: 100,
			})
		}
		in <- win
	}
	close(in)
	<-done
	return w, writerResult(context.Background(), w, log)
}

// The exit line names the real cause of a loss: a full disk (a real
// tmpfs of 256 KiB, filled by the spool itself) is not the spool's cap,
// and the spool's cap is not a full disk.
func TestExitNamesLossCause(t *testing.T) {
	t.Run("disk full", func(t *testing.T) {
		if os.Geteuid() != 0 {
			capturetest.Missing(t, "this test mounts a small tmpfs and needs root (run make test as root)")
		}
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
			capturetest.Missing(t, "cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
		cfg := store.DefaultWriterConfig()
		cfg.StateDir = dir
		cfg.MaxMemoryBytes = 64 << 10
		w, err := spoolAll(t, cfg, 200)
		st := w.Stats()
		if st.DroppedCap.Load() != 0 || st.DroppedMemory.Load() == 0 || st.LostAtExit.Load() == 0 {
			t.Errorf("dropped at the cap %d, from memory %d, lost at exit %d; want 0, >0, >0",
				st.DroppedCap.Load(), st.DroppedMemory.Load(), st.LostAtExit.Load())
		}
		msg := fmt.Sprint(err)
		t.Log(msg)
		if !strings.Contains(msg, "the disk is full (no space left on device)") || strings.Contains(msg, "spool's cap") ||
			!strings.Contains(msg, "lost at exit") {
			t.Errorf("exit error %q: want the full disk named, not the spool's cap", msg)
		}
	})
	t.Run("spool cap", func(t *testing.T) {
		cfg := store.DefaultWriterConfig()
		cfg.StateDir = t.TempDir()
		cfg.MaxSpoolBytes = 64 << 10
		w, err := spoolAll(t, cfg, 100)
		msg := fmt.Sprint(err)
		t.Log(msg)
		if w.Stats().DroppedCap.Load() == 0 || !strings.Contains(msg, "dropped at the spool's cap") || strings.Contains(msg, "disk") {
			t.Errorf("exit error %q (dropped at the cap %d): want the spool's cap named, not the disk", msg, w.Stats().DroppedCap.Load())
		}
	})
}
