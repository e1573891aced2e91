package cmd

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netmon/netmon/capture/capturetest"
)

// checkOneLineError asserts a clean failure: exit 1, an error line that
// starts with "netmon:" and says want, and no panic or stack trace.
func checkOneLineError(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	last := r.lastLine()
	if !strings.HasPrefix(last, "netmon: ") {
		t.Errorf("last line %q does not start with \"netmon: \"", last)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(last), strings.ToLower(w)) {
			t.Errorf("error %q does not mention %q", last, w)
		}
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("stack trace in output:\n%s", r.stderr)
	}
}

func TestBadInput(t *testing.T) {
	dsn, _ := migratedDB(t)
	bare := filepath.Join(t.TempDir(), "not-a-capture.pcap")
	if err := os.WriteFile(bare, []byte("this is not a capture file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A capture with no packets: the cases below that are about something
	// else than the file need one that opens.
	empty := newFrameWriter(t, "empty.pcap")
	empty.Close()
	good := empty.Path
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no interface", []string{"run", "--dsn", dsn}, []string{"-i"}},
		{"unknown interface", []string{"run", "-i", "nosuchif0", "--dsn", dsn}, []string{"nosuchif0"}},
		{"bad filter", []string{"run", "-i", "lo", "--dsn", dsn, "--filter", "port nonsense"}, []string{"filter", "port nonsense"}},
		{"bad filter on replay", []string{"replay", "--dsn", dsn, "--filter", "tcp port", good}, []string{"filter"}},
		{"missing file", []string{"replay", "--dsn", dsn, "/nonexistent/x.pcap"}, []string{"/nonexistent/x.pcap"}},
		{"not a capture", []string{"replay", "--dsn", dsn, bare}, []string{"not-a-capture.pcap"}},
		{"no files", []string{"replay", "--dsn", dsn}, []string{"arg"}},
		{"bad window", []string{"replay", "--dsn", dsn, "--window", "0s", good}, []string{"--window"}},
		{"unknown user", []string{"run", "-i", "lo", "--dsn", dsn, "--user", "nosuchuser16"}, []string{"--user", "nosuchuser16"}},
		{"root as --user", []string{"run", "-i", "lo", "--dsn", dsn, "--user", "root"}, []string{"--user", "root", "unprivileged"}},
		{"bad local net", []string{"replay", "--dsn", dsn, "--local-net", "10.0.0.0/99", good}, []string{"--local-net"}},
		{"missing asn db", []string{"replay", "--dsn", dsn, "--asn-db", "/nonexistent/asn-ipv4.csv", good}, []string{"--asn-db", "/nonexistent/asn-ipv4.csv"}},
		{"bad asn db", []string{"replay", "--dsn", dsn, "--asn-db", bare, good}, []string{"--asn-db", "not-a-capture.pcap", "line 1"}},
		{"unknown flag", []string{"replay", "--bogus"}, []string{"bogus"}},
		{"database away", []string{"replay", "--dsn", "root:s3cr3tpw@tcp(127.0.0.1:1)/netmon", good}, []string{"127.0.0.1:1"}},
		{"bad dsn", []string{"migrate", "--dsn", "this is no dsn"}, []string{"dsn"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := netmon(t, tc.args...)
			checkOneLineError(t, r, tc.want...)
			if strings.Contains(r.stderr, "s3cr3tpw") {
				t.Errorf("password printed: %s", r.stderr)
			}
		})
	}

	t.Run("nothing created", func(t *testing.T) {
		// An unknown interface, a --listen address already taken and a bad
		// seed agent stop netmon before it makes the SQLite file or the
		// spool.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		t.Setenv("NETMON_DSN", "")
		dir := t.TempDir()
		db, state := filepath.Join(dir, "n.db"), filepath.Join(dir, "state")
		t.Setenv("NETMON_DB", db)
		t.Setenv("NETMON_STATE_DIR", state)
		checkOneLineError(t, netmon(t, "run", "-i", "nosuchif0"), "--interface", "nosuchif0", "no such interface")
		checkOneLineError(t, netmon(t, "replay", "--listen", busy.Addr().String(), good), "--listen", "address already in use")
		checkOneLineError(t, netmon(t, "migrate", "--seed-agent", "bad name"), "--seed-agent", `"bad name"`)
		for _, p := range []string{db, state} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("bad input made %s", p)
			}
		}
	})
	t.Run("no dsn", func(t *testing.T) {
		// Without a DSN the database is SQLite, made at start — but only
		// once the capture files have opened: bad input creates nothing.
		t.Setenv("NETMON_DSN", "")
		db := filepath.Join(t.TempDir(), "n.db")
		t.Setenv("NETMON_DB", db)
		checkOneLineError(t, netmon(t, "replay", bare), "not-a-capture.pcap")
		if _, err := os.Stat(db); err == nil {
			t.Errorf("replay of a file that is no capture made the SQLite file %s", db)
		}
		netmon(t, "replay", good).mustSucceed(t)
		if _, err := os.Stat(db); err != nil {
			t.Errorf("replay without a DSN made no SQLite file at $NETMON_DB: %v", err)
		}
	})
	t.Run("tables missing", func(t *testing.T) {
		// A fresh database without migrate.
		fresh := strings.Replace(dsn, "/"+dbName(t, dsn), "/"+dbName(t, dsn)+"_nomig", 1)
		db := openDB(t, dsn)
		if _, err := db.Exec("CREATE DATABASE " + dbName(t, dsn) + "_nomig"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Exec("DROP DATABASE " + dbName(t, dsn) + "_nomig") })
		checkOneLineError(t, netmon(t, "replay", "--dsn", fresh, good), "netmon migrate")
	})
	t.Run("no permission", func(t *testing.T) {
		if os.Geteuid() != 0 {
			capturetest.Missing(t, "this test runs netmon as user nobody and needs root to do so (run make test as root)")
		}
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			capturetest.Missing(t, "setpriv not found: apt-get install util-linux")
		}
		// A spool nobody may write, so that the capture is what fails.
		state, err := os.MkdirTemp("", "netmon-nobody")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(state)
		if err := os.Chmod(state, 0o777); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
			netmonBinary(t), "run", "-i", "lo", "--dsn", dsn, "--no-ptr", "--state-dir", state)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("as nobody: %v, want exit 1\n%s", err, out)
		}
		r := result{code: 1, stderr: string(out)}
		checkOneLineError(t, r, "permission", "cap_net_raw")
	})
}

