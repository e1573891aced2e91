package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/cmd/internal/telemetry"
	"github.com/netmon/netmon/store"
)

// openStore connects and checks the schema. A live sensor whose database
// does not answer at all starts anyway, spooling until it does: a sensor
// booting while the link to a central database is down must not lose the
// traffic of the outage. Wrong credentials, an unknown database or missing
// tables are mistakes no wait will fix, and stop it at once. An SQLite file
// is netmon's own: it is created and migrated here, so that the first run
// needs no setup.
func openStore(ctx context.Context, dsn, agent string, live bool, log *slog.Logger) (*store.Store, error) {
	if store.BackendOf(dsn) == store.SQLite {
		return openSQLite(ctx, dsn, agent, log)
	}
	st, err := store.Open(ctx, store.Config{DSN: dsn, Agent: agent})
	if live && errors.Is(err, store.ErrUnreachable) {
		log.Error("the database does not answer; capturing anyway, windows wait in the spool until it does", "err", err)
		return store.Open(ctx, store.Config{DSN: dsn, Agent: agent, Lazy: true})
	}
	if err != nil {
		return nil, err
	}
	if err := st.CheckSchema(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openSQLite opens the SQLite database of dsn, creating the file when it is
// missing and bringing its schema up to date.
func openSQLite(ctx context.Context, dsn, agent string, log *slog.Logger) (*store.Store, error) {
	cfg := store.Config{DSN: dsn, Agent: agent}
	st, err := store.Open(ctx, cfg)
	if errors.Is(err, store.ErrNoDatabase) {
		if err := store.CreateDatabase(ctx, dsn); err != nil {
			return nil, err
		}
		log.Info("created the SQLite database", "dsn", dsn)
		st, err = store.Open(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	from, to, err := st.Migrate(ctx)
	if err == nil && from != to {
		log.Info("schema migrated", "from", from, "to", to, "dsn", dsn)
	}
	if err == nil {
		// A file migrated by a newer netmon is not this one's to write.
		err = st.CheckSchema(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// durabilityFlags set where windows wait for the database and for how long.
type durabilityFlags struct {
	stateDir     string
	spoolMax     int64
	drainTimeout time.Duration
}

func (f *durabilityFlags) register(fs *pflag.FlagSet) {
	def := store.DefaultWriterConfig()
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the spool of windows not yet in the database (default $NETMON_STATE_DIR, else "+def.StateDir+")")
	fs.Var(flagval.Size(&f.spoolMax, "512MiB", limits["spool-max"]), "spool-max", "size cap of the spool; beyond it the oldest windows are dropped (units B, KiB, MiB, GiB; KB, MB, GB mean the same)")
	fs.Var(flagval.Duration(&f.drainTimeout, def.DrainTimeout, limits["drain-timeout"]), "drain-timeout", "on SIGTERM/SIGINT, how long to keep writing to the database before leaving the rest in the spool")
}

// openWriter opens the spool for agent. Without --state-dir or
// $NETMON_STATE_DIR, a user who may not write /var/lib/netmon gets a spool
// under $XDG_STATE_HOME (~/.local/state) instead, with a warning; a
// directory the user named must work or netmon does not start.
func (f *durabilityFlags) openWriter(st store.Applier, agent string, log *slog.Logger, onWrite func(time.Duration, error)) (*store.Writer, error) {
	cfg := store.DefaultWriterConfig()
	cfg.Agent = agent
	deps := store.WriterDeps{DB: st, Log: log, OnWrite: onWrite}
	cfg.MaxSpoolBytes, cfg.DrainTimeout = f.spoolMax, f.drainTimeout

	explicit := f.stateDir
	if explicit == "" {
		explicit = os.Getenv("NETMON_STATE_DIR")
	}
	if explicit != "" {
		cfg.StateDir = explicit
		w, err := store.NewWriter(cfg, deps)
		if err != nil {
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
		return w, nil
	}
	w, err := store.NewWriter(cfg, deps)
	if err == nil || !refused(err) {
		return w, err
	}
	fallback := userStateDir()
	if fallback == "" {
		return nil, fmt.Errorf("%w (give --state-dir a directory netmon may write)", err)
	}
	log.Warn("cannot write the default state directory; using one of this user's", "default", cfg.StateDir, "state_dir", fallback, "err", err)
	cfg.StateDir = fallback
	if w, err = store.NewWriter(cfg, deps); err != nil {
		return nil, fmt.Errorf("%w (give --state-dir a directory netmon may write)", err)
	}
	return w, nil
}

// spoolDirs are the spool directories openWriter may use for agent: the
// named state directory's, else the default's and this user's fallback.
func (f *durabilityFlags) spoolDirs(agent string) []string {
	explicit := f.stateDir
	if explicit == "" {
		explicit = os.Getenv("NETMON_STATE_DIR")
	}
	if explicit != "" {
		return []string{store.SpoolDir(explicit, agent)}
	}
	dirs := []string{store.SpoolDir(store.DefaultWriterConfig().StateDir, agent)}
	if fallback := userStateDir(); fallback != "" {
		dirs = append(dirs, store.SpoolDir(fallback, agent))
	}
	return dirs
}

// missingDirs lists each of paths and their ancestors that do not exist.
func missingDirs(paths ...string) []string {
	var missing []string
	for _, p := range paths {
		for d := filepath.Clean(p); ; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
				break
			}
			if !slices.Contains(missing, d) {
				missing = append(missing, d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return missing
}

// existing keeps the directories of dirs that exist now.
func existing(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if st, err := os.Lstat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// refused reports an error that another directory would avoid.
func refused(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// userStateDir is $XDG_STATE_HOME/netmon, else ~/.local/state/netmon.
func userStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "netmon")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "state", "netmon")
	}
	return ""
}

// writerResult reports what the writer did when the pipeline has ended, and
// returns an error for windows that will not reach the database by
// themselves: dropped or set aside. Windows left in the spool are an error
// only when the input ended on its own (a replay that the database did not
// take in time); after a stop request they are the promised outcome.
func writerResult(ctx context.Context, w *store.Writer, log *slog.Logger) error {
	st := w.Stats()
	// The writer's exit-log line: the counters /metrics shows as
	// netmon_writer_<key>_total.
	telemetry.LogTable(log, &telemetry.WriterTable, &telemetry.Snapshot{Writer: st})
	var errs []error
	if left := st.Left.Load(); left > 0 {
		log.Warn("windows left in the spool; netmon writes them first at its next start with this --state-dir and --agent",
			"windows", left, "spool", w.Dir())
		if ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("%d windows are still in the spool %s: the database did not take them within --drain-timeout; the next netmon with this --state-dir and --agent writes them", left, w.Dir()))
		}
	}
	if lost := st.Lost(); lost > 0 {
		errs = append(errs, fmt.Errorf("%d windows could not be written to the database: %s (see the log above)", lost, lossCauses(w)))
	}
	return errors.Join(errs...)
}

// lossCauses names what lost each window: the spool's cap, a disk that
// refused the spool (full: ENOSPC, or read-only), or the database's refusal.
func lossCauses(w *store.Writer) string {
	st := w.Stats()
	var parts []string
	if n := st.DroppedCap.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d dropped at the spool's cap (--spool-max)", n))
	}
	disk := "the disk refused the spool"
	if err := w.DiskError(); errors.Is(err, syscall.ENOSPC) {
		disk = "the disk is full (no space left on device)"
	} else if err != nil {
		disk += " (" + oneLine(err) + ")"
	}
	if n := st.DroppedMemory.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d dropped from memory because %s and the memory kept for windows filled", n, disk))
	}
	if n := st.LostAtExit.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d held in memory because %s, lost at exit", n, disk))
	}
	if n := st.Dropped.Load() - st.DroppedCap.Load() - st.DroppedMemory.Load() - st.LostAtExit.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be encoded", n))
	}
	if n := st.Rejected.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d set aside in %s", n, filepath.Join(w.Dir(), "rejected")))
	}
	return strings.Join(parts, ", ")
}
