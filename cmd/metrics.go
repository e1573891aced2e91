package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/web"
)

// opsFlags set the metrics listener and when /healthz gives up.
type opsFlags struct {
	listen         string
	unhealthyAfter time.Duration
	authFile       string
}

func (f *opsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "", "serve Prometheus /metrics, /healthz and the web dashboard on this address, e.g. 127.0.0.1:9108 (default off)")
	fs.StringVar(&f.authFile, "auth-file", "", "require the password (user:password) or token in this file for the web dashboard and its API")
	fs.DurationVar(&f.unhealthyAfter, "unhealthy-after", 5*time.Minute, "/healthz fails when database writes have failed for this long without one succeeding")
}

// stallAfter is how long the live read loop may go without returning from a
// read before /healthz calls capture stalled. A healthy loop returns at least
// every read timeout (100 ms) even on a silent interface; twice that would
// flap on a GC pause or a momentary full queue that libpcap's buffer
// absorbs, so the rule waits for a stall no probe interval could miss.
const stallAfter = 5 * time.Second

// sampleEvery is how often the read loop is asked to refresh libpcap's
// counters (and so to show it is alive).
const sampleEvery = time.Second

// monitor is what /metrics and /healthz read: the pipeline's own atomic
// counters, collected at scrape time, plus the few things only cmd sees (the
// writer's latency and outcome through WriterConfig.OnWrite, and the live
// read loop through captureWatch). Nothing here runs per packet except the
// captureWatch's flag check.
type monitor struct {
	// web, when set, is the store the dashboard reads, served beside
	// /metrics; auth guards it.
	web  web.Querier
	auth *web.Auth

	reg            *prometheus.Registry
	unhealthyAfter time.Duration
	now            func() time.Time

	writeLatency prometheus.Histogram
	lastWrite    atomic.Int64 // Unix ns of the last successful write; 0 before the first
	failingSince atomic.Int64 // Unix ns of the first failure since the last success; 0 when none

	stages  atomic.Pointer[pipelineStages]
	writer  atomic.Pointer[store.Writer]
	capture *captureWatch // nil unless capturing live
}

// pipelineStages are the running stages whose counters the metrics read.
type pipelineStages struct {
	Decoder    *capture.Decoder
	Learner    *resolver.Learner
	Table      *resolver.Table
	Classifier *resolver.Classifier
	PTR        *resolver.PTR // nil with --no-ptr
	Windows    *aggregate.Windows
	Devices    *devices.Tracker
	Queues     []queueGauge
}

// queueGauge is one channel between stages: its length, read at scrape time.
type queueGauge struct {
	name string
	len  func() int
	cap  int
}

// warnExposed warns when the dashboard answers beyond loopback without a
// password: a household's browsing history is sensitive.
func warnExposed(log *slog.Logger, ln net.Listener, auth *web.Auth) {
	if auth == nil && web.Exposed(ln.Addr()) {
		log.Warn("the web dashboard is reachable from other machines without a password; use --auth-file, or listen on 127.0.0.1",
			"listen", ln.Addr().String())
	}
}

func newMonitor(f opsFlags, live bool) (*monitor, error) {
	if f.unhealthyAfter <= 0 {
		return nil, fmt.Errorf("--unhealthy-after must be positive, got %s", f.unhealthyAfter)
	}
	var auth *web.Auth
	if f.authFile != "" {
		a, err := web.ReadAuth(f.authFile)
		if err != nil {
			return nil, err
		}
		auth = a
	}
	m := &monitor{
		auth:           auth,
		reg:            prometheus.NewRegistry(),
		unhealthyAfter: f.unhealthyAfter,
		now:            time.Now,
		writeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "netmon_store_write_duration_seconds",
			Help: "Duration of successful database writes, one transaction per window.",
			// From a local SQLite commit (milliseconds) to a remote
			// MariaDB under load (seconds); WriteTimeout is 30 s.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if live {
		m.capture = newCaptureWatch(m.now())
	}
	m.reg.MustRegister(
		m.writeLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newPipelineCollector(m),
	)
	return m, nil
}

// observeWrite is the writer's OnWrite hook.
func (m *monitor) observeWrite(took time.Duration, err error) {
	now := m.now().UnixNano()
	if err == nil {
		m.writeLatency.Observe(took.Seconds())
		m.lastWrite.Store(now)
		m.failingSince.Store(0)
		return
	}
	m.failingSince.CompareAndSwap(0, now)
}

