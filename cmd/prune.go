package cmd

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netmon/netmon/store"
)

func newPruneCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var df dsnFlags
	var olderThan string
	var batch int
	c := &cobra.Command{
		Use:   "prune --older-than AGE",
		Short: "Delete rows older than AGE (e.g. 90d) in short batches",
		Long: "prune deletes the counts (tcpdump_records), names (dns_records) and window IDs (applied_windows) of every agent " +
			"whose time is older than AGE, a few thousand rows per transaction, so that sensors keep writing meanwhile. " +
			"AGE is a number with d (days), h, m or s, or a combination such as 1d12h. Run it daily from cron or a systemd timer.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			if olderThan == "" {
				return errors.New("no age given: use --older-than, e.g. --older-than 90d")
			}
			age, err := parseAge(olderThan)
			if err != nil {
				return fmt.Errorf("--older-than: %w", err)
			}
			if batch < 1 {
				return fmt.Errorf("--batch must be at least 1, got %d", batch)
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, err := df.open(ctx, log)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.CheckSchema(ctx); err != nil {
				return err
			}
			cutoff := time.Now().Add(-age).UTC().Truncate(time.Second)
			log.Info("pruning", "older_than", cutoff, "batch", batch)
			last := time.Now()
			res, err := st.Prune(ctx, cutoff, batch, func(table string, deleted int64) {
				if time.Since(last) >= 10*time.Second {
					log.Info("pruning", "table", table, "deleted", deleted)
					last = time.Now()
				}
			})
			log.Info("pruned", "older_than", cutoff, "tcpdump_records", res.Records, "dns_records", res.Names, "applied_windows", res.Applied,
				"device_addresses", res.Addresses, "devices", res.Devices, "replay_files", res.ReplayFiles)
			return err
		},
	}
	c.Flags().StringVar(&olderThan, "older-than", "", "delete rows older than this age: 90d, 36h, 30m, 1d12h (required)")
	c.Flags().IntVar(&batch, "batch", store.DefaultPruneBatch, "rows per transaction")
	df.register(c.Flags())
	return c
}

// parseAge reads an age such as 90d, 36h, 1d12h or 90m. Go durations stop
// at hours; days are what retention is counted in.
func parseAge(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil || days > 100*366 {
			return 0, fmt.Errorf("%q is not an age (want e.g. 90d, 36h or 1d12h)", s)
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q is not an age (want e.g. 90d, 36h or 1d12h)", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not a positive age", s)
	}
	return total, nil
}
