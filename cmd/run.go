package cmd

import (
	"net/netip"

	"github.com/netmon/netmon/asn"
	"github.com/netmon/netmon/cmd/internal/config"
	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/cmd/internal/pipeline"
	"github.com/netmon/netmon/resolver/nickname"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/store"
)

// commonFlags are the flags run and replay share.
type commonFlags struct {
	filter   string
	window   time.Duration
	localNet []netip.Prefix
	agent    string
	noPTR    bool
	dnsMatch dnsMatchFlag
	ouiFile  string
	asnDB    []string
	dsnFlags
	durabilityFlags
	ops opsFlags
	// conf is the config file, whose sections (nicknames, devices) only
	// run and replay use.
	conf *config.Settings
}

func (f *commonFlags) register(fs *pflag.FlagSet) {
	fs.Var(flagval.Filter(&f.filter, capture.DefaultFilter), "filter", "BPF filter expression (\"\" for none)")
	// Help shows the 2,200-character default as what it means; `netmon
	// config show` prints it whole.
	fs.Lookup("filter").DefValue = "TCP/UDP 53, 80, 443, 853 and fragments, DHCP/NetBIOS/mDNS; also in VLAN and PPPoE"
	fs.Var(flagval.Duration(&f.window, 10*time.Second, limits["window"]), "window", "window length")
	f.dsnFlags.register(fs)
	f.durabilityFlags.register(fs)
	fs.Var(flagval.Prefixes(&f.localNet), "local-net", "extra local networks, comma-separated CIDRs (private ranges are always local)")
	// The config file may write it as a YAML list.
	_ = fs.SetAnnotation("local-net", config.ListAnnotation, nil)
	fs.StringVar(&f.agent, "agent", "", "name of this sensor in the database (default the host name)")
	fs.BoolVar(&f.noPTR, "no-ptr", false, "do not look up PTR names for addresses DNS did not name")
	fs.Var(&f.dnsMatch, "dns-match-queries", dnsMatchUsage)
	fs.StringVar(&f.ouiFile, "oui-file", devices.DefaultOUIFile, "IEEE registry of MAC address vendors (oui.csv, Debian's ieee-data); a missing file names no vendors")
	fs.StringSliceVar(&f.asnDB, "asn-db", nil, "ASN database naming address-only traffic by its owner: asn-ipv4.csv/asn-ipv6.csv of @ip-location-db/asn or a GeoLite2/DB-IP ASN .mmdb (repeatable)")
	_ = fs.SetAnnotation("asn-db", config.ListAnnotation, nil)
	f.ops.register(fs)
}

// prepared is what a command needs before it starts reading.
type prepared struct {
	cfg    pipeline.Config
	store  *store.Store
	writer *store.Writer
	// applier is the writer's database; a replay hangs its book on it.
	applier *bookApplier
	log     *slog.Logger
	// dbFile is the SQLite database ("" for MariaDB): SQLite writes its
	// journal beside it.
	dbFile string
	// created are the directories netmon made while opening the store and
	// the spool, the state directory among them when it was missing.
	created []string
}

// privateState is what netmon made for itself and so hands to --user: this
// agent's spool, the spool folder above it (which only netmon uses), every
// directory it created on the way (a new --state-dir), and the SQLite file
// with its journals; and the directories it writes.
func (p *prepared) privateState() handOver {
	h := handOver{
		trees:    []string{p.writer.Dir()},
		files:    append([]string{filepath.Dir(p.writer.Dir())}, p.created...),
		writable: []string{p.writer.Dir()},
	}
	if p.dbFile != "" {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			h.files = append(h.files, p.dbFile+suffix)
		}
		h.writable = append(h.writable, filepath.Dir(p.dbFile))
	}
	return h
}

func (p *prepared) close() {
	p.writer.Close()
	p.store.Close()
}

