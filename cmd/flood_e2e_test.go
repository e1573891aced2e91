//go:build e2e

package cmd

import (
	"fmt"
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

	"github.com/netmon/netmon/resolver/addrtable"
)

// floodRate is the packets per second of packet time each flood sends:
// 10,000 new keys a second keep a 10 s window at 100,000 keys, under
// aggregate's 200,000, so that the real traffic mixed in keeps its own rows.
const floodRate = 10_000

// TestFlood writes a capture holding three floods one after the other —
// DNS answers for distinct random subdomains, packets from distinct remote
// addresses, half-open TCP flows — with real traffic of another device
// running through all three, replays it with the netmon binary into
// MariaDB, and checks the real traffic's counts, that the process's peak
// resident memory stays under a bound, and that the caps were what gave.
// NETMON_FLOOD_N sets each flood's size (100,000 by default; bench/flood.sh
// runs 1,000,000); NETMON_FLOOD_RSS_MB the bound (300).
func TestFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods take a while")
	}
	n := envInt(t, "NETMON_FLOOD_N", 100_000)
	bound := envInt(t, "NETMON_FLOOD_RSS_MB", 300)
	dsn, db := migratedDB(t)

	base := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	step := time.Second / floodRate
	phase := time.Duration(n) * step
	span := 3 * phase

	resolverAddr := netip.MustParseAddr("192.168.1.1")
	quiet := netip.MustParseAddr("192.168.1.23")   // gets the subdomain answers, never queries
	victim := netip.MustParseAddr("192.168.1.30")  // hit by the address flood
	scanner := netip.MustParseAddr("192.168.1.31") // opens the half-open flows
	real := netip.MustParseAddr("192.168.1.50")    // the device whose counts must stay exact
	dnsNamed := netip.MustParseAddr("198.51.100.10")
	webNamed := netip.MustParseAddr("198.51.100.20")

	start := time.Now()
	fw := newFrameWriter(t, "flood.pcap")
	// Real traffic: a matched DNS answer, an HTTP flow naming its server,
	// then one packet to each server every 100 ms throughout.
	fw.UDP(base, real, resolverAddr, 33000, 53, rawDNS(7, false, []string{"real", "example"}, netip.Addr{}))
	fw.UDP(base, resolverAddr, real, 53, 33000, rawDNS(7, true, []string{"real", "example"}, dnsNamed))
	fw.TCP(base, real, webNamed, 33001, 80, 1000, true, nil)
	fw.TCP(base, real, webNamed, 33001, 80, 1001, false, []byte("GET / HTTP/1.1\r\nHost: web.example\r\n\r\n"))
	realPackets := map[netip.Addr]uint64{dnsNamed: 0, webNamed: 2}
	realPayload := make([]byte, 100)
	nextReal := base.Add(100 * time.Millisecond)
	writeReal := func(until time.Time) {
		for ; nextReal.Before(until); nextReal = nextReal.Add(100 * time.Millisecond) {
			fw.TCP(nextReal, real, dnsNamed, 33002, 443, 1, false, realPayload)
			fw.TCP(nextReal, real, webNamed, 33001, 80, 2000, false, realPayload)
			realPackets[dnsNamed]++
			realPackets[webNamed]++
		}
	}
	ts := base.Add(time.Millisecond)
	junk := make([]byte, 8)
	for i := range n { // distinct random subdomains, answers only
		writeReal(ts)
		addr := netip.AddrFrom4([4]byte{44, byte(i >> 16), byte(i >> 8), byte(i)})
		label := fmt.Sprintf("r%08x", uint32(i)*2654435761)
		fw.UDP(ts, resolverAddr, quiet, 53, uint16(1024+i%60000), rawDNS(uint16(i), true, []string{label, "flood", "example"}, addr))
		ts = ts.Add(step)
	}
	for i := range n { // distinct remote addresses
		writeReal(ts)
		fw.UDP(ts, netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)}), victim, 443, 443, junk)
		ts = ts.Add(step)
	}
	for i := range n { // half-open flows: SYNs never answered
		writeReal(ts)
		fw.TCP(ts, scanner, netip.AddrFrom4([4]byte{46, 0, 0, byte(i / 60000)}), uint16(1024+i%60000), 443, uint32(i), true, nil)
		ts = ts.Add(step)
	}
	writeReal(base.Add(span + 5*time.Second))
	fw.Close()
	st, err := os.Stat(fw.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: 3 floods of %d packets over %s of packet time, %d MB, written in %s",
		n, span.Round(time.Second), st.Size()>>20, time.Since(start).Round(time.Millisecond))
	if dir := os.Getenv("NETMON_FLOOD_KEEP"); dir != "" {
		if err := os.Rename(fw.Path, filepath.Join(dir, "flood.pcap")); err != nil {
			t.Fatal(err)
		}
		fw.Path = filepath.Join(dir, "flood.pcap")
	}

	// The binary, not execute: its peak resident memory is the figure.
	start = time.Now()
	cmd := exec.Command(netmonBinary(t), "replay", "--dsn", dsn, "--agent", "flood", "--no-ptr", fw.Path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	peak := ru.Maxrss >> 10 // kilobytes on Linux
	t.Logf("replay: %s, peak RSS %d MB", time.Since(start).Round(time.Millisecond), peak)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, `msg=dns`) || strings.Contains(l, `msg=state`) || strings.Contains(l, "dropped") {
			t.Log(l)
		}
	}
	if peak > int64(bound) {
		t.Errorf("peak RSS %d MB, over the %d MB bound", peak, bound)
	}
	for _, want := range []string{"table_evicted=", "learner_flows_evicted=", "decoder_name_flows_evicted="} {
		if !strings.Contains(string(out), want) || strings.Contains(string(out), want+"0 ") {
			t.Errorf("no %s count above 0 in the log: the floods did not reach the caps", want)
		}
	}

	if m := regexp.MustCompile(`table_entries=(\d+)`).FindStringSubmatch(string(out)); m == nil {
		t.Error("no table_entries in the log")
	} else if v, _ := strconv.Atoi(m[1]); v > addrtable.DefaultConfig().Cap {
		t.Errorf("name table holds %d addresses, over its cap %d", v, addrtable.DefaultConfig().Cap)
	}

	// The real device's packets, every one, per server; the HTTP flow
	// under its own name in every window.
	got := map[netip.Addr]uint64{}
	names := map[string]uint64{}
	for _, r := range rowsOf(t, db, "flood") {
		if r.Client != real.String() {
			continue
		}
		names[r.Domain+" ("+r.Source+")"] += r.Count
		switch r.Domain {
		case "web.example", webNamed.String():
			got[webNamed] += r.Count
		case "real.example", dnsNamed.String():
			got[dnsNamed] += r.Count
		default:
			t.Errorf("real traffic counted under %q", r.Domain)
		}
	}
	t.Logf("real traffic by name: %v", names)
	for addr, want := range realPackets {
		if got[addr] != want {
			t.Errorf("%s: %d packets stored, want %d", addr, got[addr], want)
		}
	}
	if names["web.example (http)"] != realPackets[webNamed] {
		t.Errorf("web.example (http): %d packets, want all %d", names["web.example (http)"], realPackets[webNamed])
	}
	var overflow uint64
	if err := db.Get(&overflow, `SELECT COALESCE(SUM(count), 0) FROM tcpdump_records WHERE agent = 'flood' AND domain = '(overflow)'`); err != nil {
		t.Fatal(err)
	}
	t.Logf("packets counted under (overflow): %d", overflow)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}
