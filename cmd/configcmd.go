package cmd

// The config command: config check and config show, over the loader in
// config.go.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/netmon/netmon/cmd/internal/config"
	"github.com/netmon/netmon/store"
)

func newConfigCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Check the config file, or show the settings a command would use",
		Long: "netmon reads its settings from, strongest first: flags; environment variables named after the flags\n" +
			"(NETMON_WINDOW for --window); the config file (--config, $NETMON_CONFIG, else " + config.DefaultFile + "\n" +
			"when it exists), whose keys are the flags' names; the defaults.",
		// The subcommands read the file themselves, every error of it.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
	}
	c.AddCommand(newConfigCheckCmd(), newConfigShowCmd())
	return c
}

func newConfigCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a config file (default the one netmon would read) and print every error as FILE:LINE: message",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path, explicit := config.Path(c.Flags())
			if len(args) == 1 {
				path, explicit = args[0], true
			}
			if path == "" {
				return errors.New("no config file to check: give FILE")
			}
			if _, err := os.Stat(path); !explicit && errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no config file to check: %s does not exist (give FILE or --config)", path)
			}
			// A tree of its own, so that trying values on every command's
			// flags changes nothing that runs.
			tree := newRoot(io.Discard, io.Discard)
			file, err := config.Read(path, true, config.Keys(tree))
			if err != nil {
				return err
			}
			errs := config.Check(tree, file)
			for _, e := range errs {
				fmt.Fprintln(c.ErrOrStderr(), file.At(e))
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s: %d error(s)", path, len(errs))
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	}
}

func newConfigShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show [COMMAND [FLAG...]]",
		Short: "Print the settings COMMAND (default run) would use, and where each came from",
		Long: "show prints each setting of COMMAND with its value and its source: flag, env (the variable), file (the line)\n" +
			"or default, given the flags that follow, the environment and the config file. A DSN's password is never printed.",
		// The flags are COMMAND's, parsed by COMMAND's own flag set.
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			name := "run"
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				name, args = args[0], args[1:]
			}
			if slices.Contains(args, "-h") || slices.Contains(args, "--help") {
				return c.Help()
			}
			tree := newRoot(io.Discard, io.Discard)
			target, _, err := tree.Find([]string{name})
			if err != nil || target == tree || noConfig(target) || target.Name() == "config" {
				return fmt.Errorf("config show: %q is not a command that reads settings (run, replay, top, prune, migrate)", name)
			}
			// A value COMMAND's flag refuses is refused here in the words
			// COMMAND would use (--window must be at most 24h, ...).
			if err := target.ParseFlags(args); err != nil {
				return target.FlagErrorFunc()(target, err)
			}
			path, explicit := config.Path(target.Flags())
			file, err := config.Read(path, explicit, config.Keys(tree))
			if err != nil {
				return err
			}
			if err := config.Apply(target.Flags(), file, os.LookupEnv); err != nil {
				return err
			}
			return writeSettings(c.OutOrStdout(), target, file)
		},
	}
}

// computedDefaults work out the values that settings left empty stand for,
// as the commands do when they start.
var computedDefaults = map[string]func() string{
	"agent": func() string {
		if h, err := os.Hostname(); err == nil && h != "" {
			return h
		}
		return "netmon"
	},
	"db": defaultDBPath,
	"state-dir": func() string {
		if d := os.Getenv("NETMON_STATE_DIR"); d != "" {
			return d
		}
		return store.DefaultWriterConfig().StateDir
	},
}

// writeSettings prints the settings of c, one per line, with their source.
func writeSettings(w io.Writer, c *cobra.Command, file *config.File) error {
	if file != nil {
		fmt.Fprintf(w, "config file: %s\n", file.Path)
	} else {
		fmt.Fprintln(w, "config file: none")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// The value last: a BPF filter is long.
	fmt.Fprintln(tw, "SETTING\tFROM\tVALUE")
	c.Flags().VisitAll(func(fl *pflag.Flag) {
		if !config.FileKey(fl.Name) {
			return
		}
		v := fl.Value.String()
		if fl.Name == "dsn" {
			v = store.Redact(v)
		}
		src, where := config.SourceOf(c.Flags(), fl.Name)
		from := src.String()
		if where != "" {
			from += " " + where
		}
		value := strconv.Quote(v)
		if compute, ok := computedDefaults[fl.Name]; ok && v == "" && src == config.FromDefault {
			// An empty default stands for one netmon works out when it
			// starts: show that, as computed, rather than "".
			from, value = "computed", strconv.Quote(compute())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", fl.Name, from, value)
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	if file != nil {
		fmt.Fprintf(w, "nickname rules: %d (encrypted-dns and nicknames); devices: %d\n", len(file.Rules), len(file.Devices))
	}
	return nil
}
