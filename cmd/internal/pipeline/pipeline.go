// Package pipeline wires netmon's stages for run and replay: decode →
// learn (devices, names) → resolve → aggregate → store, each a goroutine
// of one errgroup joined by bounded channels of batches (docs/design.md).
// A stop request ends the reading; what was read still drains to the
// store, the open window included.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/cmd/internal/telemetry"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/classify"
	"github.com/netmon/netmon/resolver/dns"
	"github.com/netmon/netmon/resolver/localnet"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/ptr"
)

// Config is what run and replay share.
type Config struct {
	Window time.Duration
	Live   bool
	Local  []netip.Prefix
	PTR    bool
	// DNSMatch says which DNS responses the learner believes.
	DNSMatch dns.Match
	// Named names services and says where the name came from: the config
	// file's rules, the built-in catalogue, the owner of the address
	// (--asn-db). nil: nickname.Named alone.
	Named func(domain string, remote netip.Addr) (string, nickname.Source)
	// Devices is what the user set about devices (names by MAC, OUI file)
	// over devices.DefaultConfig().
	Devices devices.Config
	// Observe, when set, is given the stages before they start, for the
	// metrics to read their counters.
	Observe func(*telemetry.Stages)
	// Tag, when set, cuts windows at the end of every input, and is given
	// every closed window before the store: it gives a replayed file's
	// windows IDs that make a second replay skip them (cmd's replay
	// book), and says whether the window goes on to the store.
	Tag func(*aggregate.Window) bool
	// More, when set, is asked for the next input once the inputs given
	// are read (replay --follow); it waits, and says false when ctx ends.
	More func(ctx context.Context) (Input, bool)
}

// Input is one capture to read: a live handle, or a file opened when its
// turn comes so that replaying many rotated files keeps one open at a time.
type Input struct {
	Name string
	Open func() (capture.Source, error)
	// Started, when set, is called as the input's reading begins, and
	// Read when it ends, with whether it was read to its end, before the
	// input's cut goes down the pipeline: a replay's bookkeeping.
	Started func()
	Read    func(complete bool)
}

// Result is what a finished pipeline reports.
type Result struct {
	InputErrs []error // per-input errors; the windows before the damage were still written
	Packets   uint64
	Windows   uint64
	Rows      uint64
	Capture   capture.Stats // libpcap's counters of the last source
	// Frames is how many frames the inputs yielded. When a stop request
	// ended the reading, Cut is the input it cut short ("" when it fell
	// between two) and Unread the inputs never opened.
	Frames uint64
	Cut    string
	Unread int
}

// Interrupted reports whether a stop request ended the reading early.
func (r Result) Interrupted() bool { return r.Cut != "" || r.Unread > 0 }

// Channel sizes: each carries batches of up to capture.BatchSize packets, so
// a few slots absorb a stage's hiccup (a GC pause, a window close) without
// stalling libpcap's reads, while bounding what is in flight.
const (
	batchQueue = 8
	// The store stage only appends each window to its spool (an fsync, a
	// few milliseconds), never waiting for the database; a few slots absorb
	// a slow disk. Windows here are not yet durable: kill -9 loses them.
	windowQueue = 4
)