// prepare opens the store and the spool. onWrite, if not nil, sees every
// database write attempt (the metrics).
func (f *commonFlags) prepare(ctx context.Context, logger func() (*slog.Logger, error), live bool, onWrite func(time.Duration, error)) (*prepared, error) {
	log, err := logger()
	if err != nil {
		return nil, err
	}
	// The flags' values were checked as they were set (window, filter,
	// local networks: cmd/internal/flagval).
	rules, names, err := f.conf.Sections()
	if err != nil {
		return nil, err
	}
	var owners *asn.DB
	if len(f.asnDB) > 0 {
		if owners, err = asn.Load(f.asnDB...); err != nil {
			return nil, fmt.Errorf("--asn-db: %w", err)
		}
		log.Info("ASN data loaded", "files", len(f.asnDB), "ranges", owners.Ranges())
	}
	ncfg := nickname.DefaultConfig()
	ncfg.Rules = rules
	nicknamer := nickname.New(ncfg, nickname.Deps{Owners: owners})
	agent := f.agent
	if agent == "" {
		if agent, err = os.Hostname(); err != nil || agent == "" {
			agent = "netmon"
		}
	}
	dsn, err := f.dsnFlags.resolve(log)
	if err != nil {
		return nil, err
	}
	log = log.With("agent", agent)
	var dbFile string
	if store.BackendOf(dsn) == store.SQLite {
		// sqlite:PATH or sqlite://PATH; Open checks it.
		dbFile = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
	}
	// The directories that do not exist yet and that opening the store or
	// the spool may create: those netmon made are its own to hand to --user.
	mayCreate := f.durabilityFlags.spoolDirs(agent)
	if dbFile != "" {
		mayCreate = append(mayCreate, filepath.Dir(dbFile))
	}
	missing := missingDirs(mayCreate...)
	st, err := openStore(ctx, dsn, agent, live, log)
	if err != nil {
		return nil, err
	}
	applier := &bookApplier{Applier: st}
	w, err := f.durabilityFlags.openWriter(applier, agent, log, onWrite)
	if err != nil {
		st.Close()
		return nil, err
	}
	dcfg := devices.DefaultConfig()
	dcfg.Names = names
	if f.ouiFile != "" { // --oui-file "" reads the default registry, as it always has
		dcfg.OUIFile = f.ouiFile
	}
	return &prepared{
		cfg: pipeline.Config{
			Window: f.window, Live: live, Local: f.localNet, PTR: !f.noPTR, DNSMatch: f.dnsMatch.m,
			Named: nicknamer.Named, Devices: dcfg,
		},
		store:   st,
		writer:  w,
		applier: applier,
		log:     log,
		dbFile:  dbFile,
		created: existing(missing),
	}, nil
}

func newRunCmd(logger func() (*slog.Logger, error), conf *config.Settings) *cobra.Command {
	f := commonFlags{conf: conf}
	var iface, runAs string
	c := &cobra.Command{
		Use:   "run -i IFACE",
		Short: "Capture live on an interface and write 10-second counts to the database",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if iface == "" {
				return errors.New("no interface given: use -i IFACE (e.g. -i eth0), NETMON_INTERFACE or interface: in the config file")
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			mon, err := newMonitor(f.ops, true)
			if err != nil {
				return err
			}
			// The listener first: an address in use stops netmon before
			// it creates a database or a spool.
			ln, err := f.ops.open()
			if err != nil {
				return err
			}
			p, err := f.prepare(ctx, logger, true, mon.ObserveWrite)
			if err != nil {
				closeListener(ln)
				return err
			}
			defer p.close()
			src, err := capture.OpenLive(liveConfig(iface, f.filter))
			if err != nil {
				closeListener(ln)
				return err
			}
			// Everything that needs privileges is open now: the listener,
			// the spool, the database, the capture handle.
			if runAs != "" {
				if err = dropPrivileges(runAs, p.privateState()); err == nil {
					p.log.Info("dropped privileges", "user", runAs)
				}
			}
			if err != nil {
				closeListener(ln)
				src.Close()
				return err
			}
			mon.SetWriter(p.writer)
			if ln != nil && p.store != nil {
				mon.ServeWeb(p.store)
			}
			if ln != nil {
				defer mon.Serve(ln, p.log)()
			}
			watchCtx, stopWatch := context.WithCancel(ctx)
			watchDone := make(chan struct{})
			go func() {
				defer close(watchDone)
				mon.Capture().Run(watchCtx)
			}()
			defer func() { stopWatch(); <-watchDone }()
			p.cfg.Observe = mon.Observe
			p.log.Info("capturing", "interface", iface, "filter", f.filter, "window_s", f.window.Seconds())
			in := pipeline.Input{Name: iface, Open: func() (capture.Source, error) { return mon.Capture().Wrap(src), nil }}
			res, err := pipeline.Run(ctx, p.cfg, []pipeline.Input{in}, p.writer, p.log)
			p.log.Info("stopped", "packets_counted", res.Packets, "windows", res.Windows, "rows", res.Rows,
				"pcap_received", res.Capture.Received, "pcap_dropped", res.Capture.Dropped, "if_dropped", res.Capture.IfDropped)
			werr := writerResult(ctx, p.writer, p.log)
			if err != nil {
				return err
			}
			return errors.Join(append(res.InputErrs, werr)...)
		},
	}
	c.Flags().VarP(flagval.Interface(&iface), "interface", "i", "interface to capture on (required)")
	c.Flags().Var(flagval.User(&runAs), "user", "after opening the capture, the spool and the database, run as this user and its groups (needs root)")
	f.register(c.Flags())
	return c
}

