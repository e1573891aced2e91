package cmd

import (
	"cmp"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/store/storetest"
)

// topDoc mirrors the --json document, so that decoding with unknown fields
// disallowed pins its shape.
type topDoc struct {
	By    string     `json:"by"`
	Agent string     `json:"agent"`
	Since *time.Time `json:"since"`
	Total struct {
		Groups  int    `json:"groups"`
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
		// Packets of rows from before netmon (an adopted seed), bytes unknown.
		UnknownBytes uint64    `json:"unknown_bytes_packets"`
		FirstSeen    time.Time `json:"first_seen"`
		LastSeen     time.Time `json:"last_seen"`
	} `json:"total"`
	Rows []topDocRow `json:"rows"`
}

type topDocRow struct {
	Name    string `json:"name"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// UnknownBytes: packets whose bytes are not known.
	UnknownBytes uint64        `json:"unknown_bytes_packets"`
	Share        float64       `json:"share"`
	FirstSeen    time.Time     `json:"first_seen"`
	LastSeen     time.Time     `json:"last_seen"`
	Device       *topDocDevice `json:"device"`
}

type topDocDevice struct {
	ID            string   `json:"id"`
	Clients       []string `json:"clients"`
	MAC           string   `json:"mac"`
	Hostname      string   `json:"hostname"`
	HostnameBytes []byte   `json:"hostname_bytes"`
	NameSource    string   `json:"name_source"`
	Vendor        string   `json:"vendor"`
	Randomised    bool     `json:"randomised"`
}

func topJSONOf(t *testing.T, args ...string) topDoc {
	t.Helper()
	r := netmon(t, append([]string{"top", "--json"}, args...)...)
	r.mustSucceed(t)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var doc topDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("top --json %v: %v\n%s", args, err, r.stdout)
	}
	return doc
}

// expectTop is what netmon top must print for rows, computed here: the
// groups key makes, ordered by key on ties, each named by name (the key
// when nil).
func expectTop(rows []dbRow, key func(dbRow) string, limit int, name func(key string, s *sums) string) (want []topDocRow, groups int, packets, bytes uint64) {
	m := sumBy(rows, key)
	keys := make([]string, 0, len(m))
	for k, s := range m {
		keys = append(keys, k)
		packets += s.packets
		bytes += s.bytes
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b].packets, m[a].packets), cmp.Compare(m[b].bytes, m[a].bytes), strings.Compare(a, b))
	})
	if limit > 0 {
		keys = keys[:min(limit, len(keys))]
	}
	for _, k := range keys {
		s := m[k]
		n := k
		if name != nil {
			n = name(k, s)
		}
		want = append(want, topDocRow{Name: n, Packets: s.packets, Bytes: s.bytes,
			Share: float64(s.packets) / float64(packets), FirstSeen: s.first, LastSeen: s.last})
	}
	return want, len(m), packets, bytes
}

// After a replay of an old capture, top --since all adds up the rows:
// the exact totals of the capture, and per service, domain and device
// what the rows hold.
func TestTopReplay(t *testing.T) {
	dir := pcapDir(t)
	netflix := filepath.Join(dir, "netflix.pcap")
	dsn, db := migratedDB(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "home", "--no-ptr", netflix).mustSucceed(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "office", "--no-ptr", filepath.Join(dir, "KakaoTalk_chat.pcap")).mustSucceed(t)
	home := rowsOf(t, db, "home")
	all := append(slices.Clone(home), rowsOf(t, db, "office")...)

	// netflix.pcap is one device; its packets and bytes on ports 80 and
	// 443, counted independently, and as they stand today.
	const netflixPackets, netflixBytes = 1748, 999239
	wantP, wantB := independentCount(t, netflix)
	if wantP != netflixPackets || wantB != netflixBytes {
		t.Errorf("independent count of netflix.pcap = %d packets, %d bytes; the test expects %d, %d", wantP, wantB, netflixPackets, netflixBytes)
	}
	// Whatever the capture teaches about the device, its one address is
	// the line.
	doc := topJSONOf(t, "--dsn", dsn, "--since", "all", "--by", "device", "--agent", "home")
	if len(doc.Rows) != 1 || doc.Rows[0].Device == nil || !slices.Equal(doc.Rows[0].Device.Clients, []string{"192.168.1.7"}) ||
		!strings.HasPrefix(doc.Rows[0].Name, cmp.Or(doc.Rows[0].Device.Hostname, "192.168.1.7")) || doc.Rows[0].Packets != wantP ||
		doc.Rows[0].Bytes != wantB || doc.Rows[0].Share != 1 || doc.Total.Packets != wantP || doc.Total.Bytes != wantB {
		t.Errorf("top --by device --agent home = %+v, want 192.168.1.7 alone with %d packets, %d bytes", doc, wantP, wantB)
	}

	known := readDevices(t, db)
	keys := map[string]func(dbRow) string{
		"service": func(r dbRow) string { return r.Nickname },
		"domain":  func(r dbRow) string { return r.Domain },
		"device":  known.key,
	}
	names := map[string]func(string, *sums) string{"device": known.label}
	tests := []struct {
		by, agent string
		limit     int
		rows      []dbRow
	}{
		{"service", "", 0, all},
		{"domain", "", 0, all},
		{"device", "", 0, all},
		{"service", "home", 3, home},
		{"domain", "office", 5, rowsOf(t, db, "office")},
	}
	for _, tt := range tests {
		args := []string{"--dsn", dsn, "--since", "all", "--by", tt.by, "--limit", strconv.Itoa(tt.limit)}
		if tt.agent != "" {
			args = append(args, "--agent", tt.agent)
		}
		got := topJSONOf(t, args...)
		wantRows, groups, packets, bytes := expectTop(tt.rows, keys[tt.by], tt.limit, names[tt.by])
		if d := gocmp.Diff(wantRows, got.Rows, cmpopts.IgnoreFields(topDocRow{}, "Device")); d != "" {
			t.Errorf("top %v rows (-want +got):\n%s", args, d)
		}
		if got.By != tt.by || got.Agent != tt.agent || got.Since != nil || got.Total.Groups != groups ||
			got.Total.Packets != packets || got.Total.Bytes != bytes {
			t.Errorf("top %v: by %q agent %q since %v, total %+v; want %d groups, %d packets, %d bytes",
				args, got.By, got.Agent, got.Since, got.Total, groups, packets, bytes)
		}
	}

	// The table: 80 columns, the numbers of the rows, and a line for what
	// --limit left out.
	r := netmon(t, "top", "--dsn", dsn, "--since", "all", "--by", "domain", "--limit", "5")
	r.mustSucceed(t)
	checkTerminalSafe(t, r.stdout)
	wantRows, groups, packets, _ := expectTop(all, keys["domain"], 5, nil)
	out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(out) != 3+1+5+1 {
		t.Fatalf("want 3 header lines, 5 rows and a remainder line:\n%s", r.stdout)
	}
	if !strings.HasPrefix(out[0], strconv.Itoa(groups)+" domains, "+packetCount(packets)+" packets, ") ||
		!strings.HasSuffix(out[0], "every agent") {
		t.Errorf("header %q", out[0])
	}
	if !strings.HasPrefix(out[3], "DOMAIN") || !strings.Contains(out[3], "PACKETS") {
		t.Errorf("column header %q", out[3])
	}
	for i, w := range wantRows {
		f := strings.Fields(out[4+i])
		name := strings.TrimSuffix(f[0], "…")
		if !strings.HasPrefix(w.Name, name) || f[1] != packetCount(w.Packets) || f[4] != percent(w.Share) {
			t.Errorf("line %q, want %s with %d packets (%s)", out[4+i], w.Name, w.Packets, percent(w.Share))
		}
	}
	if !strings.HasPrefix(out[9], "… and "+strconv.Itoa(groups-5)+" more domains: ") {
		t.Errorf("last line %q", out[9])
	}
}

// checkTerminalSafe fails when out has a line wider than 80 columns, or
// anything a terminal would act on or draw wider than one column: control
// characters, invalid UTF-8, non-ASCII other than the ellipsis.
func checkTerminalSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8:\n%q", out)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("line of %d columns: %q", n, l)
		}
		for _, r := range l {
			if (r < 0x20 || r > 0x7e) && r != '…' {
				t.Errorf("line carries %U: %q", r, l)
				break
			}
		}
	}
}

// insertRows writes rows as the writer would, for cases the captures lack.
func insertRows(t *testing.T, db *sqlx.DB, rows []dbRow) {
	t.Helper()
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.TS, r.Agent, r.Client, []byte(r.Domain), r.Nickname, r.Source, r.Count, r.Bytes); err != nil {
			t.Fatal(err)
		}
	}
}

// Names come off the wire: whatever bytes they hold, the table stays 80
// columns of plain text, with the bytes shown as escapes.
func TestTopHostileNames(t *testing.T) {
	dsn, db := migratedDB(t)
	ts := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	agent := "sensor\x1b]0;owned\x07-" + strings.Repeat("w", 40)
	hostile := []string{
		"\x1b[2J\x1b[H" + "clear.example",
		"bell\x07\r\nnext-line.example",
		"\u202eevil\u202c.example",
		"\xff\xfe-not-utf8.example",
		"wide-宽宽宽宽宽宽宽宽宽宽宽宽宽宽宽宽宽宽宽宽.example",
		strings.Repeat("long-label.", 23),
		`back\slash"quote.example`,
	}
	var rows []dbRow
	for i, h := range hostile {
		rows = append(rows, dbRow{TS: ts.Add(time.Duration(i) * 10 * time.Second), Agent: agent, Client: "192.168.1.9",
			Domain: h, Nickname: strings.ToValidUTF8(h, "\uFFFD"), Source: "dns", Count: uint64(100 - i), Bytes: 1000})
	}
	insertRows(t, db, rows)

	for _, by := range []string{"domain", "service"} {
		r := netmon(t, "top", "--dsn", dsn, "--since", "all", "--by", by, "--agent", agent)
		r.mustSucceed(t)
		checkTerminalSafe(t, r.stdout)
		for _, want := range []string{`\x1b[2J\x1b[H`, `bell\a\r\n`, `\u202eevil`, `back\\slash"quote`, `wide-\u5bbd`, "long-label.long-label."} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("--by %s: no %q in\n%s", by, want, r.stdout)
			}
		}
		if by == "domain" && !strings.Contains(r.stdout, `\xff\xfe-not-utf8`) {
			t.Errorf("invalid bytes not escaped:\n%s", r.stdout)
		}
	}
	// --json keeps the names (as JSON strings) and their numbers.
	doc := topJSONOf(t, "--dsn", dsn, "--since", "all", "--by", "domain", "--agent", agent)
	if len(doc.Rows) != len(hostile) || doc.Rows[0].Name != hostile[0] || doc.Agent != agent {
		t.Errorf("--json rows %+v", doc.Rows)
	}
}

