package cmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/bench/workload"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/cmd/internal/pipeline"
	"github.com/netmon/netmon/devices"
)

// discardStore is a store stage that takes every window and keeps nothing,
// so the benchmark measures the pipeline in front of the database.
type discardStore struct{ rows int }

func (d *discardStore) Run(_ context.Context, in <-chan *aggregate.Window) error {
	for w := range in {
		d.rows += len(w.Rows)
	}
	return nil
}

// BenchmarkPipeline replays a workload built from the shared captures
// through decode → learn → resolve → aggregate (every stage but the
// database) and reports the cost per packet.
//
// Two sizes show what is per packet: the difference between them divided by
// the extra packets is the steady-state cost, free of each run's fixed start
// (tables, goroutines, the first window's maps).
func BenchmarkPipeline(b *testing.B) {
	for _, packets := range []int{100_000, 400_000} {
		b.Run(fmt.Sprintf("packets=%d", packets), func(b *testing.B) { benchPipeline(b, packets) })
	}
}

func benchPipeline(b *testing.B, packets int) {
	file := filepath.Join(b.TempDir(), "workload.pcap")
	if err := workload.Build(pcapDir(b), file, packets, 100_000); err != nil {
		b.Fatal(err)
	}
	cfg := pipeline.Config{Window: aggregate.DefaultConfig().Width, Devices: devices.DefaultConfig()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := []pipeline.Input{{Name: file, Open: func() (capture.Source, error) { return capture.OpenFile(file, capture.DefaultFilter) }}}
	var before, after runtime.MemStats
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if _, err := pipeline.Run(context.Background(), cfg, in, &discardStore{}, log); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N) * float64(packets)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/packet")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/packet")
}
