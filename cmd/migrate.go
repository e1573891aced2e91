package cmd

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/netmon/netmon/store"
)

func newMigrateCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var df dsnFlags
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the database tables",
		Long:  "migrate applies the schema versions embedded in netmon that the database does not have yet. Running it again is safe.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			d, err := df.resolve(log)
			if err != nil {
				return err
			}
			st, err := store.Open(c.Context(), store.Config{DSN: d})
			if errors.Is(err, store.ErrNoDatabase) {
				if err := store.CreateDatabase(c.Context(), d); err != nil {
					return err
				}
				log.Info("database created")
				st, err = store.Open(c.Context(), store.Config{DSN: d})
			}
			if err != nil {
				return err
			}
			defer st.Close()
			from, to, err := st.Migrate(c.Context())
			if err != nil {
				return err
			}
			if from == to {
				log.Info("schema is up to date", "version", to)
			} else {
				log.Info("schema migrated", "from", from, "to", to)
			}
			return nil
		},
	}
	df.register(c.Flags())
	return c
}
