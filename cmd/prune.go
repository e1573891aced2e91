package cmd

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/store"
)

func newPruneCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var df dsnFlags
	var olderThan time.Duration
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
			if olderThan == 0 {
				return errors.New("no age given: use --older-than, e.g. --older-than 90d")
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
			cutoff := time.Now().Add(-olderThan).UTC().Truncate(time.Second)
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
	c.Flags().Var(flagval.Age(&olderThan, limits["older-than"]), "older-than", "delete rows older than this age: 90d, 36h, 30m, 1d12h (required)")
	c.Flags().Var(flagval.Count(&batch, store.DefaultPruneBatch, limits["batch"]), "batch", "rows per transaction")
	df.register(c.Flags())
	return c
}
