//go:build e2e

package cmd

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/cryptobyte"
)

// The floods of a hostile or broken LAN (issue 15), each mixed into
// netflix.pcap's real conversation (device 192.168.1.7) and replayed by
// the netmon binary into MariaDB. Each checks that the real device's rows
// are exactly those of a clean replay of netflix.pcap alone, that the
// flood hit the caps meant for it (their counters are above 0), and logs
// the process's peak resident memory. Sizes are set by environment
// variables so that CI stays quick and bench/flood.sh runs the full ones:
//
//	NETMON_LANFLOOD_LOCAL   local source addresses in one window (default 300,000)
//	NETMON_LANFLOOD_REMOTE  remote source addresses at 33,000/s to one device (default 250,000)
//	NETMON_LANFLOOD_SNI     TLS flows naming distinct servers (default 80,000, at 2,000/s)
//	NETMON_LANFLOOD_SNI_RATE  flows per second of the SNI flood (default 2,000)
//	NETMON_LANFLOOD_RSS_MB  the bound on each replay's peak RSS (default 300)
const realClient = "192.168.1.7"

// netflixStart is the start of netflix.pcap's first 10 s window.
var netflixStart = time.Date(2017, 1, 13, 14, 50, 30, 0, time.UTC)

type rawFrame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readFrames reads every frame of an Ethernet pcap file.
func readFrames(t testing.TB, path string) []rawFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rawFrame{ci, data})
	}
}

// mixer writes real frames into a frameWriter in time order among the
// frames a flood writes.
type mixer struct {
	fw   *frameWriter
	real []rawFrame
}

// until writes the real frames before ts.
func (m *mixer) until(ts time.Time) {
	for len(m.real) > 0 && m.real[0].ci.Timestamp.Before(ts) {
		if err := m.fw.w.WritePacket(m.real[0].ci, m.real[0].data); err != nil {
			m.fw.t.Fatal(err)
		}
		m.real = m.real[1:]
	}
}

// tlsHello is a TLS record holding a ClientHello that names sni.
func tlsHello(sni string) []byte {
	var b cryptobyte.Builder
	b.AddUint8(0x16)
	b.AddUint16(0x0301)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(1) // client_hello
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0x0303)
			b.AddBytes(make([]byte, 32))
			b.AddUint8(0)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1301) })
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint16(0) // server_name
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						b.AddUint8(0)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(sni)) })
					})
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// floodRun is what one replay of a flood capture gave.
type floodRun struct {
	out  string
	peak int64 // MB
	took time.Duration
}

