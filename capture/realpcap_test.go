package capture

import (
	"bufio"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/capture/capturetest"
)

// pcapDir is the folder of shared real captures: $NETMON_PCAP_DIR, or
// ../shared/testdata/pcap from the repository root. They are third-party
// files that must stay outside the repository, so a missing folder fails
// the test with a message saying where to put them.
func pcapDir(t testing.TB) string { return capturetest.Dir(t) }

// readTSV reads a tab-separated file with a header line into maps.
func readTSV(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header []string
	var rows []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = fields
			continue
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			if i < len(fields) {
				row[h] = fields[i]
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func decodeFileStats(t testing.TB, path, filter string) ([]Packet, DecoderStats) {
	t.Helper()
	src, err := OpenFile(path, filter)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pkts, st, err := collect(t, src, with(func(c *DecoderConfig) { c.KeepPayloadPorts = []uint16{53, 80, 443} }))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return pkts, st
}

func decodeFile(t testing.TB, path, filter string) []Packet {
	t.Helper()
	pkts, _ := decodeFileStats(t, path, filter)
	return pkts
}

// TestSharedCaptures decodes every capture listed in MANIFEST.tsv: no
// panic, every frame read and accounted for under one reason, and the
// servers of the expected TLS, HTTP and QUIC names seen as packet ends.
// It also checks that DefaultFilter keeps exactly the wanted packets.
func TestSharedCaptures(t *testing.T) {
	dir := pcapDir(t)
	for _, row := range readTSV(t, filepath.Join(dir, "MANIFEST.tsv")) {
		name := row["file"]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				t.Skipf("listed in MANIFEST.tsv but not in %s", dir)
			}
			pkts, st := decodeFileStats(t, path, "")
			t.Logf("%s (%s): %+v", name, row["link_type"], st)

			if want, _ := strconv.ParseUint(row["packets"], 10, 64); st.Read != want {
				t.Errorf("read %d frames, MANIFEST.tsv says %d", st.Read, want)
			}
			sum := st.Decoded + st.NotIP + st.OtherIP + st.Truncated + st.Malformed + st.UnsupportedEncap +
				st.FragmentsHeld + st.FragmentsDropped
			if sum != st.Read {
				t.Errorf("%d frames read but %d accounted for: %+v", st.Read, sum, st)
			}
			for _, p := range pkts {
				if !p.Src.IsValid() || !p.Dst.IsValid() || p.WireLen == 0 || p.TS.IsZero() {
					t.Fatalf("incomplete packet %+v", p)
				}
			}
			switch row["link_type"] {
			case "linux-sll", "linux-sll2", "rawip":
				if st.Decoded == 0 || st.Decoded+st.OtherIP < st.Read*9/10 {
					t.Errorf("%s capture: only %d of %d frames decoded to IP", row["link_type"], st.Decoded+st.OtherIP, st.Read)
				}
			}

			expected := readTSV(t, filepath.Join(dir, "expected", name+".tsv"))
			if len(expected) > 0 && len(pkts) == 0 {
				t.Errorf("%d expected names but no packets", len(expected))
			}
			for _, e := range expected {
				if e["source"] == "dns" || strings.Contains(e["encap"], "gtp") {
					continue // DNS rows name answers, not packet ends; GTP inner headers are not opened
				}
				addr, err := netip.ParseAddr(e["address"])
				if err != nil {
					t.Fatalf("expected row %v: %v", e, err)
				}
				port, _ := strconv.ParseUint(e["port"], 10, 16)
				proto := uint8(ProtoTCP)
				if e["source"] == "quic_sni" {
					proto = ProtoUDP
				}
				if !seen(pkts, addr, uint16(port), proto) {
					t.Errorf("no packet to or from %s port %d (%s %s)", addr, port, e["source"], e["server_name"])
				}
			}

			// DefaultFilter passes every packet with a wanted port (and
			// fragments, which need their other pieces to decode).
			filtered, fst := decodeFileStats(t, path, DefaultFilter)
			if a, b := countWanted(pkts), countWanted(filtered); a != b {
				t.Errorf("DefaultFilter: %d packets with ports 53/80/443, %d without filter", b, a)
			}
			if n := len(filtered) - countWanted(filtered); n > int(fst.Reassembled) {
				t.Errorf("DefaultFilter let %d packets on other ports through", n)
			}
		})
	}
}

func seen(pkts []Packet, addr netip.Addr, port uint16, proto uint8) bool {
	for _, p := range pkts {
		if p.Proto == proto && ((p.Dst == addr && p.DstPort == port) || (p.Src == addr && p.SrcPort == port)) {
			return true
		}
	}
	return false
}

func countWanted(pkts []Packet) int {
	n := 0
	for _, p := range pkts {
		if (p.Proto == ProtoTCP || p.Proto == ProtoUDP) && (wantedPort(p.SrcPort) || wantedPort(p.DstPort)) ||
			p.Proto == ProtoUDP && (devicePort(p.SrcPort) || devicePort(p.DstPort)) {
			n++
		}
	}
	return n
}

// TestSharedSLL2 checks that netflix.pcap (Ethernet) and netflix-sll2.pcap
// (the same frames rewrapped as Linux cooked v2) give the same packets.
func TestSharedSLL2(t *testing.T) {
	dir := pcapDir(t)
	for _, pair := range [][2]string{{"netflix.pcap", "netflix-sll2.pcap"}, {"google_meet.pcapng", "google_meet-sll2.pcap"}} {
		type key struct {
			Src, Dst         netip.Addr
			SrcPort, DstPort uint16
			Proto            uint8
			TS               int64
			Payload          string
		}
		keys := func(pkts []Packet) []key {
			out := make([]key, len(pkts))
			for i, p := range pkts {
				// the pcapng files have nanoseconds, their SLL2 copies microseconds
				out[i] = key{p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto, p.TS.UnixMicro(), string(p.Payload)}
			}
			return out
		}
		eth := keys(decodeFile(t, filepath.Join(dir, pair[0]), ""))
		sll2 := keys(decodeFile(t, filepath.Join(dir, pair[1]), ""))
		if len(eth) == 0 {
			t.Fatalf("%s: no packets", pair[0])
		}
		if diff := cmp.Diff(eth, sll2, cmpPacket); diff != "" {
			t.Errorf("%s vs %s (-ethernet +sll2):\n%s", pair[0], pair[1], diff)
		}
	}
}
