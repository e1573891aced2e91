//go:build e2e

package cmd

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMetricsLiveUser runs `netmon run --user nobody --listen` on a veth in
// a network namespace of its own, replays a capture onto the other end, and
// checks that netmon gave up root (uids, capabilities), that capture still
// works as nobody, and that /metrics and /healthz show it.
func TestMetricsLiveUser(t *testing.T) {
	needNetns(t)
	file := filepath.Join(pcapDir(t), "netflix.pcap")

	// nobody must reach the state directory: t.TempDir's parents are 0700.
	state, err := os.MkdirTemp("", "netmon-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	ns := vethNamespace(t, "nmm")

	const listen = "127.0.0.1:9108" // the namespace is private: no clash
	sensor := startSensor(t, ns, nil, "-i", "nmcap", "--no-ptr",
		"--db", filepath.Join(state, "netmon.db"), "--state-dir", state, "--agent", "metrics",
		"--listen", listen, "--user", "nobody", "--window", "1s")
	logs := sensor.logs

	// Real, effective, saved and filesystem IDs are all nobody's, and the
	// capabilities root had are gone.
	status, err := os.ReadFile("/proc/" + strconv.Itoa(sensor.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for line := range strings.Lines(string(status)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for k, want := range map[string]string{
		"Name": "netmon", "Uid": "65534 65534 65534 65534", "Gid": "65534 65534 65534 65534",
		"Groups": "65534", "CapEff": "0000000000000000", "CapPrm": "0000000000000000",
	} {
		if fields[k] != want {
			t.Errorf("/proc/PID/status %s = %q, want %q", k, fields[k], want)
		}
	}

	client := nsClient(ns)
	before := scrape(t, client, "http://"+listen+"/metrics")
	for _, name := range []string{
		`netmon_capture_frames_total{outcome="decoded"}`, `netmon_windows_closed_total`,
		`netmon_store_windows_total{result="written"}`, `netmon_pcap_received_total`, `netmon_spool_windows`,
		`netmon_store_write_duration_seconds_count`, `netmon_queue_capacity{queue="decoded"}`,
		`netmon_names_learned_total{source="sni"}`, `netmon_state_evictions_total{map="name_table"}`,
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if before[`netmon_store_last_write_timestamp_seconds`] != 0 {
		t.Errorf("a write before any traffic: last write %v", before[`netmon_store_last_write_timestamp_seconds`])
	}

	started := time.Now()
	sh(t, "ip", "netns", "exec", ns, "tcpreplay", "-i", "nmsend", "--pps", "4000", file)
	// Each of these moves once the replay's windows are written; the first
	// window written may hold none of the catalogue's rows, so wait for all.
	moving := []string{
		`netmon_capture_frames_total{outcome="decoded"}`, `netmon_packets_classified_total{verdict="counted"}`,
		`netmon_packets_counted_total`, `netmon_windows_closed_total`, `netmon_window_rows_total`,
		`netmon_window_rows_by_nickname_source_total{source="catalogue"}`,
		`netmon_names_learned_total{source="dns"}`, `netmon_store_write_duration_seconds_count`,
	}
	allMoved := func(after map[string]float64) bool {
		for _, name := range moving {
			if after[name] <= before[name] {
				return false
			}
		}
		return true
	}
	var after map[string]float64
	for deadline := time.Now().Add(20 * time.Second); ; {
		after = scrape(t, client, "http://"+listen+"/metrics")
		// Device changes may be written in windows of their own before
		// the first counted window closes: wait for a closed window too.
		if after[`netmon_windows_closed_total`] > before[`netmon_windows_closed_total`] &&
			after[`netmon_store_windows_total{result="written"}`] >= 1 && after[`netmon_spool_windows`] == 0 &&
			after[`netmon_pcap_received_total`] > 0 && allMoved(after) {
			break
		}
		if time.Now().After(deadline) {
			break // the checks below say what did not move
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after[`netmon_store_windows_total{result="written"}`] < 1 || after[`netmon_spool_windows`] != 0 {
		t.Fatalf("no window written within 20 s of the replay; metrics: %v\nlog:\n%s", after, logs.String())
	}
	for _, name := range moving {
		if after[name] <= before[name] {
			t.Errorf("%s did not move: %v before, %v after", name, before[name], after[name])
		}
	}
	if last := after[`netmon_store_last_write_timestamp_seconds`]; last < float64(started.Unix()) {
		t.Errorf("last write at %v, before the replay began (%d)", last, started.Unix())
	}
	// The libpcap counters are sampled by the read loop about once a
	// second: they must catch up with what was decoded.
	if got, want := after[`netmon_pcap_received_total`], after[`netmon_capture_frames_total{outcome="decoded"}`]; got < want {
		t.Errorf("pcap_received %v < frames decoded %v", got, want)
	}

	resp, err := client.Get("http://" + listen + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}

	sensor.stop(t, syscall.SIGINT)
	if !strings.Contains(logs.String(), "msg=\"dropped privileges\" agent=metrics user=nobody") {
		t.Errorf("no log line about dropping privileges:\n%s", logs.String())
	}
}

// nsClient is an HTTP client whose connections are made inside the network
// namespace ns: each dial runs on an OS thread of its own that enters ns and
// is thrown away afterwards (a goroutine that exits locked ends its thread),
// so no other goroutine of the test ever runs in ns.
func nsClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
}

// scrape reads a Prometheus text page into "name{labels}" → value.
func scrape(t *testing.T, c *http.Client, url string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	return parseMetrics(t, resp.Body)
}
