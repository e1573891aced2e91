package cmd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/cmd/internal/pipeline"
	"github.com/netmon/netmon/cmd/internal/telemetry"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/store"
)

// TestMetricsCounterTables replays a capture through the pipeline with the
// telemetry watching, then checks that every counter of every stage's table
// is in /metrics and in the exit log under the same name with the same
// value, and that the exit log has no key /metrics lacks.
func TestMetricsCounterTables(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	mon, err := newMonitor(opsFlags{unhealthyAfter: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	cfg := pipeline.Config{Window: aggregate.DefaultConfig().Width, Devices: devices.DefaultConfig(), Observe: mon.Observe}
	in := []pipeline.Input{{Name: file, Open: func() (capture.Source, error) { return capture.OpenFile(file, capture.DefaultFilter) }}}
	// A real writer, over a database that takes every window, so that its
	// table is checked too.
	wcfg := store.DefaultWriterConfig()
	wcfg.StateDir, wcfg.Agent = t.TempDir(), "tables"
	w, err := store.NewWriter(wcfg, store.WriterDeps{DB: takeAll{}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mon.SetWriter(w)
	if _, err := pipeline.Run(context.Background(), cfg, in, w, log); err != nil {
		t.Fatal(err)
	}
	if err := writerResult(context.Background(), w, log); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mon.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := parseMetrics(t, resp.Body)
	resp.Body.Close()
	exit := buf.String()

	n, nonzero := 0, 0
	for _, tb := range telemetry.AllTables() {
		if tb.Name == "ptr" {
			// No PTR lookups here (they would go to the network): the
			// table is absent from both.
			if _, ok := metrics["netmon_ptr_requests_total"]; ok || strings.Contains(exit, " msg=ptr ") {
				t.Error("the ptr table shows without PTR")
			}
			continue
		}
		names := map[string]bool{}
		for j := range tb.Counters {
			c := &tb.Counters[j]
			names[c.Name] = true
			metric := tb.MetricName(c)
			if metric != "netmon_"+tb.Name+"_"+c.Name && metric != "netmon_"+tb.Name+"_"+c.Name+"_total" {
				t.Errorf("%s %s: metric named %s", tb.Name, c.Name, metric)
			}
			got, ok := metrics[metric]
			if !ok {
				t.Errorf("exit log %s %s: no %s in /metrics", tb.Name, c.Name, metric)
				continue
			}
			logged, err := strconv.ParseUint(logValue(t, exit, tb.Name, c.Name), 10, 64)
			if err != nil {
				t.Fatalf("exit log %s %s: %v", tb.Name, c.Name, err)
			}
			if float64(logged) != got {
				t.Errorf("%s: exit log %s %s=%d, /metrics %v", metric, tb.Name, c.Name, logged, got)
			}
			n++
			if logged > 0 {
				nonzero++
			}
		}
		// Every key of the table's exit-log line is one of its counters.
		for _, line := range strings.Split(exit, "\n") {
			if !strings.Contains(line, " msg="+tb.Name+" ") {
				continue
			}
			for _, m := range regexp.MustCompile(`\b(\w+)=`).FindAllStringSubmatch(line, -1) {
				if k := m[1]; k != "time" && k != "level" && k != "msg" && !names[k] {
					t.Errorf("exit log %s: key %s is in no table, so not in /metrics", tb.Name, k)
				}
			}
		}
	}
	// The capture names its flows through DNS and TLS: the counters moved.
	for _, want := range []string{"netmon_names_dns_answers_total", "netmon_names_flows_sni_total", "netmon_dns_messages_total", "netmon_writer_windows_written_total"} {
		if metrics[want] == 0 {
			t.Errorf("%s = 0 after replaying %s", want, file)
		}
	}
	// The labelled series kept for dashboards read the same counters as
	// their table metrics (docs/operations.md lists the pairs).
	for labelled, table := range map[string]string{
		`netmon_capture_frames_total{outcome="decoded"}`:       "netmon_decoder_decoded_total",
		`netmon_capture_frames_total{outcome="fragment_held"}`: "netmon_decoder_fragments_held_total",
		`netmon_capture_frames_total{outcome="bad_timestamp"}`: "netmon_state_bad_timestamp_total",
		`netmon_dns_responses_total{result="matched"}`:         "netmon_dns_responses_matched_total",
		`netmon_dns_off_chain_records_total`:                   "netmon_dns_off_chain_total",
		`netmon_names_learned_total{source="sni"}`:             "netmon_names_flows_sni_total",
		`netmon_names_learned_total{source="svcb"}`:            "netmon_names_svcb_hints_total",
		`netmon_name_table_entries`:                            "netmon_state_table_entries",
		`netmon_state_evictions_total{map="name_table"}`:       "netmon_state_table_evicted_total",
		`netmon_state_evictions_total{map="learner_flows"}`:    "netmon_state_learner_flows_evicted_total",
		`netmon_state_evictions_total{map="dns_queries"}`:      "netmon_dns_queries_evicted_total",
		`netmon_state_evictions_total{map="device_addrs"}`:     "netmon_devices_addrs_dropped_total",
		`netmon_devices`: "netmon_devices_devices",
		`netmon_device_names_total{source="dhcp"}`:                "netmon_devices_names_dhcp_total",
		`netmon_window_overflow_packets_total`:                    "netmon_state_windows_overflow_packets_total",
		`netmon_flood_capped_total{cap="window_keys"}`:            "netmon_state_windows_keys_capped_total",
		`netmon_store_windows_total{result="written"}`:            "netmon_writer_windows_written_total",
		`netmon_store_windows_total{result="spooled"}`:            "netmon_writer_spooled_total",
		`netmon_store_windows_total{result="set_aside_blocking"}`: "netmon_writer_set_aside_blocking_total",
		`netmon_store_write_failures_total`:                       "netmon_writer_write_failures_total",
	} {
		l, lok := metrics[labelled]
		v, tok := metrics[table]
		if !lok || !tok || l != v {
			t.Errorf("%s = %v (%v), %s = %v (%v): want both, equal", labelled, l, lok, table, v, tok)
		}
	}
	t.Logf("%d table counters, %d nonzero, in /metrics and the exit log", n, nonzero)
}

func parseMetrics(t *testing.T, r io.Reader) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// takeAll is a database that takes every window.
type takeAll struct{}

func (takeAll) Apply(context.Context, *aggregate.Window) (bool, error) { return true, nil }
