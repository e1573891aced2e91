//go:build e2e

package cmd

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
)

// liveSensor is `netmon run` capturing inside a network namespace.
type liveSensor struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

// startSensor starts `netmon run ARGS...` inside the namespace ns and waits
// until it logs that it captures and ready, when not nil, holds too. The
// test fails if netmon exits first; the process is killed when it ends.
func startSensor(t *testing.T, ns string, ready func() bool, args ...string) *liveSensor {
	t.Helper()
	s := &liveSensor{logs: &syncBuffer{}, exited: make(chan error, 1)}
	// ip netns exec execs netmon in place, so the PID is netmon's.
	s.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, netmonBinary(t), "run"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.logs.String(), "msg=capturing") || (ready != nil && !ready()) {
		select {
		case err := <-s.exited:
			t.Fatalf("netmon run exited before capturing: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("netmon run did not start capturing:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// stop sends sig and waits up to 30 s for a clean exit.
func (s *liveSensor) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("netmon run after %v: %v\n%s", sig, err, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("netmon run did not stop after %v:\n%s", sig, s.logs.String())
	}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestLiveVeth replays a real capture with tcpreplay onto one end of a veth
// pair while `netmon run` captures the other end, then checks that the rows
// equal those of `netmon replay` of the same file. Both ends live in a
// network namespace of their own, so nothing reaches any other network; the
// sensor reaches MariaDB through its Unix socket, which namespaces share.
func TestLiveVeth(t *testing.T) {
	needNetns(t)
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	dsn, db := migratedDB(t)

	var socket string
	if err := db.Get(&socket, "SELECT @@socket"); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "unix", socket, "root", ""
	unixDSN := cfg.FormatDSN()

	ns := vethNamespace(t, "nmt")

	// tcpdump records what crossed the veth, so that the live rows can be
	// checked row for row against a replay of exactly those packets.
	recording := filepath.Join(t.TempDir(), "live.pcap")
	var dumpLog syncBuffer
	dump := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", "nmcap", "-U", "-w", recording, "-s", "65535")
	dump.Stdout, dump.Stderr = &dumpLog, &dumpLog
	if err := dump.Start(); err != nil {
		t.Fatalf("tcpdump: %v (apt-get install tcpdump)", err)
	}
	dumpExited := make(chan error, 1)
	go func() { dumpExited <- dump.Wait() }()
	t.Cleanup(func() { _ = dump.Process.Kill() })

	sensor := startSensor(t, ns, func() bool { return strings.Contains(dumpLog.String(), "listening on") },
		"-i", "nmcap", "--dsn", unixDSN, "--agent", "live", "--no-ptr")
	logs := sensor.logs
	time.Sleep(300 * time.Millisecond)

	out := sh(t, "ip", "netns", "exec", ns, "tcpreplay", "-i", "nmsend", "--pps", "4000", file)
	if !regexp.MustCompile(`Successful packets:\s+\d+`).MatchString(out) || !regexp.MustCompile(`Failed packets:\s+0\b`).MatchString(out) {
		t.Fatalf("tcpreplay did not send every packet:\n%s", out)
	}
	time.Sleep(time.Second)
	sensor.stop(t, syscall.SIGINT)
	_ = dump.Process.Signal(syscall.SIGINT)
	select {
	case <-dumpExited:
	case <-time.After(10 * time.Second):
		t.Fatalf("tcpdump did not stop:\n%s", dumpLog.String())
	}
	if !strings.Contains(logs.String(), "pcap_dropped=0") {
		t.Errorf("libpcap dropped packets:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "Kernel filter failed") {
		t.Errorf("the kernel refused the BPF filter, so libpcap filtered in user space:\n%s", logs.String())
	}

	// Row for row, timestamps included, the live rows are what a replay of
	// the recorded packets writes.
	netmon(t, "replay", "--dsn", dsn, "--agent", "recorded", "--no-ptr", recording).mustSucceed(t)
	live, recorded := rowsOf(t, db, "live"), rowsOf(t, db, "recorded")
	if len(live) == 0 {
		t.Fatalf("live capture wrote no rows:\n%s", logs.String())
	}
	if d := cmp.Diff(stripAgent(recorded), stripAgent(live)); d != "" {
		t.Errorf("live rows differ from a replay of the recorded packets (-recorded +live):\n%s\nsensor log:\n%s", d, logs.String())
	}

	// And nothing was lost against the original file. tcpreplay compresses
	// the capture's 90 seconds into half a second, so the windows differ,
	// and an address that DNS gave two names during the capture is written
	// under the name it had when its window closed; the packets and bytes
	// per device cannot differ.
	netmon(t, "replay", "--dsn", dsn, "--agent", "replay", "--no-ptr", file).mustSucceed(t)
	replay := rowsOf(t, db, "replay")
	if d := cmp.Diff(clientTotals(replay), clientTotals(live)); d != "" {
		t.Errorf("live totals differ from a replay of %s (-replay +live):\n%s", file, d)
	}
	t.Logf("live: %d rows; sensor said: %s", len(live), lastLogLine(logs.String()))
}

func clientTotals(rows []dbRow) map[string][2]uint64 {
	m := map[string][2]uint64{}
	for _, r := range rows {
		for _, k := range []string{r.Client, "all"} {
			v := m[k]
			m[k] = [2]uint64{v[0] + r.Count, v[1] + r.Bytes}
		}
	}
	return m
}

// vethNamespace makes a network namespace of its own (name prefix plus a
// random suffix) holding a veth pair, nmcap and nmsend, up with a 9000-byte
// MTU, and removes it when the test ends. Nothing in it reaches any other
// network.
func vethNamespace(t *testing.T, prefix string) string {
	t.Helper()
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	ns := prefix + hex.EncodeToString(suffix)
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	sh(t, "ip", "-n", ns, "link", "add", "nmcap", "type", "veth", "peer", "name", "nmsend")
	for _, dev := range []string{"nmcap", "nmsend", "lo"} {
		sh(t, "ip", "-n", ns, "link", "set", dev, "mtu", "9000", "up")
	}
	return ns
}

func lastLogLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