// Run reads every input in order through decode → learn → resolve →
// aggregate → store. It stops reading when ctx ends, and then still writes
// everything already read: the open window included.
func Run(ctx context.Context, cfg Config, inputs []Input, out Store, log *slog.Logger) (Result, error) {
	var res Result

	table := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
	lcfg := resolver.DefaultConfig()
	lcfg.DNS.Match = cfg.DNSMatch
	learner := resolver.New(lcfg, resolver.Deps{Table: table})
	local := localnet.New(cfg.Local)
	classifier := classify.New(classify.Deps{Local: local})
	var reverse *ptr.Resolver
	var requester aggregate.PTRRequester
	var devicePTR devices.PTRRequester
	// The PTR workers hand device names to the tracker, made below; they
	// only start answering once the pipeline runs.
	var tracker *devices.Tracker
	if cfg.PTR {
		reverse = ptr.New(ptr.DefaultConfig(), ptr.Deps{
			Table: table, DeviceName: func(a netip.Addr, name string) { tracker.PTRName(a, name) },
		})
		requester, devicePTR = reverse, reverse
	}
	registryRead := make(chan struct{})
	tracker = devices.New(cfg.Devices, devices.Deps{Local: local, PTR: devicePTR, Log: log.With("component", "devices")})
	acfg := aggregate.DefaultConfig()
	acfg.Width = cfg.Window
	acfg.Live = cfg.Live
	deps := aggregate.Deps{
		Names: table, PTR: requester, Named: cfg.Named, Devices: afterRegistry{tracker, registryRead},
	}
	// cut is the batch sent after each input when windows are cut at file
	// boundaries; it carries no packets through the stages.
	var cut *capture.Batch
	if cfg.Tag != nil {
		cut = &capture.Batch{}
		deps.Cut = func(b *capture.Batch) bool { return b == cut }
	}
	// A replay must count alike however the goroutines are scheduled. The
	// learn stage writes the names it learns into the table, and the
	// devices it sees into the tracker, which the windows read when they
	// close; running ahead it would let names from after a window's end
	// into the window, by as much as it happened to run ahead. So in a
	// replay one goroutine learns, classifies and counts each batch before
	// it takes the next (decoding and the store still run beside it): the
	// same order as stages in lockstep, without three goroutines handing
	// every batch on and waking each other for it. Live, windows close by
	// the wall clock as well, and the stages run free.
	windows := aggregate.New(acfg, deps)
	decoder := capture.NewDecoder(capture.DefaultDecoderConfig())

	// The group's context ends only when a stage fails; a stop request
	// (ctx) only stops reading, so what was read still drains to the store.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	readCtx, stopReading := context.WithCancel(gctx)
	defer stopReading()
	stopAfter := context.AfterFunc(ctx, stopReading)
	defer stopAfter()
	ptrCtx, stopPTR := context.WithCancel(gctx)
	defer stopPTR()

	decoded := make(chan *capture.Batch, batchQueue)
	learned := make(chan *capture.Batch, batchQueue)
	resolved := make(chan *capture.Batch, batchQueue)
	closed := make(chan *aggregate.Window, windowQueue)
	stages := &telemetry.Stages{
		Decoder: decoder, Learner: learner, Table: table, Classifier: classifier, PTR: reverse, Windows: windows,
		Devices: tracker,
		Queues: []telemetry.Queue{
			{Name: "decoded", Len: func() int { return len(decoded) }, Cap: cap(decoded)},
			{Name: "learned", Len: func() int { return len(learned) }, Cap: cap(learned)},
			{Name: "resolved", Len: func() int { return len(resolved) }, Cap: cap(resolved)},
			{Name: "windows", Len: func() int { return len(closed) }, Cap: cap(closed)},
		},
	}
	if cfg.Observe != nil {
		cfg.Observe(stages)
	}

	g.Go(func() error {
		defer close(decoded)
		for i := 0; ; i++ {
			if readCtx.Err() != nil {
				if ctx.Err() != nil {
					res.Unread = max(len(inputs)-i, 0)
				}
				break
			}
			var in Input
			switch {
			case i < len(inputs):
				in = inputs[i]
			case cfg.More != nil:
				var ok bool
				if in, ok = cfg.More(readCtx); !ok {
					continue // readCtx ended: the check above stops
				}
			}
			if in.Open == nil {
				break
			}
			src, err := in.Open()
			if err != nil {
				res.InputErrs = append(res.InputErrs, err)
				continue
			}
			log.Info("reading", "input", in.Name)
			if in.Started != nil {
				in.Started()
			}
			err = decoder.Run(readCtx, src, decoded)
			if st, serr := src.Stats(); serr == nil {
				res.Capture = st
			}
			if err == nil && ctx.Err() != nil {
				// Run returns at the end of the input or at a stop request:
				// this one came first (a source that ended at the very
				// moment of the request counts as cut, to be safe).
				res.Cut = in.Name
			}
			src.Close()
			if err != nil {
				res.InputErrs = append(res.InputErrs, fmt.Errorf("%s: %w", in.Name, err))
			}
			if in.Read != nil {
				in.Read(err == nil && res.Cut != in.Name)
			}
			if cut != nil {
				select {
				case decoded <- cut:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	// The tracker goes first: it takes the payloads of the device
	// protocols (DHCP, mDNS, NetBIOS) out of the batch, which the learner
	// would otherwise follow as flows.
	learn := func(b *capture.Batch) {
		tracker.Observe(b)
		learner.Learn(b)
	}
	if cfg.Live {
		g.Go(func() error { return stage(gctx, decoded, learned, learn) })
		g.Go(func() error { return stage(gctx, learned, resolved, classifier.Classify) })
		g.Go(func() error {
			defer stopPTR()
			return windows.Run(gctx, resolved, closed)
		})
	} else {
		g.Go(func() error {
			defer stopPTR()
			defer close(closed)
			for b := range decoded {
				learn(b)
				classifier.Classify(b)
				if err := windows.Step(gctx, b, closed); err != nil {
					return err
				}
			}
			return windows.Finish(gctx, closed)
		})
	}
	g.Go(func() error {
		defer close(registryRead)
		tracker.ReadRegistry() // beside the stages: capture must not wait for it
		return nil
	})
	if reverse != nil {
		g.Go(func() error {
			if err := reverse.Run(ptrCtx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	// The store stage takes every window at once (spooled to disk) and
	// writes to the database behind it; after a stop request (ctx) it keeps
	// writing for its drain timeout and leaves the rest in the spool.
	toStore := closed
	if cfg.Tag != nil {
		tagged := make(chan *aggregate.Window, windowQueue)
		g.Go(func() error {
			defer close(tagged)
			for w := range closed {
				if !cfg.Tag(w) {
					continue
				}
				select {
				case tagged <- w:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
		toStore = tagged
	}
	g.Go(func() error { return out.Run(ctx, toStore) })
	err := g.Wait()
	// The exit log: every stage's counter table (cmd/internal/telemetry), the
	// same counters /metrics shows, under the same names.
	telemetry.LogExit(log, stages.Snapshot())

	res.Packets = windows.Stats().Packets.Load()
	res.Windows = windows.Stats().Windows.Load()
	res.Rows = windows.Stats().Rows.Load()
	res.Frames = decoder.Stats().Read
	return res, err
}

// stage runs fn over every batch from in and passes the batch on. It returns
// when in is closed, or early when the group fails.
func stage(ctx context.Context, in <-chan *capture.Batch, out chan<- *capture.Batch, fn func(*capture.Batch)) error {
	defer close(out)
	for b := range in {
		fn(b)
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Store is the store stage: *store.Writer. Run must receive every window
// from in until in is closed, and never block on the database.
type Store interface {
	Run(stop context.Context, in <-chan *aggregate.Window) error
}

// afterRegistry holds the windows' device drains until the vendor registry
// has been read: capture starts at once, but the first window written names
// its devices' vendors even when a short replay ends before the read does.
type afterRegistry struct {
	*devices.Tracker
	read <-chan struct{}
}

func (a afterRegistry) Drain(dst []devices.Device) []devices.Device {
	<-a.read
	return a.Tracker.Drain(dst)
}
