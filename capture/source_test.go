package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

func testRecords(t *testing.T, n int) []record {
	var recs []record
	for i := range n {
		f := flow{proto: ProtoUDP, sport: uint16(40000 + i), dport: 53, payload: []byte(fmt.Sprintf("query %d", i))}
		recs = append(recs, rec(t0.Add(time.Duration(i)*time.Second), ether(0x0800, ipPacket(t, f))))
	}
	return recs
}

func oneLine(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	return msg
}

// TestOpenFileErrors checks that each way a capture file can be unusable
// gives one clear line naming the file.
func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := writePcap(t, dir, "good.pcap", layers.LinkTypeEthernet, testRecords(t, 1))
	tests := []struct {
		name   string
		path   string
		filter string
		is     error
		says   []string
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), "", fs.ErrNotExist, []string{"nope.pcap", "no such file"}},
		{"directory", dir, "", ErrNotCapture, []string{dir, "is a directory"}},
		{"empty", write("empty.pcap", nil, 0o644), "", ErrNotCapture, []string{"empty.pcap", "is empty"}},
		{"text", write("notes.txt", []byte("these are my notes, not packets\n"), 0o644), "", ErrNotCapture,
			[]string{"notes.txt", "not a pcap or pcapng capture", "unknown file format"}},
		{"short-header", write("short.pcap", pcapBytes(layers.LinkTypeEthernet, nil)[:10], 0o644), "", ErrNotCapture,
			[]string{"short.pcap", "not a pcap or pcapng capture"}},
		{"bad-filter", good, "port fifty", ErrInvalidFilter, []string{`invalid filter "port fifty"`}},
	}
	if os.Geteuid() != 0 {
		tests = append(tests, struct {
			name   string
			path   string
			filter string
			is     error
			says   []string
		}{"unreadable", write("secret.pcap", pcapBytes(1, nil), 0o000), "", fs.ErrPermission,
			[]string{"secret.pcap", "permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := OpenFile(tt.path, tt.filter)
			if err == nil {
				src.Close()
				t.Fatal("OpenFile succeeded")
			}
			msg := oneLine(t, err)
			t.Log(msg)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			for _, s := range tt.says {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
		})
	}
}

// TestTruncatedFile cuts captures inside the last record's header and
// inside its data: every complete record must be decoded first, then Run
// returns an error naming the file and the damage.
func TestTruncatedFile(t *testing.T) {
	recs := testRecords(t, 5)
	whole := map[string][]byte{
		"pcap":   pcapBytes(layers.LinkTypeEthernet, recs),
		"pcapng": pcapngBytes(layers.LinkTypeEthernet, recs),
	}
	for format, data := range whole {
		for _, cut := range []int{10, 40, len(recs[4].data) + 8} {
			t.Run(fmt.Sprintf("%s-minus-%d", format, cut), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "cut."+format)
				if err := os.WriteFile(path, data[:len(data)-cut], 0o644); err != nil {
					t.Fatal(err)
				}
				src, err := OpenFile(path, "")
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				got, _, err := collect(t, src, DefaultDecoderConfig())
				if len(got) != 4 {
					t.Errorf("got %d packets before the damage, want 4", len(got))
				}
				msg := oneLine(t, err)
				t.Log(msg)
				if !errors.Is(err, ErrDamaged) || !strings.Contains(msg, path) ||
					!strings.Contains(msg, "truncated") || !strings.Contains(msg, "after 4 packets") {
					t.Errorf("error %q: want the file, truncated, and after 4 packets", msg)
				}
			})
		}
	}
	t.Run("whole", func(t *testing.T) {
		path := writePcap(t, t.TempDir(), "whole.pcap", layers.LinkTypeEthernet, recs)
		src, err := OpenFile(path, "")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if got, _, err := collect(t, src, DefaultDecoderConfig()); err != nil || len(got) != 5 {
			t.Errorf("Run = %v with %d packets, want nil with 5", err, len(got))
		}
	})
}

// TestOpenFileStdin reads a pcapng capture from a pipe on standard input
// ("-"), with a filter, as `netmon replay -` does.
func TestOpenFileStdin(t *testing.T) {
	recs := testRecords(t, 300)
	other := rec(t0, ether(0x0800, ipPacket(t, flow{proto: ProtoTCP, sport: 1, dport: 22})))
	recs = append(recs, other)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// Written in small pieces, so that libpcap sees a slow pipe.
		data := pcapngBytes(layers.LinkTypeEthernet, recs)
		for len(data) > 0 {
			n := min(len(data), 1000)
			w.Write(data[:n])
			data = data[n:]
		}
		w.Close()
	}()
	stdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = stdin; r.Close() }()
	src, err := OpenFile("-", DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, st, err := collect(t, src, DefaultDecoderConfig())
	if err != nil || len(got) != 300 || st.Read != 300 {
		t.Errorf("Run = %v with %d packets (%+v), want nil with 300 (port 22 filtered out)", err, len(got), st)
	}
	if s, err := src.Stats(); err != nil || s != (Stats{}) {
		t.Errorf("file Stats = %+v, %v; want zeros", s, err)
	}
}

