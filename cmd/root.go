// Package cmd holds netmon's cobra commands and the wiring of the pipeline
// stages; the work itself lives in capture, resolver, aggregate and store.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	"github.com/netmon/netmon/cmd/internal/config"
	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X github.com/netmon/netmon/cmd.version=…".
var version = "dev"

// Execute runs the command line and returns the process exit code. Errors
// are printed here, once, as one line.
func Execute() int {
	stop, err := startProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "netmon: %s\n", err)
		return 1
	}
	defer stop()
	return execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
}

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// A command routes the log package and the MySQL driver through its
	// own logger (see routeLogs); they get their defaults back when it
	// ends, so that a later command in the same process (a test) does not
	// write to this one's output.
	prevSlog, prevOut, prevFlags, prevDriver := slog.Default(), log.Writer(), log.Flags(), driverLog.Load()
	defer func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		driverLog.Store(prevDriver)
	}()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if fl := root.PersistentFlags().Lookup("log-format"); fl != nil && fl.Value.String() == "json" {
			// A log shipper reading JSON gets the reason of the exit as
			// one more record.
			slog.New(slog.NewJSONHandler(stderr, nil)).Error("netmon: " + oneLine(err))
			return 1
		}
		fmt.Fprintf(stderr, "netmon: %s\n", oneLine(err))
		return 1
	}
	return 0
}

// oneLine keeps an error to a single line, whatever a library put in it;
// the lines of several joined errors are kept apart by "; ".
func oneLine(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			parts = append(parts, strings.Join(f, " "))
		}
	}
	return strings.Join(parts, "; ")
}

type globalFlags struct {
	logLevel  slog.Level
	logFormat string
	config    string
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var g globalFlags
	conf := &config.Settings{}
	root := &cobra.Command{
		Use:           "netmon",
		Short:         "Count which web services the devices of a network talk to, in 10-second windows",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command's flags get their values from the environment and
		// the config file here, after parsing and before the command runs,
		// so that a command added later needs nothing of its own.
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			if noConfig(c) {
				return nil
			}
			return conf.Load(c)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// netmon --version prints what netmon version prints.
	root.SetVersionTemplate("netmon {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// A value its flag refused says so in the flag's own words:
		// --window must be at most 24h, got 25h.
		var bad *pflag.InvalidValueError
		if errors.As(err, &bad) && bad.Unwrap() != nil {
			return flagval.Error("--"+bad.GetFlag().Name, bad.Unwrap())
		}
		return fmt.Errorf("%w (see %q)", err, c.CommandPath()+" --help")
	})
	root.PersistentFlags().Var(flagval.Level(&g.logLevel, "info"), "log-level", "log level: debug, info, warn or error")
	root.PersistentFlags().Var(flagval.Enum(&g.logFormat, "text", "text", "json"), "log-format", "log format: text (key=value) or json (one object per line, for journald or a log shipper)")
	root.PersistentFlags().StringVar(&g.config, "config", "", "config file whose keys are the flags' names, below flags and NETMON_* variables "+
		"(default $NETMON_CONFIG, else "+config.DefaultFile+" when it exists; '' for none)")
	logger := func() (*slog.Logger, error) {
		// Level and format were checked as they were set.
		opts := &slog.HandlerOptions{Level: g.logLevel}
		l := slog.New(slog.NewTextHandler(stderr, opts))
		if g.logFormat == "json" {
			l = slog.New(slog.NewJSONHandler(stderr, opts))
		}
		routeLogs(l)
		return l, nil
	}
	root.AddCommand(newRunCmd(logger, conf), newServeCmd(logger), newReplayCmd(logger, conf), newMigrateCmd(logger), newPruneCmd(logger), newTopCmd(logger), newDevicesCmd(logger),
		newConfigCmd(), newVersionCmd())
	registerCompletions(root)
	return root
}

// routeLogs sends what libraries print through l, so that every line of
// standard error has the chosen format: the log package's default logger
// (at info), and the MySQL driver's own logger, which prints lines such as
// "[mysql] ... closing bad idle connection" (at warn, with
// component=mysql). Called before any DSN is parsed: the driver copies its
// logger into each parsed config.
func routeLogs(l *slog.Logger) {
	slog.SetDefault(l)
	driverLog.Store(l.With("component", "mysql"))
}

// driverLog is the logger the MySQL driver's lines go to; nil: standard
// error, as the driver prints them. The driver's own logger is set once,
// here, and reads this pointer: the driver keeps its logger in a plain
// variable, which commands run side by side in one process (tests) must
// not write.
var driverLog atomic.Pointer[slog.Logger]

func init() { _ = mysql.SetLogger(mysqlLogger{}) }

// mysqlLogger is the MySQL driver's Logger on slog.
type mysqlLogger struct{}

var plainDriverLog = log.New(os.Stderr, "[mysql] ", log.Ldate|log.Ltime)

func (mysqlLogger) Print(v ...any) {
	if l := driverLog.Load(); l != nil {
		l.Warn(strings.TrimSpace(fmt.Sprint(v...)))
		return
	}
	plainDriverLog.Print(v...)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print netmon's version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "netmon %s\n", version)
			return nil
		},
	}
}

// noConfig marks the commands that read no settings (version, help): a
// broken file must not stop them.
func noConfig(c *cobra.Command) bool {
	switch c.Name() {
	case "version", "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return true
	}
	return c.HasParent() && c.Parent().Name() == "completion"
}