// health says whether netmon is doing its job, and if not, why, in one line.
func (m *monitor) health() (bool, string) {
	now := m.now()
	if c := m.capture; c != nil {
		if c.ended.Load() {
			return false, "capture ended"
		}
		if idle := now.Sub(time.Unix(0, c.answered.Load())); idle > stallAfter {
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

func (m *monitor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if m.web != nil {
		web.Mount(mux, m.web, web.Options{Auth: m.auth})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := m.health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, reason)
	})
	return mux
}

// listen opens --listen before privileges are dropped (a port below 1024
// needs them). Nil without --listen.
func (f *opsFlags) open() (net.Listener, error) {
	if f.listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	return ln, nil
}

// serve answers /metrics and /healthz on ln until the returned function is
// called. Its goroutine ends with it.
func (m *monitor) serve(ln net.Listener, log *slog.Logger) (shutdown func()) {
	srv := &http.Server{
		Handler:           m.handler(),
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
		warnExposed(log, ln, m.auth)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

// captureWatch follows the live read loop without touching its per-packet
// path beyond one atomic flag check: once a second it asks the loop to read
// libpcap's counters, and the loop's answer is also the sign that it is
// alive. pcap_stats is called only from the reading goroutine because
// libpcap does not promise that a handle may be used from two threads (and
// gopacket does not lock Stats against reads).
type captureWatch struct {
	want                         atomic.Bool
	received, dropped, ifDropped atomic.Uint64
	answered                     atomic.Int64 // Unix ns of the loop's last answer
	ended                        atomic.Bool
}

func newCaptureWatch(now time.Time) *captureWatch {
	c := &captureWatch{}
	c.answered.Store(now.UnixNano())
	return c
}

// run asks for a sample every sampleEvery until ctx ends.
func (c *captureWatch) run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.want.Store(true)
		}
	}
}

// wrap starts the stall clock: opening the store may have taken longer
// than stallAfter, and that was no stall of capture.
func (c *captureWatch) wrap(src capture.Source) capture.Source {
	c.answered.Store(time.Now().UnixNano())
	return &watchedSource{Source: src, c: c}
}

func (c *captureWatch) store(st capture.Stats) {
	c.received.Store(st.Received)
	c.dropped.Store(st.Dropped)
	c.ifDropped.Store(st.IfDropped)
}

// watchedSource is a live Source that answers captureWatch's requests
// between reads, from the reading goroutine.
type watchedSource struct {
	capture.Source
	c *captureWatch
}

func (s *watchedSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	// Before the read: the previous frame's zero-copy bytes are decoded by
	// now, and a read blocked on a silent interface still returns within
	// the read timeout to answer.
	if s.c.want.Load() {
		s.c.want.Store(false)
		if st, err := s.Source.Stats(); err == nil {
			s.c.store(st)
		}
		s.c.answered.Store(time.Now().UnixNano())
	}
	return s.Source.ReadPacketData()
}

// Stats is called by the pipeline from the reading goroutine once reading
// has ended; the final counters are kept for the last scrapes.
func (s *watchedSource) Stats() (capture.Stats, error) {
	st, err := s.Source.Stats()
	if err == nil {
		s.c.store(st)
	}
	return st, err
}

func (s *watchedSource) Close() {
	s.c.ended.Store(true)
	s.Source.Close()
}

// pipelineCollector turns the stages' counters into metrics at scrape
// time, so the pipeline does no work for metrics nobody reads.
type pipelineCollector struct {
	m *monitor

	pcapReceived, pcapDropped, pcapIfDropped *prometheus.Desc
	frames, classified, namesLearned         *prometheus.Desc
	dnsResponses, tableEntries, evictions    *prometheus.Desc
	ptrLookups, ptrDropped, ptrLatency       *prometheus.Desc
	windows, rows, packetsCounted, overflow  *prometheus.Desc
	rowsByNickSource                         *prometheus.Desc
	storeWindows, writeFailures, spool       *prometheus.Desc
	lastWrite, queueLen, queueCap, build     *prometheus.Desc
	devices, deviceNames, capped             *prometheus.Desc
	dnsOffChain                              *prometheus.Desc
}