func dbName(t testing.TB, dsn string) string {
	t.Helper()
	i := strings.LastIndex(dsn, "/")
	name := dsn[i+1:]
	if j := strings.IndexByte(name, '?'); j >= 0 {
		name = name[:j]
	}
	return name
}

// writeCapture writes Ethernet frames of TCP/443 traffic from a local client
// to a remote server, one per timestamp, and returns the file's path.
func writeCapture(t *testing.T, stamps []time.Time) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "made.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, ts := range stamps {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 1, 23}, DstIP: net.IP{203, 0, 113, 5}}
		tcp := &layers.TCP{SrcPort: 50000, DstPort: 443, Seq: uint32(i), ACK: true, Window: 1000}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(make([]byte, 100))); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// A file cut short still yields the windows before the damage, and the
// command says the file is damaged and exits non-zero.
func TestReplayTruncated(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	path := writeCapture(t, []time.Time{base, base.Add(time.Second), base.Add(12 * time.Second), base.Add(25 * time.Second), base.Add(26 * time.Second)})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-40); err != nil { // into the last record
		t.Fatal(err)
	}
	dsn, db := migratedDB(t)
	r := netmon(t, "replay", "--dsn", dsn, "--agent", "cut", "--no-ptr", path)
	checkOneLineError(t, r, "made.pcap", "truncated")

	rows := rowsOf(t, db, "cut")
	var got []string
	for _, row := range rows {
		got = append(got, row.String())
	}
	want := []string{
		base.UTC().Format(time.RFC3339) + "\t192.168.1.23\t\"203.0.113.5\"\t203.0.113.5\tip\t2\t308",
		base.Add(10*time.Second).UTC().Format(time.RFC3339) + "\t192.168.1.23\t\"203.0.113.5\"\t203.0.113.5\tip\t1\t154",
		base.Add(20*time.Second).UTC().Format(time.RFC3339) + "\t192.168.1.23\t\"203.0.113.5\"\t203.0.113.5\tip\t1\t154",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