func newReplayCmd(logger func() (*slog.Logger, error), conf *config.Settings) *cobra.Command {
	f := commonFlags{conf: conf}
	var follow string
	var settle time.Duration
	var force, remove bool
	c := &cobra.Command{
		Use:   "replay FILE... | replay --follow DIR",
		Short: "Read pcap/pcapng files (\"-\" for standard input) through the pipeline, windows from packet time",
		Long: "replay reads capture files through the pipeline, windows from packet time. Each window of a file counts once: " +
			"replaying a file again (whole, after a crash part-way through, or as one of a directory) skips what is already " +
			"in the database, and a file replayed to its end before is skipped with one line; --force counts it again.\n\n" +
			"--follow DIR takes the capture files of a directory as they are completed, in name order (tcpdump -G names sort " +
			"by time): a file is complete once a file after it appears, or once it has not changed for --settle. It runs until " +
			"SIGTERM or Ctrl-C; a restart resumes where it stopped without counting anything twice.",
		Args: func(c *cobra.Command, args []string) error {
			if follow != "" {
				if len(args) > 0 {
					return fmt.Errorf("--follow reads a directory; give no files beside it (got %d)", len(args))
				}
				return nil
			}
			if len(args) == 0 {
				return errors.New("no capture files given: want at least 1 arg (FILE...), or --follow DIR")
			}
			if remove {
				return errors.New("--remove works with --follow only")
			}
			return nil
		},
		RunE: func(c *cobra.Command, files []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Every file must open before anything is created: a database,
			// a spool. Its identity is read on the way.
			ids := map[string]fileID{}
			for _, name := range files {
				id, err := checkReplayFile(name)
				if err != nil {
					return err
				}
				if id != nil {
					ids[name] = *id
				}
			}
			if follow != "" {
				if st, err := os.Stat(follow); err != nil {
					return fmt.Errorf("--follow: %w", err)
				} else if !st.IsDir() {
					return fmt.Errorf("--follow %s: not a directory", follow)
				}
			}
			mon, err := newMonitor(f.ops, false)
			if err != nil {
				return err
			}
			// The listener first: an address in use stops netmon before
			// it creates a database or a spool.
			ln, err := f.ops.open()
			if err != nil {
				return err
			}
			p, err := f.prepare(ctx, logger, false, mon.ObserveWrite)
			if err != nil {
				closeListener(ln)
				return err
			}
			defer p.close()
			mon.SetWriter(p.writer)
			if ln != nil && p.store != nil {
				mon.ServeWeb(p.store)
			}
			if ln != nil {
				defer mon.Serve(ln, p.log)()
			}
			p.cfg.Observe = mon.Observe
			book := newReplayBook(p.store, p.log, remove)
			p.applier.book = book
			p.cfg.Tag = book.tag
			inputs, skipped, err := replayInputs(ctx, book, files, ids, f.filter, force)
			if err != nil {
				return err
			}
			if follow != "" {
				fl := newFollower(follow, settle, force, book, f.filter, p.log)
				p.cfg.More = fl.next
				p.log.Info("following", "dir", follow, "settle_s", settle.Seconds(), "remove", remove)
			}
			res, err := pipeline.Run(ctx, p.cfg, inputs, p.writer, p.log)
			book.wait()
			p.log.Info("replayed", "files", len(inputs), "skipped_replayed_before", skipped, "frames_read", res.Frames,
				"packets_counted", res.Packets, "windows", res.Windows, "rows", res.Rows,
				"windows_already_written", p.writer.Stats().Duplicates.Load())
			werr := writerResult(ctx, p.writer, p.log)
			if err != nil {
				return err
			}
			if res.Interrupted() && follow == "" {
				res.InputErrs = append(res.InputErrs, interruptedError(res, len(inputs)))
			}
			return errors.Join(append(res.InputErrs, werr)...)
		},
	}
	c.Flags().StringVar(&follow, "follow", "", "take the capture files of this directory as they are completed, in name order, until stopped")
	c.Flags().Var(flagval.Duration(&settle, 30*time.Second, limits["settle"]), "settle", "with --follow: a file unchanged this long is complete even when no newer file appears")
	c.Flags().BoolVar(&remove, "remove", false, "with --follow: remove each file once all its windows are in the database")
	c.Flags().BoolVar(&force, "force", false, "count files again that were replayed to their end before")
	f.register(c.Flags())
	return c
}

// checkCaptureFile opens a replay's file as a capture and closes it again:
// a missing, unreadable or non-capture file is refused up front. Standard
// input ("-") and pipes can only be read once, so they are taken on trust.
func checkCaptureFile(name string) error {
	if name == "-" {
		return nil
	}
	if st, err := os.Stat(name); err == nil && !st.Mode().IsRegular() {
		return nil // a pipe or a device: reading its header would consume it
	}
	src, err := capture.OpenFile(name, "")
	if err != nil {
		return err
	}
	src.Close()
	return nil
}

// interruptedError says that a stop request cut a replay short, and how far
// it got: the windows of what was read are written all the same.
func interruptedError(res pipeline.Result, files int) error {
	where := "between two files"
	if res.Cut != "" {
		where = "in " + res.Cut
	}
	return fmt.Errorf("replay interrupted %s after %d frames: %d of %d files not read; the windows of what was read are written",
		where, res.Frames, res.Unread, files)
}

// liveConfig is capture's default live setup (promiscuous, a snap length
// that holds a whole ClientHello segment) with the user's filter.
func liveConfig(iface, filter string) capture.LiveConfig {
	cfg := capture.DefaultLiveConfig(iface)
	cfg.Filter = filter
	return cfg
}