func newPipelineCollector(m *monitor) *pipelineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("netmon_"+name, help, labels, nil)
	}
	return &pipelineCollector{
		m:             m,
		pcapReceived:  d("pcap_received_total", "Packets libpcap received (passed the filter), sampled about once a second."),
		pcapDropped:   d("pcap_dropped_total", "Packets the kernel dropped because netmon read too slowly."),
		pcapIfDropped: d("pcap_interface_dropped_total", "Packets the interface or its driver dropped."),
		frames:        d("capture_frames_total", "Frames read, by decode outcome; each frame has exactly one.", "outcome"),
		classified:    d("packets_classified_total", "Decoded packets by the resolve stage's verdict; only counted ones reach a window.", "verdict"),
		namesLearned:  d("names_learned_total", "Names learned, by source: addresses from DNS answers and SVCB hints, flows from SNI, HTTP Host and QUIC, PTR answers.", "source"),
		dnsResponses:  d("dns_responses_total", "UDP DNS responses by whether they answered a query netmon saw.", "result"),
		tableEntries:  d("name_table_entries", "Addresses the name table holds."),
		evictions:     d("state_evictions_total", "Entries forgotten because a bounded map was full, by map.", "map"),
		ptrLookups:    d("ptr_lookups_total", "Finished PTR lookups by result.", "result"),
		ptrDropped:    d("ptr_requests_dropped_total", "PTR requests not made because the lookup queue was full."),
		ptrLatency:    d("ptr_lookup_duration_seconds", "Duration of finished PTR lookups."),
		windows:       d("windows_closed_total", "Windows closed by the aggregate stage."),
		rows:          d("window_rows_total", "Rows produced by closed windows."),
		rowsByNickSource: d("window_rows_by_nickname_source_total",
			"Rows produced by closed windows, by where their service name came from: catalogue, rule, asn, label, address.", "source"),
		packetsCounted: d("packets_counted_total", "Packets counted into a window."),
		overflow:       d("window_overflow_packets_total", "Packets counted under the (overflow) row because a window was full."),
		storeWindows:   d("store_windows_total", "Windows by what the writer did with them.", "result"),
		writeFailures:  d("store_write_failures_total", "Failed database write attempts (each retried)."),
		spool:          d("spool_windows", "Windows waiting in the spool for the database."),
		lastWrite:      d("store_last_write_timestamp_seconds", "Unix time of the last successful database write (0 before the first)."),
		queueLen:       d("queue_length", "Items waiting in a channel between stages (batches, or windows for the store).", "queue"),
		queueCap:       d("queue_capacity", "Size of a channel between stages.", "queue"),
		build:          d("build_info", "Always 1; the version label says which netmon runs.", "version"),
		devices:        d("devices", "Local devices the tracker remembers."),
		deviceNames:    d("device_names_total", "Device host names taken, by source: config, dhcp, mdns, netbios, ptr.", "source"),
		dnsOffChain: d("dns_off_chain_records_total",
			"DNS address records not learned because their owner is off the CNAME chain from the question (or there is no question)."),
		capped: d("flood_capped_total", "What went past a cap against floods, by cap: packets counted under an overflow row "+
			"(window_client_keys, window_keys, window_new_clients), packets of devices not tracked (devices_new, devices_router).", "cap"),
	}
}

func (p *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		p.pcapReceived, p.pcapDropped, p.pcapIfDropped, p.frames, p.classified, p.namesLearned,
		p.dnsResponses, p.tableEntries, p.evictions, p.ptrLookups, p.ptrDropped, p.ptrLatency,
		p.windows, p.rows, p.packetsCounted, p.overflow, p.storeWindows, p.writeFailures, p.spool,
		p.lastWrite, p.queueLen, p.queueCap, p.build, p.devices, p.deviceNames, p.rowsByNickSource, p.dnsOffChain, p.capped,
	} {
		ch <- d
	}
}

