package dns

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/resolver/addrtable"
)

// knownMisses names, per capture, why its expected DNS rows are not
// learned through the Decoder. A miss not listed here fails the test.
// None is known today.
func knownMisses(file string) string {
	reasons := map[string]string{
		// "file.pcap": "why its DNS rows cannot be learned",
	}
	return reasons[file]
}

// TestSharedCapturesDNS replays every shared capture that has a ground
// truth through the Decoder and the Reader, and checks that each address
// a classic DNS answer on port 53 gave is learned under the asked name.
func TestSharedCapturesDNS(t *testing.T) {
	dir := sharedCaptures(t)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total, matched int
	var auto, on Stats // query matching, as netmon runs (auto) and forced on
	var onHit int
	for _, f := range files {
		want := filepath.Join(dir, "expected", f.Name()+".tsv")
		if f.IsDir() {
			continue
		}
		if _, err := os.Stat(want); err != nil {
			continue
		}
		t.Run(f.Name(), func(t *testing.T) {
			rows := expectedDNS(t, want)
			got, st := replayDNS(t, filepath.Join(dir, f.Name()), MatchAuto)
			gotOn, stOn := replayDNS(t, filepath.Join(dir, f.Name()), MatchOn)
			auto.Queries, auto.Matched, auto.Unmatched = auto.Queries+st.Queries, auto.Matched+st.Matched, auto.Unmatched+st.Unmatched
			on.Queries, on.Matched, on.Unmatched = on.Queries+stOn.Queries, on.Matched+stOn.Matched, on.Unmatched+stOn.Unmatched
			for _, r := range expectedDNS(t, want) {
				if gotOn[r.addr.String()+" "+r.name] {
					onHit++
				}
			}
			reason := knownMisses(f.Name())
			hit := 0
			for _, r := range rows {
				key := r.addr.String() + " " + r.name
				if _, ok := got[key]; ok {
					hit++
					continue
				}
				if reason != "" {
					t.Logf("known miss %s: %s", key, reason)
					continue
				}
				t.Errorf("%s → %s (first frame %s) not learned", r.addr, r.name, r.frame)
			}
			want := make(map[string]bool, len(rows))
			for _, r := range rows {
				want[r.addr.String()+" "+r.name] = true
			}
			var extra []string
			for k := range got {
				if !want[k] {
					extra = append(extra, k)
				}
			}
			if len(extra) > 0 {
				slices.Sort(extra)
				t.Logf("learned beyond the ground truth (other ports, tunnels, mDNS...): %q", extra)
			}
			total += len(rows)
			matched += hit
			if len(rows) > 0 {
				t.Logf("%s: %d/%d expected DNS rows learned (%.1f%%)", f.Name(), hit, len(rows), 100*float64(hit)/float64(len(rows)))
			}
		})
	}
	if total > 0 {
		t.Logf("all captures: %d/%d expected DNS rows learned (%.1f%%)", matched, total, 100*float64(matched)/float64(total))
		t.Logf("query matching auto: %d queries, %d responses matched, %d unmatched", auto.Queries, auto.Matched, auto.Unmatched)
		t.Logf("query matching on: %d queries, %d responses matched, %d unmatched; %d/%d expected DNS rows learned", on.Queries, on.Matched, on.Unmatched, onHit, total)
	}
}

// sharedCaptures returns the folder of shared captures: $NETMON_PCAP_DIR,
// or the shared folder beside the repository.
func sharedCaptures(t testing.TB) string { return capturetest.Dir(t) }

// TestSharedCapturesFirstFragments reads badpackets.pcap, whose DNS
// answers are first IPv4 fragments cut short, straight to the Reader,
// without the Decoder: every complete record before the cut must be
// learned whatever the Decoder does with fragments whose rest is lost.
func TestSharedCapturesFirstFragments(t *testing.T) {
	dir := sharedCaptures(t)
	const file = "badpackets.pcap"
	rows := expectedDNS(t, filepath.Join(dir, "expected", file+".tsv"))
	src, err := capture.OpenFile(filepath.Join(dir, file), "")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tab := newTableWith(func(c *addrtable.Config) { c.Cap = 1 << 20; c.PendingCap = 1 << 20 }, addrtable.Deps{Now: func() time.Time { return t0 }})
	l := newReader(tab)
	for {
		data, ci, err := src.ReadPacketData()
		if err != nil {
			break
		}
		if p, ok := firstFragmentUDP(data, ci.Timestamp); ok {
			l.learn(batch(p))
		}
	}
	got := make(map[string]bool)
	for _, r := range tab.Drain(nil) {
		got[r.Addr.String()+" "+strings.ToLower(tsharkEscape(r.Domain))] = true
	}
	hit := 0
	for _, r := range rows {
		if got[r.addr.String()+" "+r.name] {
			hit++
		} else {
			t.Errorf("%s → %s (first frame %s) not learned", r.addr, r.name, r.frame)
		}
	}
	t.Logf("%s first fragments: %d/%d expected DNS rows learned; learner: %+v", file, hit, len(rows), l.Stats())
	if len(rows) == 0 {
		t.Errorf("%s: no expected DNS rows", file)
	}
}