// counter returns the value of key=N in the replay's log, -1 if absent.
func (r floodRun) counter(key string) int64 {
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=(\d+)`).FindStringSubmatch(r.out)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// replayFlood replays file with the netmon binary into dsn as agent.
func replayFlood(t *testing.T, dsn, agent, file string) floodRun {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(netmonBinary(t), "replay", "--dsn", dsn, "--agent", agent, "--no-ptr", file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := floodRun{out: string(out), peak: ru.Maxrss >> 10, took: time.Since(start)}
	t.Logf("replay %s: %s, peak RSS %d MB", agent, r.took.Round(time.Millisecond), r.peak)
	for _, l := range strings.Split(r.out, "\n") {
		if strings.Contains(l, "msg=state") || strings.Contains(l, "msg=devices") || strings.Contains(l, "cap") || strings.Contains(l, "msg=store") {
			t.Log(l)
		}
	}
	return r
}

// realRows are the rows of the real device, as a clean run must have them.
func realRows(t testing.TB, db *sqlx.DB, agent string) []string {
	var out []string
	for _, r := range rowsOf(t, db, agent) {
		if r.Client == realClient {
			out = append(out, r.String())
		}
	}
	return out
}

func countOf(t testing.TB, db *sqlx.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLANFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods take a while")
	}
	netflix := filepath.Join(pcapDir(t), "netflix.pcap")
	frames := readFrames(t, netflix)
	dsn, db := migratedDB(t)
	bound := int64(envInt(t, "NETMON_LANFLOOD_RSS_MB", 300))

	replayFlood(t, dsn, "clean", netflix)
	clean := realRows(t, db, "clean")
	if len(clean) == 0 {
		t.Fatal("the clean replay wrote no rows for " + realClient)
	}
	sameAsClean := func(t *testing.T, agent string) {
		t.Helper()
		if d := cmp.Diff(clean, realRows(t, db, agent)); d != "" {
			t.Errorf("the real device's rows differ from a clean replay's (-clean +flood):\n%s", d)
		}
	}
	checkPeak := func(t *testing.T, r floodRun) {
		t.Helper()
		if r.peak > bound {
			t.Errorf("peak RSS %d MB, over the %d MB bound", r.peak, bound)
		}
	}

	t.Run("local", func(t *testing.T) {
		// A compromised camera spoofing n local source addresses in one
		// window, each a TCP ACK to one server: every address is a device
		// (after its fourth the camera's MAC is taken for a router).
		n := envInt(t, "NETMON_LANFLOOD_LOCAL", 300_000)
		fw := newFrameWriter(t, "local.pcap")
		mx := &mixer{fw: fw, real: frames}
		server := netip.MustParseAddr("198.51.100.80")
		begin := netflixStart.Add(30 * time.Second) // the window 14:51:00–14:51:10
		step := 9 * time.Second / time.Duration(n)
		for i := range n {
			ts := begin.Add(time.Duration(i) * step)
			mx.until(ts)
			src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			fw.TCP(ts, src, server, uint16(1024+i%60000), 443, uint32(i), false, nil)
		}
		mx.until(time.Now())
		fw.Close()
		r := replayFlood(t, dsn, "local", fw.Path)
		checkPeak(t, r)
		devs := countOf(t, db, `SELECT COUNT(*) FROM devices WHERE agent = 'local'`)
		addrs := countOf(t, db, `SELECT COUNT(*) FROM device_addresses WHERE agent = 'local'`)
		rows := countOf(t, db, `SELECT COUNT(*) FROM tcpdump_records WHERE agent = 'local'`)
		total := countOf(t, db, `SELECT COALESCE(SUM(count), 0) FROM tcpdump_records WHERE agent = 'local' AND client <> ?`, realClient)
		t.Logf("local flood of %d addresses: %d rows in devices, %d in device_addresses, %d in tcpdump_records", n, devs, addrs, rows)
		if total != int64(n) {
			t.Errorf("the flood's packets: %d counted, want %d (what passes a cap is still counted)", total, n)
		}
		if devs > 8192 || addrs > 8192 {
			t.Errorf("%d devices and %d device addresses written for one window: not bounded", devs, addrs)
		}
		if rows > 10_000 {
			t.Errorf("%d rows for one window of one flooding device: not bounded", rows)
		}
		for _, c := range []string{"windows_new_clients_capped", "devices_router_capped"} {
			if v := r.counter(c); v <= 0 {
				t.Errorf("%s=%d: the flood did not reach the cap meant for it", c, v)
			}
		}
		sameAsClean(t, "local")
	})

	t.Run("remote", func(t *testing.T) {
		// n remote addresses at 33,000 a second to one device, all in the
		// window 14:50:30–14:50:40 that holds the real device's busiest
		// seconds.
		n := envInt(t, "NETMON_LANFLOOD_REMOTE", 250_000)
		fw := newFrameWriter(t, "remote.pcap")
		mx := &mixer{fw: fw, real: frames}
		victim := netip.MustParseAddr("192.168.1.30")
		begin := netflixStart.Add(time.Second)
		step := time.Second / 33_000
		junk := make([]byte, 8)
		for i := range n {
			ts := begin.Add(time.Duration(i) * step)
			mx.until(ts)
			fw.UDP(ts, netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)}), victim, 443, 443, junk)
		}
		mx.until(time.Now())
		fw.Close()
		r := replayFlood(t, dsn, "remote", fw.Path)
		checkPeak(t, r)
		var overflow []dbRow
		if err := db.Select(&overflow, `SELECT ts, agent, client, domain, nickname, nickname_source, source, count, bytes
			FROM tcpdump_records WHERE agent = 'remote' AND domain = '(overflow)'`); err != nil {
			t.Fatal(err)
		}
		var victimCount int64
		for _, o := range overflow {
			t.Logf("overflow row: %s", o)
			if o.Client != victim.String() {
				t.Errorf("packets of %s in an overflow row: only the flooded device's may be", o.Client)
			}
		}
		victimCount = countOf(t, db, `SELECT COALESCE(SUM(count), 0) FROM tcpdump_records WHERE agent = 'remote' AND client = ?`, victim.String())
		if victimCount != int64(n) {
			t.Errorf("the flooded device: %d packets counted, want %d", victimCount, n)
		}
		if v := r.counter("windows_client_keys_capped"); v <= 0 {
			t.Errorf("windows_client_keys_capped=%d: the flood did not reach the cap meant for it", v)
		}
		sameAsClean(t, "remote")
	})

	t.Run("sni", func(t *testing.T) {
		// n TLS flows from one device, each to its own server and naming
		// its own name, at rate a second from the real device's first
		// second on: the real device's long-lived flows must keep their
		// names (api-global.netflix.com above all).
		n := envInt(t, "NETMON_LANFLOOD_SNI", 80_000)
		rate := envInt(t, "NETMON_LANFLOOD_SNI_RATE", 2_000)
		fw := newFrameWriter(t, "sni.pcap")
		mx := &mixer{fw: fw, real: frames}
		flooder := netip.MustParseAddr("192.168.1.40")
		begin := netflixStart.Add(time.Second)
		step := time.Second / time.Duration(rate)
		for i := range n {
			ts := begin.Add(time.Duration(i) * step)
			mx.until(ts)
			dst := netip.AddrFrom4([4]byte{46, byte(i >> 16), byte(i >> 8), byte(i)})
			sport := uint16(1024 + i%60000)
			fw.TCP(ts, flooder, dst, sport, 443, uint32(i), true, nil)
			fw.TCP(ts.Add(step/2), flooder, dst, sport, 443, uint32(i)+1, false, tlsHello(fmt.Sprintf("f%07d.flood.example", i)))
		}
		mx.until(time.Now())
		fw.Close()
		r := replayFlood(t, dsn, "sni", fw.Path)
		checkPeak(t, r)
		total := countOf(t, db, `SELECT COALESCE(SUM(count), 0) FROM tcpdump_records WHERE agent = 'sni' AND client <> ?`, realClient)
		if total != int64(2*n) {
			t.Errorf("the flood's packets: %d counted, want %d", total, 2*n)
		}
		var api, cleanAPI int64
		api = countOf(t, db, `SELECT COALESCE(SUM(count), 0) FROM tcpdump_records WHERE agent = 'sni' AND client = ? AND domain = 'api-global.netflix.com'`, realClient)
		cleanAPI = countOf(t, db, `SELECT COALESCE(SUM(count), 0) FROM tcpdump_records WHERE agent = 'clean' AND client = ? AND domain = 'api-global.netflix.com'`, realClient)
		t.Logf("api-global.netflix.com: %d packets under its name, %d in a clean run", api, cleanAPI)
		if api != cleanAPI {
			t.Errorf("api-global.netflix.com: %d packets under its name, want all %d", api, cleanAPI)
		}
		if v := r.counter("learner_flows_protected"); v <= 0 {
			t.Errorf("learner_flows_protected=%d: no flow was protected", v)
		}
		sameAsClean(t, "sni")
	})
}
