package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/store/storetest"
)

// oneTCP is an Ethernet frame of TCP/443 from local 192.168.1.23 to
// 203.0.113.5.
func oneTCP(t *testing.T) []byte {
	return tcpFrame(t, netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("203.0.113.5"), true, 100)
}

// pcapngOf writes frames of link type lt as pcapng, each at its raw
// nanosecond timestamp: pcapng's 64-bit times reach past 2262.
func pcapngOf(lt layers.LinkType, data []byte, ticks ...uint64) []byte {
	frames := make([]capturetest.Frame, len(ticks))
	for i, ts := range ticks {
		frames[i] = capturetest.Frame{Ticks: ts, Data: data}
	}
	return capturetest.PcapNG(lt, 0, frames...)
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// replayWatched runs `netmon replay ... -` with /metrics on, feeds it
// capture, waits until /metrics shows ready (or the process ends), then
// closes its input. It returns the last scrape, the log and the exit code.
func replayWatched(t *testing.T, capture []byte, ready func(map[string]float64) bool, args ...string) (map[string]float64, string, int) {
	t.Helper()
	listen := freeAddr(t)
	cmd := exec.Command(netmonBinary(t), append(append([]string{"replay", "--no-ptr", "--listen", listen}, args...), "-")...)
	cmd.Stdin = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if _, err := stdin.Write(capture); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var m map[string]float64
	// The replay waits on its input, so the counters stand still once it
	// has read what it was given; a minute is a generous bound for that.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get("http://" + listen + "/metrics")
		if err != nil {
			continue
		}
		m = parseMetrics(t, resp.Body)
		resp.Body.Close()
		if ready(m) {
			break
		}
	}
	stdin.Close()
	<-done
	done <- nil // for the cleanup
	return m, log.String(), cmd.ProcessState.ExitCode()
}

// Packet times past 2262 (where int64 nanoseconds end) are counted as
// damaged, on /metrics and in the exit log, and skipped: the packets
// around them are counted in their own windows, and nothing lands in 1816.
func TestReplayBadTimestamps(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := uint64(base.UnixNano())
	data := pcapngOf(layers.LinkTypeEthernet, oneTCP(t), good, ^uint64(0), 1<<63+5e17, good+1e9)
	db := filepath.Join(t.TempDir(), "ts.db")
	const badKey = `netmon_capture_frames_total{outcome="bad_timestamp"}`
	m, log, code := replayWatched(t, data, func(m map[string]float64) bool {
		return m[badKey] == 2 && m[`netmon_capture_frames_total{outcome="decoded"}`] == 2
	}, "--db", db, "--agent", "ts")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	if m[badKey] != 2 {
		t.Errorf("%s = %v, want 2", badKey, m[badKey])
	}
	if !strings.Contains(log, "bad_timestamp=2") {
		t.Errorf("exit log does not say bad_timestamp=2:\n%s", log)
	}
	rows := rowsOf(t, storetest.Open(t, "sqlite:"+db), "ts")
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %d", r.TS.UTC().Format(time.RFC3339), r.Count))
	}
	if want := base.Format(time.RFC3339) + " 2"; strings.Join(got, ",") != want {
		t.Errorf("rows %v, want [%s]", got, want)
	}
}

// A capture of a link type netmon does not read fails, under the default
// filter, with one short line that says so, not with the 2 KB filter
// libpcap could not compile for it.
func TestReplayUnknownLinkType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "user0.pcapng")
	if err := os.WriteFile(path, pcapngOf(layers.LinkType(147), oneTCP(t), uint64(time.Now().UnixNano())), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{path}, {"--filter", "tcp", path}} {
		r := netmon(t, append([]string{"replay", "--db", filepath.Join(t.TempDir(), "n.db"), "--no-ptr"}, args...)...)
		checkOneLineError(t, r, "unsupported link type 147", "user0.pcapng")
		if n := len(r.lastLine()); n > 300 || strings.Contains(r.lastLine(), "invalid filter") {
			t.Errorf("%v: error of %d bytes: %s", args, n, r.lastLine())
		}
	}
	// The same frame through standard input.
	cmd := exec.Command(netmonBinary(t), "replay", "--db", filepath.Join(t.TempDir(), "n.db"), "--no-ptr", "-")
	cmd.Stdin = bytes.NewReader(pcapngOf(layers.LinkType(147), oneTCP(t), uint64(time.Now().UnixNano())))
	out, _ := cmd.CombinedOutput()
	r := result{code: cmd.ProcessState.ExitCode(), stderr: string(out)}
	checkOneLineError(t, r, "unsupported link type 147")
}