// firstFragmentUDP takes the UDP payload from an Ethernet frame holding
// the first fragment of an IPv4 datagram, as far as it goes.
func firstFragmentUDP(f []byte, ts time.Time) (capture.Packet, bool) {
	if len(f) < 14+20 || f[12] != 0x08 || f[13] != 0x00 {
		return capture.Packet{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl+8 || ip[9] != capture.ProtoUDP || ip[6]&0x1f != 0 || ip[7] != 0 {
		return capture.Packet{}, false
	}
	udp := ip[ihl:]
	return capture.Packet{
		TS: ts, Src: netip.AddrFrom4([4]byte(ip[12:16])), Dst: netip.AddrFrom4([4]byte(ip[16:20])),
		SrcPort: uint16(udp[0])<<8 | uint16(udp[1]), DstPort: uint16(udp[2])<<8 | uint16(udp[3]),
		Proto: capture.ProtoUDP, Payload: udp[8:],
	}, true
}

type dnsRow struct {
	addr  netip.Addr
	name  string // lower-cased, as tshark prints it
	frame string
}

// expectedDNS reads the rows of a ground truth file that netmon's DNS
// learner should produce: source dns, port 53, no tunnel in front.
func expectedDNS(t *testing.T, path string) []dnsRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var (
		col  map[string]int
		rows []dnsRow
	)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = make(map[string]int)
			for i, h := range fields {
				col[h] = i
			}
			for _, h := range []string{"server_name", "source", "address", "port", "first_frame", "encap"} {
				if _, ok := col[h]; !ok {
					t.Fatalf("%s: no %s column", path, h)
				}
			}
			continue
		}
		get := func(h string) string {
			if i := col[h]; i < len(fields) {
				return fields[i]
			}
			return ""
		}
		if get("source") != "dns" || get("port") != "53" || tunnelled(get("encap")) {
			continue
		}
		a, err := netip.ParseAddr(get("address"))
		if err != nil {
			t.Fatalf("%s: address %q: %v", path, get("address"), err)
		}
		rows = append(rows, dnsRow{addr: a.Unmap(), name: strings.ToLower(get("server_name")), frame: get("first_frame")})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// tunnelled reports whether encap lists a tunnel. VLAN tags and PPPoE sit
// in front of the IP header that carries the answer and the Decoder opens
// them; GTP, IP-in-IP and the like are tunnels it does not.
func tunnelled(encap string) bool {
	for e := range strings.SplitSeq(encap, ",") {
		if e != "" && e != "vlan" && e != "pppoes" {
			return true
		}
	}
	return false
}

// replayDNS feeds a capture through the Decoder and a Reader and returns
// every "address name" pair the table learned, names printed as tshark
// prints them.
func replayDNS(t *testing.T, path string, match Match) (map[string]bool, Stats) {
	t.Helper()
	src, err := capture.OpenFile(path, "")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer src.Close()
	// The table must forget nothing: the check is about what was learned
	// at any time, not what survives.
	now := func() time.Time { return t0 }
	tab := newTableWith(func(c *addrtable.Config) { c.Cap = 1 << 20; c.PendingCap = 1 << 20 }, addrtable.Deps{Now: now})
	l := newReader(tab, func(c *Config) { c.Match = match })
	dec := capture.NewDecoder(capture.DefaultDecoderConfig())

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out := make(chan *capture.Batch, 4) // a few batches decouple decoding from learning
	errc := make(chan error, 1)
	go func() {
		errc <- dec.Run(ctx, src, out)
		close(out)
	}()
	for b := range out {
		l.learn(b)
		b.Release()
	}
	if err := <-errc; err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	got := make(map[string]bool)
	for _, r := range tab.Drain(nil) {
		got[r.Addr.String()+" "+strings.ToLower(tsharkEscape(r.Domain))] = true
	}
	t.Logf("learner (DNS match %s): %+v", match, l.Stats())
	return got, l.Stats()
}

// tsharkEscape prints a name the way tshark writes it in the ground truth:
// bytes outside printable ASCII as three-digit octal escapes.
func tsharkEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, "\\%03o", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
