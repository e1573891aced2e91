package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/nickname"
)

// pipelineCollector turns the stages' counters into metrics at scrape
// time, so the pipeline does no work for metrics nobody reads.
type pipelineCollector struct {
	m *Monitor

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
	tables                                   [][]*prometheus.Desc // Tables' counters
}

func newPipelineCollector(m *Monitor) *pipelineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("netmon_"+name, help, labels, nil)
	}
	return &pipelineCollector{
		m:             m,
		tables:        tableDescs(),
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
	for _, t := range p.tables {
		for _, d := range t {
			ch <- d
		}
	}
}

func (p *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(p.build, 1, p.m.version)
	if c := p.m.watch; c != nil {
		counter(p.pcapReceived, c.received.Load())
		counter(p.pcapDropped, c.dropped.Load())
		counter(p.pcapIfDropped, c.ifDropped.Load())
	}
	if w := p.m.writer.Load(); w != nil {
		st := w.Stats()
		counter(p.storeWindows, st.Spooled.Load(), "spooled")
		counter(p.storeWindows, st.MemoryOnly.Load(), "memory_only")
		counter(p.storeWindows, st.Held.Load(), "held")
		counter(p.storeWindows, st.Recovered.Load(), "recovered")
		counter(p.storeWindows, st.Written.Load(), "written")
		counter(p.storeWindows, st.Duplicates.Load(), "duplicate")
		counter(p.storeWindows, st.Dropped.Load(), "dropped")
		counter(p.storeWindows, st.Rejected.Load(), "rejected")
		counter(p.storeWindows, st.SetAside.Load(), "set_aside_blocking")
		counter(p.writeFailures, st.Failures.Load())
		gauge(p.spool, float64(w.Pending()))
		p.collectTable(ch, len(Tables), &Snapshot{Writer: st})
	}
	gauge(p.lastWrite, float64(p.m.lastWrite.Load())/1e9)
	s := p.m.stages.Load()
	if s == nil {
		return // the pipeline has not started yet
	}
	snap := s.Snapshot()
	for i := range Tables {
		p.collectTable(ch, i, snap)
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
		counter(p.rowsByNickSource, w.RowsByNickSource[s].Load(), nickname.Source(s).String())
	}
	counter(p.packetsCounted, w.Packets.Load())
	counter(p.overflow, w.Overflow.Load())
	counter(p.capped, w.ClientKeysCapped.Load(), "window_client_keys")
	counter(p.capped, w.WindowKeysCapped.Load(), "window_keys")
	counter(p.capped, w.NewClientsCapped.Load(), "window_new_clients")
	for _, q := range s.Queues {
		gauge(p.queueLen, float64(q.Len()), q.Name)
		gauge(p.queueCap, float64(q.Cap), q.Name)
	}
}

// collectTable sends the metrics of table i of AllTables, read from snap.
func (p *pipelineCollector) collectTable(ch chan<- prometheus.Metric, i int, snap *Snapshot) {
	t := AllTables()[i]
	if t.absent(snap) {
		return
	}
	for j := range t.Counters {
		c := &t.Counters[j]
		kind := prometheus.CounterValue
		if c.Gauge {
			kind = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(p.tables[i][j], kind, float64(c.Read(snap)))
	}
}