// A DNS answer's records off the question's CNAME chain are not learned,
// and counted on /metrics and in the exit log: question evil.test,
// answered with "bank.example A 198.51.100.23", must not name that
// address bank.example. The chain's own record is learned as ever.
func TestReplayDNSOffChain(t *testing.T) {
	client, resolver := netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("192.168.1.1")
	evil, bank := netip.MustParseAddr("198.51.100.24"), netip.MustParseAddr("198.51.100.23")
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("evil.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	msg := func(response bool) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x4242, Response: response, RecursionDesired: true, RecursionAvailable: response})
		b.EnableCompression()
		_ = b.StartQuestions()
		_ = b.Question(q)
		if response {
			_ = b.StartAnswers()
			for _, a := range []struct {
				owner string
				addr  netip.Addr
			}{{"bank.example.", bank}, {"evil.test.", evil}} {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(a.owner), Class: dnsmessage.ClassINET, TTL: 300},
					dnsmessage.AResource{A: a.addr.As4()})
			}
		}
		out, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fw := newFrameWriter(t, "offchain.pcap")
	fw.UDP(base, client, resolver, 40000, 53, msg(false))
	fw.UDP(base.Add(time.Millisecond), resolver, client, 53, 40000, msg(true))
	for i, server := range []netip.Addr{bank, evil} {
		fw.TCP(base.Add(time.Second), client, server, uint16(50000+i), 443, 1, false, make([]byte, 100))
	}
	fw.Close()
	data, err := os.ReadFile(fw.Path)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "dns.db")
	const key = "netmon_dns_off_chain_records_total"
	m, log, code := replayWatched(t, data, func(m map[string]float64) bool { return m[key] >= 1 }, "--db", db, "--agent", "chain")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	if m[key] != 1 {
		t.Errorf("%s = %v, want 1", key, m[key])
	}
	if !strings.Contains(log, "off_chain=1") {
		t.Errorf("exit log does not say off_chain=1:\n%s", log)
	}
	got := map[string]string{}
	for _, r := range rowsOf(t, storetest.Open(t, "sqlite:"+db), "chain") {
		got[r.Nickname+" "+r.Domain] = r.Client
	}
	for k := range got {
		if strings.Contains(k, "bank.example") {
			t.Errorf("row named after the off-chain record: %q", k)
		}
	}
	if len(got) != 2 || !strings.Contains(fmt.Sprint(got), "evil.test") {
		t.Errorf("rows %v: want one for evil.test and one for %s by its address", got, bank)
	}
}