func (p *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(p.build, 1, version)
	if c := p.m.capture; c != nil {
		counter(p.pcapReceived, c.received.Load())
		counter(p.pcapDropped, c.dropped.Load())
		counter(p.pcapIfDropped, c.ifDropped.Load())
	}
	if w := p.m.writer.Load(); w != nil {
		st := w.Stats()
		counter(p.storeWindows, st.Spooled.Load(), "spooled")
		counter(p.storeWindows, st.MemoryOnly.Load(), "memory_only")
		counter(p.storeWindows, st.Recovered.Load(), "recovered")
		counter(p.storeWindows, st.Written.Load(), "written")
		counter(p.storeWindows, st.Duplicates.Load(), "duplicate")
		counter(p.storeWindows, st.Dropped.Load(), "dropped")
		counter(p.storeWindows, st.Rejected.Load(), "rejected")
		counter(p.storeWindows, st.SetAside.Load(), "set_aside_blocking")
		counter(p.writeFailures, st.Failures.Load())
		gauge(p.spool, float64(w.Pending()))
	}
	gauge(p.lastWrite, float64(p.m.lastWrite.Load())/1e9)
	s := p.m.stages.Load()
	if s == nil {
		return // the pipeline has not started yet
	}
	d := s.Decoder.Stats()
	for _, o := range []struct {
		name string
		v    uint64
	}{
		{"decoded", d.Decoded}, {"not_ip", d.NotIP}, {"other_ip", d.OtherIP}, {"truncated", d.Truncated},
		{"malformed", d.Malformed}, {"unsupported_encap", d.UnsupportedEncap}, {"bad_timestamp", d.BadTimestamp},
		{"fragment_held", d.FragmentsHeld}, {"fragment_dropped", d.FragmentsDropped},
	} {
		counter(p.frames, o.v, o.name)
	}
	cs := s.Classifier.Stats()
	counter(p.classified, cs.Counted.Load(), "counted")
	counter(p.classified, cs.DNS.Load(), "dns")
	counter(p.classified, cs.BothLocal.Load(), "both_local")
	counter(p.classified, cs.Transit.Load(), "transit")
	counter(p.classified, cs.NoAddr.Load(), "no_addr")

	l := s.Learner.Stats()
	counter(p.namesLearned, l.Addresses-l.SVCBHints, "dns")
	counter(p.namesLearned, l.SVCBHints, "svcb")
	counter(p.namesLearned, l.NamesSNI, "sni")
	counter(p.namesLearned, l.NamesHTTP, "http")
	counter(p.namesLearned, l.NamesQUIC, "quic")
	counter(p.dnsResponses, l.Matched, "matched")
	counter(p.dnsResponses, l.Unmatched, "unmatched")
	counter(p.dnsOffChain, l.OffChain)

	t := s.Table.Stats()
	gauge(p.tableEntries, float64(t.Entries))
	w := s.Windows.Stats()
	for _, e := range []struct {
		name string
		v    uint64
	}{
		{"name_table", t.Evicted}, {"name_table_views", t.ViewsEvicted}, {"name_table_pending", t.PendingDropped},
		{"decoder_name_flows", d.NameFlowsEvicted}, {"decoder_name_flows_started", d.NameFlowsStartedEvicted},
		{"learner_flows", l.FlowsEvicted}, {"learner_flows_protected", l.FlowsProtectedEvicted},
		{"learner_flow_buffers", l.FlowBuffersFull}, {"dns_tcp_streams", l.TCPEvicted},
		{"dns_queries", l.QueriesEvicted}, {"window_guesses", w.GuessEvict.Load()},
		{"window_flow_names", w.FlowNamesDropped.Load()},
	} {
		counter(p.evictions, e.v, e.name)
	}
	if s.PTR != nil {
		ps := s.PTR.Stats()
		counter(p.namesLearned, ps.OK, "ptr")
		counter(p.ptrLookups, ps.OK, "ok")
		counter(p.ptrLookups, ps.NotFound, "not_found")
		counter(p.ptrLookups, ps.Timeouts, "timeout")
		counter(p.ptrLookups, ps.Errors, "error")
		counter(p.ptrLookups, ps.Invalid, "invalid")
		counter(p.ptrDropped, ps.Dropped)
		counter(p.evictions, ps.NegativeEvicted, "ptr_negative")
		// PTR keeps its own four buckets (10 ms, 100 ms, 1 s, more); they
		// become a histogram with those bounds.
		var n uint64
		buckets := map[float64]uint64{}
		for i, bound := range []float64{.01, .1, 1} {
			n += ps.LatencyHist[i]
			buckets[bound] = n
		}
		n += ps.LatencyHist[3]
		ch <- prometheus.MustNewConstHistogram(p.ptrLatency, n, ps.LatencyTotal.Seconds(), buckets)
	}
	if s.Devices != nil {
		ds := s.Devices.Stats()
		gauge(p.devices, float64(ds.Devices))
		for src := devices.NamePTR; src <= devices.NameConfig; src++ {
			counter(p.deviceNames, ds.Names[src], src.String())
		}
		counter(p.evictions, ds.Evicted, "devices")
		counter(p.evictions, ds.AddrsDropped, "device_addrs")
		counter(p.capped, ds.NewCapped, "devices_new")
		counter(p.capped, ds.RouterCapped, "devices_router")
	}
	counter(p.windows, w.Windows.Load())
	counter(p.rows, w.Rows.Load())
	for s := range w.RowsByNickSource {
		counter(p.rowsByNickSource, w.RowsByNickSource[s].Load(), resolver.NickSource(s).String())
	}
	counter(p.packetsCounted, w.Packets.Load())
	counter(p.overflow, w.Overflow.Load())
	counter(p.capped, w.ClientKeysCapped.Load(), "window_client_keys")
	counter(p.capped, w.WindowKeysCapped.Load(), "window_keys")
	counter(p.capped, w.NewClientsCapped.Load(), "window_new_clients")
	for _, q := range s.Queues {
		gauge(p.queueLen, float64(q.len()), q.name)
		gauge(p.queueCap, float64(q.cap), q.name)
	}
}
