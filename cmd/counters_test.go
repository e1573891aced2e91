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
	"github.com/netmon/netmon/cmd/internal/telemetry"
	"github.com/netmon/netmon/devices"
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
	cfg := pipelineConfig{Window: aggregate.DefaultConfig().Width, Devices: devices.DefaultConfig(), Observe: mon.Observe}
	in := []input{{name: file, open: func() (capture.Source, error) { return capture.OpenFile(file, capture.DefaultFilter) }}}
	if _, err := runPipeline(context.Background(), cfg, in, &discardStore{}, log); err != nil {
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
	for i := range telemetry.Tables {
		tb := &telemetry.Tables[i]
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
	for _, want := range []string{"netmon_names_dns_answers_total", "netmon_names_flows_sni_total", "netmon_dns_messages_total"} {
		if metrics[want] == 0 {
			t.Errorf("%s = 0 after replaying %s", want, file)
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