// TestLimits gives every bounded setting a value below and above its
// range, on the binary's command line: each is refused with exit 1 and
// one line naming the flag and the bound, and neither the database nor
// the spool is created. The same values in a config file are reported by
// netmon config check with their lines, and from the environment with the
// variable's name.
func TestLimits(t *testing.T) {
	cases := []struct {
		cmd, flag, value, want string
	}{
		{"replay", "window", "2000000h", "must be at most 24h, got 2000000h"},
		{"replay", "window", "500ms", "must be at least 1s, got 500ms"},
		{"run", "window", "25h", "must be at most 24h, got 25h"},
		{"replay", "drain-timeout", "2h", "must be at most 1h, got 2h"},
		{"replay", "drain-timeout", "-1s", "must be at least 0s, got -1s"},
		{"replay", "unhealthy-after", "0s", "must be at least 1s, got 0s"},
		{"run", "unhealthy-after", "720h", "must be at most 168h, got 720h"},
		{"replay", "spool-max", "1KiB", "must be at least 4KiB, got 1KiB"},
		{"run", "spool-max", "2TiB", "must be at most 1TiB, got 2TiB"},
		{"prune", "older-than", "30s", "must be at least 1m, got 30s"},
		{"prune", "older-than", "900000h", "must be at most 36600d, got 37500d"},
		{"prune", "batch", "0", "must be at least 1, got 0"},
		{"prune", "batch", "2000000", "must be at most 1000000, got 2000000"},
		{"top", "since", "900000h", "must be at most 36600d, got 37500d"},
		{"top", "limit", "2000000", "must be at most 1000000, got 2000000"},
		{"top", "limit", "-1", "must be at least 0, got -1"},
		{"replay", "settle", "50ms", "must be at least 100ms, got 50ms"},
		{"replay", "settle", "48h", "must be at most 24h, got 48h"},
	}
	run := func(t *testing.T, env []string, args ...string) (string, int, string) {
		t.Helper()
		dir := t.TempDir()
		db, state := filepath.Join(dir, "n.db"), filepath.Join(dir, "state")
		cmd := exec.Command(netmonBinary(t), args...)
		cmd.Env = append(os.Environ(), append([]string{"NETMON_DB=" + db, "NETMON_STATE_DIR=" + state, "NETMON_DSN="}, env...)...)
		out, _ := cmd.CombinedOutput()
		for _, p := range []string{db, state} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%v created %s", args, p)
			}
		}
		return string(out), cmd.ProcessState.ExitCode(), dir
	}
	for _, tc := range cases {
		t.Run(tc.cmd+"-"+tc.flag+"-"+tc.value, func(t *testing.T) {
			args := []string{tc.cmd, "--" + tc.flag, tc.value}
			switch tc.cmd {
			case "run":
				args = append(args, "-i", "lo")
			case "replay":
				args = append(args, "x.pcap")
			}
			out, code, _ := run(t, nil, args...)
			want := "netmon: --" + tc.flag + " " + tc.want + "\n"
			if code != 1 || out != want {
				t.Errorf("exit %d, output %q; want exit 1 and %q", code, out, want)
			}
		})
	}
	// config show refuses what the command would, in the same line.
	for _, tc := range cases {
		t.Run("show-"+tc.cmd+"-"+tc.flag+"-"+tc.value, func(t *testing.T) {
			out, code, _ := run(t, nil, "config", "show", tc.cmd, "--"+tc.flag, tc.value)
			want := "netmon: --" + tc.flag + " " + tc.want + "\n"
			if code != 1 || out != want {
				t.Errorf("exit %d, output %q; want exit 1 and %q", code, out, want)
			}
		})
	}
	t.Run("show-in-range", func(t *testing.T) {
		out, code, _ := run(t, nil, "config", "show", "replay", "--window", "24h")
		if code != 0 || !regexp.MustCompile(`(?m)^window +flag +"24h"$`).MatchString(out) {
			t.Errorf("config show replay --window 24h: exit %d, output:\n%s", code, out)
		}
	})
	t.Run("env", func(t *testing.T) {
		out, code, _ := run(t, []string{"NETMON_WINDOW=48h"}, "replay", "x.pcap")
		if want := "netmon: NETMON_WINDOW: must be at most 24h, got 48h\n"; code != 1 || out != want {
			t.Errorf("exit %d, output %q; want exit 1 and %q", code, out, want)
		}
	})
	t.Run("config", func(t *testing.T) {
		var text strings.Builder
		var want []string
		seen := map[string]bool{}
		for _, tc := range cases {
			if seen[tc.flag] {
				continue
			}
			seen[tc.flag] = true
			fmt.Fprintf(&text, "%s: %q\n", tc.flag, tc.value)
			want = append(want, fmt.Sprintf(":%d: %s: %s", len(want)+1, tc.flag, tc.want))
		}
		path := writeConfig(t, text.String())
		out, code, _ := run(t, nil, "config", "check", path)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if code != 1 || len(lines) != len(want)+1 {
			t.Fatalf("exit %d, output:\n%s\nwant %d lines", code, out, len(want)+1)
		}
		for i, w := range want {
			if lines[i] != path+w {
				t.Errorf("line %d: %q, want %q", i+1, lines[i], path+w)
			}
		}
		// A command reading the file stops on it too, in one line.
		out, code, _ = run(t, nil, "replay", "--config", path, "x.pcap")
		if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, path+":1: window: must be at most 24h") {
			t.Errorf("replay with the file: exit %d, %q", code, out)
		}
	})
}

// Files netmon reads whole, or into memory, are size-checked first: a
// config file over 1 MiB, an ASN database over 256 MiB and an auth file
// over 4 KiB are refused in one line before anything is created, without
// being read (they are sparse here: their size costs no disk).
func TestFileCaps(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	good := newFrameWriter(t, "good.pcap")
	good.TCP(time.Unix(1_700_000_000, 0), netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("203.0.113.5"), 50000, 443, 1, false, nil)
	good.Close()
	config := sparse("big.yaml", 2<<20)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"config", []string{"replay", "--config", config, good.Path}, "more than the 1 MiB a config file may hold"},
		{"config check", []string{"config", "check", config}, "more than the 1 MiB a config file may hold"},
		{"asn-db", []string{"replay", "--asn-db", sparse("asn-ipv4.csv", 300<<20), good.Path}, "more than the 256 MiB an ASN database may hold"},
		{"auth-file", []string{"replay", "--auth-file", sparse("auth", 5000), good.Path}, "more than 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, state := filepath.Join(dir, "n.db"), filepath.Join(dir, "state")
			cmd := exec.Command(netmonBinary(t), tc.args...)
			cmd.Env = append(os.Environ(), "NETMON_DB="+db, "NETMON_STATE_DIR="+state, "NETMON_DSN=")
			out, _ := cmd.CombinedOutput()
			r := result{code: cmd.ProcessState.ExitCode(), stderr: string(out)}
			checkOneLineError(t, r, tc.want)
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("%d lines of output, want 1:\n%s", n, r.stderr)
			}
			for _, p := range []string{db, state} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s created", p)
				}
			}
		})
	}
}

