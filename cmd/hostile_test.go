package cmd

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/store/storetest"
)

// hostileName is a name as its labels cross the wire and as netmon must
// store it: ASCII letters lower-cased, the trailing dot dropped, every other
// byte kept, whatever it means to SQL, a terminal or UTF-8.
type hostileName struct {
	labels []string
	stored string // "" for a name refused: the address literal is stored
	shown  string // what netmon top must print of it (a prefix: long names are cut)
}

var hostileNames = []hostileName{
	{[]string{`o'brien"q`, "example"}, `o'brien"q.example`, `o'brien"q.example`},
	{[]string{`back\slash\`, "example"}, `back\slash\.example`, `back\\slash\\.example`},
	{[]string{"100%_off", "example"}, "100%_off.example", "100%_off.example"},
	{[]string{"nul\x00byte", "example"}, "nul\x00byte.example", `nul\x00byte.example`},
	{[]string{"\xff\xfe\xc0", "example"}, "\xff\xfe\xc0.example", `\xff\xfe\xc0.example`},
	{[]string{"x'); DROP TABLE tcpdump_records; --", "example"}, "x'); drop table tcpdump_records; --.example", "x'); drop table tcpdump_"},
	{[]string{"MiXeD", "CaSe"}, "mixed.case", "mixed.case"},
	{[]string{strings.Repeat("a", 63), "example"}, strings.Repeat("a", 63) + ".example", strings.Repeat("a", 20)},
	{[]string{strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 63), strings.Repeat("e", 61)},
		strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 61), strings.Repeat("b", 20)},
	// dnsmessage refuses a label holding a dot (its text form could not
	// tell it from two labels): the message counts as malformed and the
	// address keeps its literal.
	{[]string{".."}, "", "203.0.113.19"},
	{[]string{"."}, "", "203.0.113.20"},
}

type row struct {
	client, domain, source string
	count                  uint64
}

func fmtRows(rs []row) []string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%s %q %s %d", r.client, r.domain, r.source, r.count))
	}
	return s
}

// TestHostileNames sends crafted names through the whole path — DNS
// answers built by hand, a pcap file, netmon replay, MariaDB, netmon top —
// and checks that each is stored byte for byte as the learner normalises
// it, and shown escaped. It also checks that a spoofed answer (wrong ID, or
// a second answer to one query) names nothing while query matching is on,
// and does with --dns-match-queries=off.
func TestHostileNames(t *testing.T) {
	if n := len(hostileNames[8].stored); n != 253 {
		t.Fatalf("the long name is %d bytes, want 253", n)
	}
	dsn, db := migratedDB(t)
	base := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	resolverAddr := netip.MustParseAddr("192.168.1.1")
	quiet := netip.MustParseAddr("192.168.1.23") // its queries are not in the capture
	asker := netip.MustParseAddr("192.168.1.24") // its queries are

	fw := newFrameWriter(t, "hostile.pcap")
	ts := base
	for i, h := range hostileNames {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)})
		fw.UDP(ts, resolverAddr, quiet, 53, uint16(40000+i), rawDNS(uint16(i), true, h.labels, addr))
		for j := range 2 {
			fw.TCP(ts.Add(time.Millisecond), quiet, addr, uint16(50000+i), 80, uint32(j*10), false, nil)
		}
		ts = ts.Add(10 * time.Millisecond)
	}
	real := netip.MustParseAddr("198.51.100.1")
	spoofed := netip.MustParseAddr("198.51.100.2")
	second := netip.MustParseAddr("198.51.100.3")
	fw.UDP(ts, asker, resolverAddr, 41000, 53, rawDNS(0x1111, false, []string{"real", "example"}, netip.Addr{}))
	fw.UDP(ts, resolverAddr, asker, 53, 41000, rawDNS(0x2222, true, []string{"spoofed", "example"}, spoofed))
	fw.UDP(ts, resolverAddr, asker, 53, 41000, rawDNS(0x1111, true, []string{"real", "example"}, real))
	fw.UDP(ts, resolverAddr, asker, 53, 41000, rawDNS(0x1111, true, []string{"second", "example"}, second))
	for i, a := range []netip.Addr{real, spoofed, second} {
		fw.TCP(ts.Add(time.Millisecond), asker, a, uint16(51000+i), 443, 1, false, nil)
	}
	fw.Close()

	want := func(matching bool) []row {
		var w []row
		for i, h := range hostileNames {
			if h.stored == "" {
				w = append(w, row{quiet.String(), netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}).String(), "ip", 2})
				continue
			}
			w = append(w, row{quiet.String(), h.stored, "dns", 2})
		}
		w = append(w, row{asker.String(), "real.example", "dns", 1})
		if matching {
			w = append(w, row{asker.String(), spoofed.String(), "ip", 1}, row{asker.String(), second.String(), "ip", 1})
		} else {
			w = append(w, row{asker.String(), "spoofed.example", "dns", 1}, row{asker.String(), "second.example", "dns", 1})
		}
		slices.SortFunc(w, func(a, b row) int { return strings.Compare(a.client+a.domain, b.client+b.domain) })
		return w
	}
	for _, tc := range []struct {
		agent, flag string
		matching    bool
	}{{"hostile", "auto", true}, {"hostile-off", "off", false}} {
		netmon(t, "replay", "--dsn", dsn, "--agent", tc.agent, "--no-ptr", "--dns-match-queries", tc.flag, fw.Path).mustSucceed(t)
		var got []row
		for _, r := range rowsOf(t, db, tc.agent) {
			got = append(got, row{r.Client, r.Domain, r.Source, r.Count})
		}
		slices.SortFunc(got, func(a, b row) int { return strings.Compare(a.client+a.domain, b.client+b.domain) })
		w := want(tc.matching)
		if !slices.Equal(got, w) {
			t.Errorf("--dns-match-queries %s: rows\n got %+q\nwant %+q", tc.flag, fmtRows(got), fmtRows(w))
		}
	}

	// dns_records holds each name verbatim too, definite, and no forged one.
	stored := map[string]string{}
	for _, n := range namesOf(t, db, "hostile") {
		if !n.Definite || n.Source != "dns" {
			t.Errorf("dns_records %+v: want a definite dns name", n)
		}
		stored[n.IPAddr] = n.Domain
	}
	for i, h := range hostileNames {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}).String()
		if got, ok := stored[addr]; h.stored != "" && got != h.stored || h.stored == "" && ok {
			t.Errorf("dns_records for %s: %q (held %v), want %q", addr, got, ok, h.stored)
		}
	}
	if d, ok := stored[spoofed.String()]; ok {
		t.Errorf("dns_records holds the forged %q", d)
	}

	// SQLite stores the same bytes: rows and names alike.
	lpath := filepath.Join(t.TempDir(), "hostile.db")
	netmon(t, "replay", "--db", lpath, "--agent", "hostile", "--no-ptr", fw.Path).mustSucceed(t)
	lite := storetest.Open(t, "sqlite:"+lpath)
	if d := cmp.Diff(rowsOf(t, lite, "hostile"), rowsOf(t, db, "hostile")); d != "" {
		t.Errorf("tcpdump_records, SQLite (-got) vs MariaDB (+want):\n%s", d)
	}
	if d := cmp.Diff(namesOf(t, lite, "hostile"), namesOf(t, db, "hostile")); d != "" {
		t.Errorf("dns_records, SQLite (-got) vs MariaDB (+want):\n%s", d)
	}

	r := netmon(t, "top", "--dsn", dsn, "--since", "all", "--by", "domain", "--agent", "hostile", "--limit", "50")
	r.mustSucceed(t)
	checkTerminalSafe(t, r.stdout)
	for _, h := range hostileNames {
		if !strings.Contains(r.stdout, h.shown) {
			t.Errorf("netmon top shows no %q:\n%s", h.shown, r.stdout)
		}
	}
	// --json gives the names whole; JSON itself cannot carry invalid UTF-8.
	doc := topJSONOf(t, "--dsn", dsn, "--since", "all", "--by", "domain", "--agent", "hostile", "--limit", "50")
	names := map[string]bool{}
	for _, d := range doc.Rows {
		names[d.Name] = true
	}
	for _, h := range hostileNames {
		if h.stored != "" && utf8.ValidString(h.stored) && !names[h.stored] {
			t.Errorf("top --json lacks %q", h.stored)
		}
	}
}
