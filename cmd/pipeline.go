package cmd

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
	"github.com/netmon/netmon/resolver"
)

// pipelineConfig is what run and replay share.
type pipelineConfig struct {
	Window time.Duration
	Live   bool
	Local  []netip.Prefix
	PTR    bool
}

// input is one capture to read: a live handle, or a file opened when its
// turn comes so that replaying many rotated files keeps one open at a time.
type input struct {
	name string
	open func() (capture.Source, error)
}

// pipelineResult is what a finished pipeline reports.
type pipelineResult struct {
	InputErrs   []error // per-input errors; the windows before the damage were still written
	Packets     uint64
	Windows     uint64
	Rows        uint64
	LostWindows uint64
	Capture     capture.Stats // libpcap's counters of the last source
}

// Channel sizes: each carries batches of up to capture.BatchSize packets, so
// a few slots absorb a stage's hiccup (a GC pause, a window close) without
// stalling libpcap's reads, while bounding what is in flight.
const (
	batchQueue  = 8
	windowQueue = 4 // a window is written in one transaction; more would only hide a slow database
)

// runPipeline reads every input in order through decode → learn → resolve →
// aggregate → store. It stops reading when ctx ends, and then still writes
// everything already read: the open window included.
func runPipeline(ctx context.Context, cfg pipelineConfig, inputs []input, sink aggregate.Sink, log *slog.Logger) (pipelineResult, error) {
	var res pipelineResult

	table := resolver.NewTable(resolver.TableConfig{})
	learner := resolver.NewLearner(resolver.LearnerConfig{}, table)
	classifier := resolver.NewClassifier(resolver.NewLocalNets(cfg.Local))
	var ptr *resolver.PTR
	var requester aggregate.PTRRequester
	if cfg.PTR {
		ptr = resolver.NewPTR(resolver.PTRConfig{}, table)
		requester = ptr
	}
	acfg := aggregate.DefaultConfig()
	acfg.Width = cfg.Window
	acfg.Live = cfg.Live
	windows := aggregate.New(acfg, aggregate.Dependencies{Names: table, PTR: requester})
	decoder := capture.NewDecoder(capture.DecoderConfig{})

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

	g.Go(func() error {
		defer close(decoded)
		for _, in := range inputs {
			if readCtx.Err() != nil {
				break
			}
			src, err := in.open()
			if err != nil {
				res.InputErrs = append(res.InputErrs, err)
				continue
			}
			log.Info("reading", "input", in.name)
			err = decoder.Run(readCtx, src, decoded)
			if st, serr := src.Stats(); serr == nil {
				res.Capture = st
			}
			src.Close()
			if err != nil {
				res.InputErrs = append(res.InputErrs, fmt.Errorf("%s: %w", in.name, err))
			}
		}
		return nil
	})
	g.Go(func() error { return stage(gctx, decoded, learned, learner.Learn) })
	g.Go(func() error { return stage(gctx, learned, resolved, classifier.Classify) })
	g.Go(func() error {
		defer stopPTR()
		return windows.Run(gctx, resolved, closed)
	})
	if ptr != nil {
		g.Go(func() error {
			if err := ptr.Run(ptrCtx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		w := writer{sink: sink, log: log, stop: ctx}
		for win := range closed {
			if !w.write(win) {
				res.LostWindows++
			}
		}
		return nil
	})
	err := g.Wait()

	res.Packets = windows.Stats().Packets.Load()
	res.Windows = windows.Stats().Windows.Load()
	res.Rows = windows.Stats().Rows.Load()
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

// writer writes windows to the sink, retrying a failed write with backoff.
// After a stop request it keeps trying only for the grace period, so a
// shutdown cannot hang on an absent database.
type writer struct {
	sink     aggregate.Sink
	log      *slog.Logger
	stop     context.Context
	deadline time.Time
}

const (
	writeAttempts = 6
	stopGrace     = 10 * time.Second
)

func (w *writer) write(win *aggregate.Window) bool {
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := w.writeCtx()
		err := w.sink.WriteWindow(ctx, win)
		cancel()
		if err == nil {
			return true
		}
		if attempt >= writeAttempts || w.pastGrace() {
			w.log.Error("window not written, its counts are lost", "window", win.Start, "rows", len(win.Rows), "attempts", attempt, "err", err)
			return false
		}
		w.log.Warn("write failed, will retry", "window", win.Start, "retry_in_s", backoff.Seconds(), "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (w *writer) writeCtx() (context.Context, context.CancelFunc) {
	if w.stop.Err() != nil {
		if w.deadline.IsZero() {
			w.deadline = time.Now().Add(stopGrace)
		}
		return context.WithDeadline(context.Background(), w.deadline)
	}
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (w *writer) pastGrace() bool {
	return !w.deadline.IsZero() && time.Now().After(w.deadline)
}
