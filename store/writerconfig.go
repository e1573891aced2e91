package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// WriterConfig sets how the writer keeps windows safe and how hard it tries.
// DefaultWriterConfig gives the defaults.
type WriterConfig struct {
	// StateDir holds the spool, in StateDir/spool/<Agent>.
	StateDir string
	// Agent is the agent the windows are written for: the spool is its own.
	Agent string
	// MaxSpoolBytes caps the spool on disk; beyond it the oldest windows
	// are dropped, counted and logged.
	MaxSpoolBytes int64
	// DrainTimeout is how long the writer keeps writing after a stop
	// request before it leaves the rest in the spool. When the input ends
	// without a stop request (a replay), it is how long the writer waits
	// for a database that accepts nothing.
	DrainTimeout time.Duration
	// WriteTimeout bounds one transaction.
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed attempts,
	// which doubles from one to the other, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// MaxMemoryBytes caps the windows kept in memory only while the spool
	// cannot be written (disk full, read-only).
	MaxMemoryBytes int64
}

// DefaultWriterConfig returns the settings netmon runs with. 512 MiB of
// spool holds about a week of windows of 50 rows (8 KiB each on disk), two
// weeks of a quiet network's: outages longer than that are not a restart.
func DefaultWriterConfig() WriterConfig {
	return WriterConfig{
		StateDir:      "/var/lib/netmon",
		MaxSpoolBytes: 512 << 20,
		DrainTimeout:  10 * time.Second,
		WriteTimeout:  30 * time.Second,
		MinBackoff:    500 * time.Millisecond,
		// Low enough that writing resumes within seconds of the database
		// coming back; one connection attempt every 10 s costs nothing.
		MaxBackoff:     10 * time.Second,
		MaxMemoryBytes: memoryCap,
	}
}

// check reports a setting no writer can run with.
func (c WriterConfig) check() error {
	switch {
	case c.StateDir == "":
		return errors.New("writer settings: no StateDir")
	case c.MaxSpoolBytes <= 0 || c.MaxMemoryBytes <= 0:
		return fmt.Errorf("writer settings: MaxSpoolBytes %d, MaxMemoryBytes %d: want both positive", c.MaxSpoolBytes, c.MaxMemoryBytes)
	case c.DrainTimeout < 0 || c.WriteTimeout <= 0:
		return fmt.Errorf("writer settings: DrainTimeout %s, WriteTimeout %s: want zero or more, and positive", c.DrainTimeout, c.WriteTimeout)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("writer settings: MinBackoff %s, MaxBackoff %s: want a positive minimum at most the maximum", c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// WriterDeps are the writer's collaborators.
type WriterDeps struct {
	// DB is the database the windows go to; required.
	DB Applier
	// Log receives the writer's lines, under component=writer; nil
	// discards them.
	Log *slog.Logger
	// OnWrite, when set, is called after every database write attempt
	// with its duration and outcome, from the writer's goroutine. It is
	// how the metrics see write latency and failures without the writer
	// knowing about them; it must return quickly.
	OnWrite func(took time.Duration, err error)
}
