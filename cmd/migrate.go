package cmd

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/store"
)

func newMigrateCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var df dsnFlags
	var seedAgent string
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the database tables",
		Long: "migrate applies the schema versions embedded in netmon that the database does not have yet. Running it again is safe.\n\n" +
			"A MariaDB database made by the seed's setup (tables tcpdump_records and dns_records of its exact shape, no goose_db_version) is adopted in place: " +
			"its tables gain netmon's columns, every old row stays, under agent --seed-agent, with its bytes unknown (NULL). " +
			"Tables of those names in any other shape are refused in one line, and nothing is changed. See docs/upgrade.md.",
		Args: cobra.NoArgs,
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
			adopted, err := st.Adopt(c.Context(), seedAgent)
			if err != nil {
				return err
			}
			if adopted.Adopted {
				log.Info("adopted the seed's tables; every row kept", "agent", seedAgent,
					"tcpdump_records", adopted.Records, "dns_records", adopted.Names)
			}
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
	// A bad name stops migrate before it creates the database ("" is
	// the default, as Adopt reads it).
	c.Flags().Var(flagval.New(&seedAgent, store.DefaultSeedAgent, "string", func(s string) (string, error) {
		if s == "" {
			return s, nil
		}
		return s, store.CheckSeedAgent(s)
	}), "seed-agent", "agent name for the rows of an adopted seed database (letters, digits, '.', '_', '-')")
	return c
}