func TestOpenLiveErrors(t *testing.T) {
	t.Run("no-such-interface", func(t *testing.T) {
		_, err := OpenLive(DefaultLiveConfig("netmon-nope0"))
		msg := oneLine(t, err)
		t.Log(msg)
		if !errors.Is(err, ErrNoSuchInterface) || !strings.Contains(msg, `"netmon-nope0"`) {
			t.Errorf("error %q: want ErrNoSuchInterface naming the interface", msg)
		}
		if ifs, _ := net.Interfaces(); len(ifs) > 0 && !strings.Contains(msg, ifs[0].Name) {
			t.Errorf("error %q does not list %s", msg, ifs[0].Name)
		}
	})
	t.Run("bad-filter", func(t *testing.T) {
		if !loopbackUp() {
			t.Skip("no lo interface")
		}
		cfg := DefaultLiveConfig("lo")
		cfg.Filter = "udp port 53 and and"
		_, err := OpenLive(cfg)
		if errors.Is(err, ErrPermission) {
			t.Skip("capture not permitted here:", err)
		}
		msg := oneLine(t, err)
		t.Log(msg)
		if !errors.Is(err, ErrInvalidFilter) || !strings.HasPrefix(msg, `invalid filter "udp port 53 and and": `) {
			t.Errorf("error %q: want invalid filter", msg)
		}
	})
}

// TestOpenLivePermission runs OpenLive in a child process without root
// and its capabilities, where capture is refused.
func TestOpenLivePermission(t *testing.T) {
	if os.Getenv("NETMON_CHILD_OPENLIVE") == "1" {
		_, err := OpenLive(DefaultLiveConfig("lo"))
		fmt.Printf("ERR:%v\n", err)
		if errors.Is(err, ErrPermission) {
			fmt.Println("IS-PERMISSION")
		}
		return
	}
	if os.Geteuid() != 0 || !loopbackUp() {
		t.Skip("needs root to start an unprivileged child")
	}
	// The test binary must be reachable by the unprivileged user.
	dir, err := os.MkdirTemp("", "netmon-perm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "capture.test")
	if err := copyFile(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestOpenLivePermission$")
	cmd.Env = append(os.Environ(), "NETMON_CHILD_OPENLIVE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child says: %s", out)
	if !strings.Contains(string(out), "IS-PERMISSION") || !strings.Contains(string(out), "sudo setcap cap_net_raw,cap_net_admin=eip") {
		t.Errorf("unprivileged OpenLive: want ErrPermission with the setcap hint, got:\n%s", out)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestLiveLoopback captures DNS queries sent to 127.0.0.1:53 on lo with
// DefaultFilter through the whole live path, and checks that an idle
// interface still delivers the partial batch within a read timeout or
// so, and that Run stops on ctx. It needs capture rights.
func TestLiveLoopback(t *testing.T) {
	if !loopbackUp() {
		t.Skip("no lo interface")
	}
	src, err := OpenLive(DefaultLiveConfig("lo"))
	if errors.Is(err, ErrPermission) {
		t.Skip("capture not permitted here:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("lo link type %v", src.LinkType())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make(chan *Batch, 4)
	d := NewDecoder(DefaultDecoderConfig())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, src, out) }()

	conn, err := net.Dial("udp", "127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	noise, err := net.Dial("udp", "127.0.0.1:5999") // not a wanted port: filtered out
	if err != nil {
		t.Fatal(err)
	}
	defer noise.Close()
	// Send until a batch arrives: capture may start a moment after Open.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var got []Packet
	sent := time.Now()
wait:
	for {
		select {
		case b := <-out:
			got = append(got, b.Packets...)
			for i := range got {
				got[i].Payload = append([]byte(nil), got[i].Payload...)
			}
			b.Release()
			break wait
		case <-tick.C:
			sent = time.Now()
			noise.Write([]byte("noise"))
			conn.Write([]byte("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01"))
		case <-ctx.Done():
			t.Fatal("no batch from lo")
		}
	}
	// The batch came because the interface went idle, not because it was
	// full: it must not wait much longer than the read timeout.
	if wait := time.Since(sent); wait > time.Second {
		t.Errorf("partial batch delivered %v after the last packet", wait)
	}
	for _, p := range got {
		if p.DstPort != 53 && p.SrcPort != 53 {
			t.Errorf("packet on port %d/%d passed DefaultFilter", p.SrcPort, p.DstPort)
		}
	}
	p := got[0]
	if p.Dst.String() != "127.0.0.1" || p.DstPort != 53 || p.Proto != ProtoUDP || len(p.Payload) != 17 {
		t.Errorf("captured %+v", p)
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run = %v after cancel", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	st, err := src.Stats()
	if err != nil || st.Received == 0 {
		t.Errorf("live Stats = %+v, %v", st, err)
	}
	if diff := cmp.Diff(uint64(0), d.Stats().Malformed); diff != "" {
		t.Error(diff)
	}
}
