package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/netmon/netmon/capture/capturetest"
)

func compiles() int {
	filterCache.Lock()
	defer filterCache.Unlock()
	return filterCache.compiles
}

// TestFilterCompiledOnce opens many one-packet files, classic pcap (read
// in Go) and pcapng (read by libpcap), with the default filter: libpcap's
// compiler runs once per link type and snap length, not once per file, and
// every file still filters.
func TestFilterCompiledOnce(t *testing.T) {
	dir := t.TempDir()
	recs := testRecords(t, 1)
	// A UDP/9999 packet the filter must drop, after the DNS one.
	drop := rec(t0.Add(time.Second), ether(0x0800, ipPacket(t, flow{proto: ProtoUDP, sport: 9999, dport: 9999, payload: []byte("x")})))
	recs = append(recs, drop)
	// An expression no other test uses, so that the count starts here;
	// PlainFilter's, so that it compiles on other link types too.
	expr := PlainFilter + " or udp port 31337"
	before := compiles()
	for i := range 40 {
		var path string
		if i%2 == 0 {
			path = writePcap(t, dir, fmt.Sprintf("%d.pcap", i), layers.LinkTypeEthernet, recs)
		} else {
			path = filepath.Join(dir, fmt.Sprintf("%d.pcapng", i))
			if err := os.WriteFile(path, pcapngBytes(layers.LinkTypeEthernet, recs), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		src, err := OpenFile(path, expr)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := collect(t, src, DefaultDecoderConfig())
		src.Close()
		if err != nil || len(got) != 1 || got[0].DstPort != 53 {
			t.Fatalf("%s: %d packets (%v), want the DNS one only", path, len(got), err)
		}
	}
	// Both readers compile for Ethernet at the file's snap length: one
	// program serves all 40 files.
	if n := compiles() - before; n != 1 {
		t.Errorf("libpcap compiled the filter %d times for 40 files, want 1", n)
	}
	// Another link type is another program.
	if err := ValidateFilter(expr, layers.LinkTypeLinuxSLL); err != nil {
		t.Fatal(err)
	}
	if n := compiles() - before; n != 2 {
		t.Errorf("%d compilations after a second link type, want 2", n)
	}
}

// TestFilterCacheBounded compiles more distinct expressions than the cache
// holds: it keeps at most maxCompiledFilters, and the least recently used
// is the one compiled again.
func TestFilterCacheBounded(t *testing.T) {
	first := "udp port 40000"
	for i := range maxCompiledFilters + 10 {
		if err := ValidateFilter(fmt.Sprintf("udp port %d", 40000+i), layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
	}
	filterCache.Lock()
	n := filterCache.order.Len()
	_, held := filterCache.byKey[filterKey{first, layers.LinkTypeEthernet, DefaultSnapLen}]
	filterCache.Unlock()
	if n > maxCompiledFilters || len(filterCache.byKey) != n {
		t.Errorf("cache holds %d programs (%d keys), want at most %d", n, len(filterCache.byKey), maxCompiledFilters)
	}
	if held {
		t.Errorf("the least recently used program %q is still cached", first)
	}
	before := compiles()
	last := fmt.Sprintf("udp port %d", 40000+maxCompiledFilters+9)
	if err := ValidateFilter(last, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if err := ValidateFilter(first, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if n := compiles() - before; n != 1 {
		t.Errorf("%d compilations for one cached and one evicted expression, want 1", n)
	}
}

// TestUnknownLinkTypeDefaultFilter opens captures of a link type netmon
// does not decode with the default filter: the error says so in a short
// line, rather than quoting the 2 KB filter that does not compile on it.
func TestUnknownLinkTypeDefaultFilter(t *testing.T) {
	dir := t.TempDir()
	recs := testRecords(t, 2)
	ng := filepath.Join(dir, "unknown.pcapng")
	if err := os.WriteFile(ng, pcapngBytes(layers.LinkType(147), recs), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{writePcap(t, dir, "unknown.pcap", layers.LinkType(147), recs), ng} {
		src, err := OpenFile(path, DefaultFilter)
		if err == nil {
			src.Close()
			t.Fatalf("%s opened with the default filter", path)
		}
		msg := oneLine(t, err)
		if !errors.Is(err, ErrUnsupportedLink) || !strings.Contains(msg, "unsupported link type 147") || !strings.Contains(msg, filepath.Base(path)) {
			t.Errorf("error %q: want unsupported link type 147 naming the file", msg)
		}
		if errors.Is(err, ErrInvalidFilter) || len(msg) > 300 {
			t.Errorf("error is about the filter, or long (%d bytes): %q", len(msg), msg)
		}
	}
}

// pcapngTicks writes one Ethernet interface with nanosecond resolution
// and the given if_tsoffset (seconds), and one packet per raw timestamp:
// pcapng timestamps are 64 bits, far past what a time in int64 nanoseconds
// holds.
func pcapngTicks(data []byte, offset int64, ticks ...uint64) []byte {
	frames := make([]capturetest.Frame, len(ticks))
	for i, ts := range ticks {
		frames[i] = capturetest.Frame{Ticks: ts, Data: data}
	}
	return capturetest.PcapNG(layers.LinkTypeEthernet, offset, frames...)
}

// TestBadTimestamps reads packets whose times lie past 2262 (where int64
// nanoseconds end) or before 1970: they are counted as BadTimestamp and
// skipped, and the packets around them keep their own times.
func TestBadTimestamps(t *testing.T) {
	dir := t.TempDir()
	data := testRecords(t, 1)[0].data
	good := uint64(t0.UnixNano())
	cases := []struct {
		name   string
		offset int64
		ticks  []uint64
		good   int
		bad    uint64
	}{
		// 2^64-1 ns is in 2554; 2^63 ns is 2262-04-11, which wrapped to 1677.
		{"past-2262", 0, []uint64{good, ^uint64(0), 1 << 63, good + 1e9}, 2, 2},
		// if_tsoffset moves the interface's times a century back: 1925.
		{"before-1970", -100 * 365 * 86400, []uint64{good}, 0, 1},
		// The last nanosecond before MaxTime is counted.
		{"edge", 0, []uint64{uint64(MaxTime.UnixNano()) - 1, uint64(MaxTime.UnixNano())}, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".pcapng")
			if err := os.WriteFile(path, pcapngTicks(data, tc.offset, tc.ticks...), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := OpenFile(path, DefaultFilter)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, st, err := collect(t, src, DefaultDecoderConfig())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.good || st.BadTimestamp != tc.bad || st.Read != uint64(len(tc.ticks)) {
				t.Errorf("%d packets, %d bad timestamps of %d read; want %d and %d", len(got), st.BadTimestamp, st.Read, tc.good, tc.bad)
			}
			for _, p := range got {
				if !Representable(p.TS) || p.TS.Year() < 2025 {
					t.Errorf("packet at %s", p.TS)
				}
			}
		})
	}
}
