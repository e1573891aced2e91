// Package telemetry is what netmon tells about itself while it runs: the
// Prometheus /metrics endpoint (the stages' counters, read at scrape time),
// /healthz, and the watchdog that follows the live capture's read loop.
// cmd builds a Monitor, hands it the running stages and the store writer,
// and serves it on --listen beside the web dashboard.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/classify"
	"github.com/netmon/netmon/resolver/ptr"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/web"
)

// StallAfter is how long the live read loop may go without returning from a
// read before /healthz calls capture stalled. A healthy loop returns at least
// every read timeout (100 ms) even on a silent interface; twice that would
// flap on a GC pause or a momentary full queue that libpcap's buffer
// absorbs, so the rule waits for a stall no probe interval could miss.
const StallAfter = 5 * time.Second

// sampleEvery is how often the read loop is asked to refresh libpcap's
// counters (and so to show it is alive).
const sampleEvery = time.Second

// Monitor is what /metrics and /healthz read: the pipeline's own atomic
// counters, collected at scrape time, plus the few things only cmd sees (the
// writer's latency and outcome through WriterDeps.OnWrite, and the live
// read loop through CaptureWatch). Nothing here runs per packet except the
// CaptureWatch's flag check.
type Monitor struct {
	// web, when set, is the store the dashboard reads, served beside
	// /metrics; auth guards it.
	web     web.Querier
	auth    *web.Auth
	version string

	reg            *prometheus.Registry
	unhealthyAfter time.Duration
	now            func() time.Time

	writeLatency prometheus.Histogram
	lastWrite    atomic.Int64 // Unix ns of the last successful write; 0 before the first
	failingSince atomic.Int64 // Unix ns of the first failure since the last success; 0 when none

	stages atomic.Pointer[Stages]
	writer atomic.Pointer[store.Writer]
	watch  *CaptureWatch // nil unless capturing live
}

// Stages are the running stages whose counters the metrics read.
type Stages struct {
	Decoder    *capture.Decoder
	Learner    *resolver.Learner
	Table      *addrtable.Table
	Classifier *classify.Classifier
	PTR        *ptr.Resolver // nil with --no-ptr
	Windows    *aggregate.Windows
	Devices    *devices.Tracker
	Queues     []Queue
}

// Queue is one channel between stages: its length, read at scrape time.
type Queue struct {
	Name string
	Len  func() int
	Cap  int
}

// WarnExposed warns when the dashboard answers beyond loopback without a
// password: a household's browsing history is sensitive.
func WarnExposed(log *slog.Logger, ln net.Listener, auth *web.Auth) {
	if auth == nil && web.Exposed(ln.Addr()) {
		log.Warn("the web dashboard is reachable from other machines without a password; use --auth-file, or listen on 127.0.0.1",
			"listen", ln.Addr().String())
	}
}

// Config is what a Monitor needs.
type Config struct {
	// UnhealthyAfter is how long database writes may fail, with none
	// succeeding, before /healthz fails (--unhealthy-after).
	UnhealthyAfter time.Duration
	// Auth, when set, guards the web dashboard (--auth-file).
	Auth *web.Auth
	// Live says a live capture runs: /healthz then also watches its read
	// loop, and /metrics shows libpcap's counters.
	Live bool
	// Version is the build_info metric's label.
	Version string
}

// New builds a Monitor. Nothing is served until Serve.
func New(cfg Config) (*Monitor, error) {
	if cfg.UnhealthyAfter <= 0 {
		return nil, fmt.Errorf("--unhealthy-after must be positive, got %s", cfg.UnhealthyAfter)
	}
	m := &Monitor{
		auth:           cfg.Auth,
		version:        cfg.Version,
		reg:            prometheus.NewRegistry(),
		unhealthyAfter: cfg.UnhealthyAfter,
		now:            time.Now,
		writeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "netmon_store_write_duration_seconds",
			Help: "Duration of successful database writes, one transaction per window.",
			// From a local SQLite commit (milliseconds) to a remote
			// MariaDB under load (seconds); WriteTimeout is 30 s.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if cfg.Live {
		m.watch = newCaptureWatch(m.now())
	}
	m.reg.MustRegister(
		m.writeLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newPipelineCollector(m),
	)
	return m, nil
}

// ServeWeb serves the dashboard over q beside /metrics. Call before Serve.
func (m *Monitor) ServeWeb(q web.Querier) { m.web = q }

// SetWriter hands over the store writer whose counters /metrics shows and
// whose spool /healthz reports.
func (m *Monitor) SetWriter(w *store.Writer) { m.writer.Store(w) }

// Observe hands over the running stages; it fits the pipeline's Observe hook.
func (m *Monitor) Observe(s *Stages) { m.stages.Store(s) }

// Capture is the live read loop's watchdog; nil unless Config.Live.
func (m *Monitor) Capture() *CaptureWatch { return m.watch }

// ObserveWrite is the writer's OnWrite hook.
func (m *Monitor) ObserveWrite(took time.Duration, err error) {
	now := m.now().UnixNano()
	if err == nil {
		m.writeLatency.Observe(took.Seconds())
		m.lastWrite.Store(now)
		m.failingSince.Store(0)
		return
	}
	m.failingSince.CompareAndSwap(0, now)
}

// Health says whether netmon is doing its job, and if not, why, in one line.
func (m *Monitor) Health() (bool, string) {
	now := m.now()
	if c := m.watch; c != nil {
		if c.ended.Load() {
			return false, "capture ended"
		}
		if idle := now.Sub(time.Unix(0, c.answered.Load())); idle > StallAfter {
			return false, fmt.Sprintf("capture stalled: the read loop has not returned for %.0fs", idle.Seconds())
		}
	}
	if since := m.failingSince.Load(); since != 0 {
		if d := now.Sub(time.Unix(0, since)); d > m.unhealthyAfter {
			pending := 0
			if w := m.writer.Load(); w != nil {
				pending = w.Pending()
			}
			return false, fmt.Sprintf("database writes failing for %.0fs (more than --unhealthy-after %s); %d windows wait in the spool",
				d.Seconds(), m.unhealthyAfter, pending)
		}
	}
	return true, "ok"
}

func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if m.web != nil {
		web.Mount(mux, m.web, web.Options{Auth: m.auth})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := m.Health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, reason)
	})
	return mux
}

// Serve answers /metrics and /healthz on ln until the returned function is
// called. Its goroutine ends with it.
func (m *Monitor) Serve(ln net.Listener, log *slog.Logger) (shutdown func()) {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "listen", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("serving metrics", "listen", ln.Addr().String(), "dashboard", m.web != nil)
	if m.web != nil {
		WarnExposed(log, ln, m.auth)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}