// With --log-format json every line of standard error is JSON, also the
// MySQL driver's: its connections are killed under a running replay, and
// the driver's "closing bad idle connection" comes through slog, tagged
// component=mysql, before the window is written on a new connection.
func TestLogFormatJSONDriverLines(t *testing.T) {
	dsn, db := migratedDB(t)
	p := startReplay(t, "--dsn", dsn, "--agent", "jsonlog", "--log-format", "json", "--window", "1s")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	frame := oneTCP(t)
	send := func(sec int) {
		t.Helper()
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(sec) * time.Second), CaptureLength: len(frame), Length: len(frame)}
		if err := p.pw.WritePacket(ci, frame); err != nil {
			t.Fatalf("feed: %v\n%s", err, p.log.String())
		}
	}
	rows := func() int {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM tcpdump_records WHERE agent = 'jsonlog'"); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitRows := func(want int) {
		t.Helper()
		// Windows close on packet time; the writer takes a moment.
		for deadline := time.Now().Add(time.Minute); rows() < want; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d rows, want %d:\n%s", rows(), want, p.log.String())
			}
		}
	}
	// Windows close once packet time is 2 s (the lateness) past their end.
	for sec := range 5 {
		send(sec)
	}
	waitRows(1)
	// Kill every connection to the test's database but this one: netmon's
	// idle connection dies under it.
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	rs, err := conn.QueryContext(t.Context(), "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rs.Close()
	for _, id := range ids {
		_, _ = conn.ExecContext(t.Context(), fmt.Sprintf("KILL %d", id))
	}
	conn.Close()
	if len(ids) == 0 {
		t.Fatal("no connection of netmon's to kill")
	}
	send(5) // closes another window, written on a new connection
	waitRows(2)
	if code := p.wait(time.Minute); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log.String())
	}
	driver := 0
	for line := range strings.Lines(p.log.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not JSON: %q", line)
			continue
		}
		if rec["component"] == "mysql" {
			driver++
		}
	}
	if driver == 0 {
		t.Errorf("no line of the MySQL driver's (component=mysql) after its connections were killed:\n%s", p.log.String())
	}
}

// What the log package's default logger prints goes through the command's
// logger too, and execute puts the defaults back when the command ends.
func TestRouteLogsStdLog(t *testing.T) {
	var buf syncBuffer
	prevOut := log.Writer()
	r := netmon(t, "migrate", "--log-format", "json", "--db", filepath.Join(t.TempDir(), "x.db"))
	r.mustSucceed(t)
	if log.Writer() != prevOut {
		t.Error("the log package still writes where the finished command put it")
	}
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	prev := slog.Default()
	defer slog.SetDefault(prev)
	defer log.SetOutput(prevOut)
	routeLogs(l)
	log.Printf("from a library: %d", 42)
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil || rec["msg"] != "from a library: 42" {
		t.Errorf("log.Printf gave %q (%v), want one JSON line", buf.String(), err)
	}
	for line := range strings.Lines(r.stderr) {
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("migrate --log-format json: not JSON: %q", line)
		}
	}
}

// In JSON mode the error a command ends with is a JSON record too.
func TestLogFormatJSONError(t *testing.T) {
	r := netmon(t, "replay", "--log-format", "json", "--db", filepath.Join(t.TempDir(), "x.db"), "/nonexistent/x.pcap")
	if r.code != 1 {
		t.Fatalf("exit %d", r.code)
	}
	for line := range strings.Lines(r.stderr) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not JSON: %q", line)
		}
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(r.lastLine()), &last); err != nil || last["level"] != "ERROR" ||
		!strings.HasPrefix(fmt.Sprint(last["msg"]), "netmon: ") || !strings.Contains(fmt.Sprint(last["msg"]), "/nonexistent/x.pcap") {
		t.Errorf("last line %q: want an ERROR record naming the file", r.lastLine())
	}
}

// top and devices log in the chosen format too: a warning about the DSN
// (its password on the command line) is a JSON record under --log-format
// json, and the command's own error after it as well.
func TestLogFormatJSONTopDevices(t *testing.T) {
	dsn := "root:secret@tcp(127.0.0.1:1)/nothing?timeout=1s"
	for _, cmd := range []string{"top", "devices"} {
		r := netmon(t, cmd, "--log-format", "json", "--dsn", dsn)
		if r.code == 0 {
			t.Errorf("%s: exit 0 against a closed port", cmd)
		}
		if !strings.Contains(r.stderr, "password in --dsn is visible") {
			t.Errorf("%s: no warning about the password:\n%s", cmd, r.stderr)
		}
		for line := range strings.Lines(r.stderr) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("%s --log-format json: not JSON: %q", cmd, line)
			}
		}
	}
}