// --since counts back from now; the message for an empty range says where
// the data is.
func TestTopSince(t *testing.T) {
	dsn, db := migratedDB(t)
	now := time.Now().UTC().Truncate(10 * time.Second)
	insertRows(t, db, []dbRow{
		{TS: now.Add(-5 * time.Minute), Agent: "live", Client: "192.168.1.2", Domain: "a.example", Nickname: "A", Source: "dns", Count: 10, Bytes: 100},
		{TS: now.Add(-3 * time.Hour), Agent: "live", Client: "192.168.1.2", Domain: "b.example", Nickname: "B", Source: "dns", Count: 20, Bytes: 200},
		{TS: time.Date(2017, 1, 13, 14, 50, 30, 0, time.UTC), Agent: "old", Client: "192.168.1.7", Domain: "c.example", Nickname: "C", Source: "dns", Count: 30, Bytes: 300},
	})
	names := func(doc topDoc) []string {
		var n []string
		for _, r := range doc.Rows {
			n = append(n, r.Name)
		}
		return n
	}
	for _, tt := range []struct {
		since string
		want  []string
	}{
		{"1h", []string{"A"}},
		{"4h", []string{"B", "A"}},
		{"1d", []string{"B", "A"}},
		{"all", []string{"C", "B", "A"}},
	} {
		doc := topJSONOf(t, "--dsn", dsn, "--since", tt.since)
		if got := names(doc); !slices.Equal(got, tt.want) {
			t.Errorf("--since %s = %v, want %v", tt.since, got, tt.want)
		}
		if (doc.Since == nil) != (tt.since == "all") {
			t.Errorf("--since %s: since %v", tt.since, doc.Since)
		}
	}

	r := netmon(t, "top", "--dsn", dsn, "--agent", "old")
	if r.code != 1 || r.stdout != "" ||
		!strings.Contains(r.lastLine(), "the newest is from 2017-01-13 14:50:30 UTC (try --since all") {
		t.Errorf("old data, --since 1h: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestTopErrors(t *testing.T) {
	empty := storetest.NewDB(t)
	migrated, db := migratedDB(t)
	insertRows(t, db, []dbRow{{TS: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), Agent: "home", Client: "192.168.1.2",
		Domain: "a.example", Nickname: "A", Source: "dns", Count: 1, Bytes: 60}})
	noDB := strings.Replace(empty, "/netmon_test_", "/netmon_missing_", 1)
	emptyMigrated, _ := migratedDB(t)
	// A database an older netmon migrated, before 00004 added nickname_source.
	old := storetest.NewDB(t)
	storetest.MigrateTo(t, old, 3)

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--dsn", empty}, `netmon: table tcpdump_records is missing: run "netmon migrate" first`},
		{[]string{"--dsn", old}, `netmon: column nickname_source of tcpdump_records is missing, the schema is older than this netmon: run "netmon migrate" first`},
		{[]string{"--dsn", emptyMigrated, "--json"}, `netmon: no traffic recorded yet: run "netmon run -i IFACE" or "netmon replay FILE" with this database`},
		{[]string{"--dsn", migrated, "--agent", "hom", "--since", "all"}, `netmon: no rows for agent "hom" (agents with rows: "home")`},
		{[]string{"--dsn", migrated, "--by", "nickname"}, `netmon: --by "nickname": want service, domain or device`},
		{[]string{"--dsn", migrated, "--since", "yesterday"}, `netmon: --since "yesterday": want an age such as 30m, 12h, 7d or 1d12h, or "all"`},
		{[]string{"--dsn", migrated, "--since", "-1h"}, `netmon: --since "-1h": want an age such as 30m, 12h, 7d or 1d12h, or "all"`},
		{[]string{"--dsn", migrated, "--limit", "-1"}, `netmon: --limit must be at least 0, got -1`},
		{[]string{"--dsn", noDB}, "database does not exist"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tt := range tests {
		r := netmon(t, append([]string{"top"}, tt.args...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.lastLine(), tt.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("top %v: exit %d, stdout %q, stderr %q; want exit 1 and the one line %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

func TestTopFormatting(t *testing.T) {
	for _, tt := range []struct {
		n           uint64
		bytes, pkts string
	}{
		{0, "0 B", "0"},
		{999, "999 B", "999"},
		{1000, "1.0 kB", "1,000"},
		{999_949, "999.9 kB", "999,949"},
		{999_950, "1.0 MB", "999,950"},
		{1_234_567, "1.2 MB", "1,234,567"},
		{999_999_999, "1.0 GB", "999,999,999"},
		{1_000_000_000, "1.0 GB", "1.0G"},
		{18_446_744_073_709_551_615, "18.4 EB", "18.4E"},
	} {
		if got := byteCount(tt.n); got != tt.bytes {
			t.Errorf("byteCount(%d) = %q, want %q", tt.n, got, tt.bytes)
		}
		if got := packetCount(tt.n); got != tt.pkts {
			t.Errorf("packetCount(%d) = %q, want %q", tt.n, got, tt.pkts)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"www.example.com", "www.example.com"},
		{"\x1b[31mred", `\x1b[31mred`},
		{"a\x00b\x7f", `a\x00b\x7f`},
		{"caf\u00e9", `caf\u00e9`},
		{"\xc3", `\xc3`},
		{`a\b"c`, `a\\b"c`},
		{"\u202e", `\u202e`},
	} {
		if got := escapeName(tt.in); got != tt.want {
			t.Errorf("escapeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := fit("abcdefgh", 5); got != "abcd…" {
		t.Errorf("fit = %q", got)
	}
	if got := fit("abcde", 5); got != "abcde" {
		t.Errorf("fit = %q", got)
	}
}

// fit cuts escaped names between escapes, never through one.
func TestFitKeepsEscapesWhole(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  string
	}{
		{`abc`, 5, `abc`},
		{`abcdef`, 4, `abc…`},
		{`ab\x1bcd`, 5, `ab…`}, // not ab\x…
		{`ab\x1bcd`, 7, `ab\x1b…`},
		{`a\\b\\c`, 3, `a…`}, // not a\…, half of \\
		{`\u202eevil`, 6, `…`},
		{`ab\ncd`, 5, `ab\n…`},
		{`ab\ncd`, 4, `ab…`},
		{`日本語\x00`, 5, `日本語…`},
	} {
		if got := fit(c.in, c.width); got != c.want {
			t.Errorf("fit(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}
