package grafana

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/store/storetest"
)

const (
	dashboardFile  = "dashboards/netmon.json"
	datasourceFile = "provisioning/datasources/netmon.yaml"
	providerFile   = "provisioning/dashboards/netmon.yaml"

	// seedQuery is the panel query netmon's users started with; the first
	// panel keeps it verbatim.
	seedQuery = "SELECT UNIX_TIMESTAMP(ts) AS time, nickname AS metric, sum(count) AS value FROM tcpdump_records WHERE $__timeFilter(ts) GROUP BY nickname, ts ORDER BY ts"
)

// The dashboard as the test reads it.
type dashboard struct {
	UID        string
	Title      string
	Templating struct{ List []dashVar }
	Panels     []dashPanel
}

type dashVar struct {
	Name, Type, AllValue string
	Query                any // a string for SQL variables
	Multi, IncludeAll    bool
	Datasource           *dsRef
}

type dsRef struct{ Type, UID string }

type dashPanel struct {
	ID         int
	Type       string
	Title      string
	Repeat     string
	Datasource *dsRef
	Panels     []dashPanel // a collapsed row's
	Targets    []dashTarget
}

// dashTarget is a panel's query: Grafana's MySQL data source keeps it in
// rawSql, with format time_series or table; the SQLite plugin in
// rawQueryText, with queryType "time series" or "table" and the columns
// it reads as times.
type dashTarget struct {
	RefID        string
	Format       string
	RawSQL       string `json:"rawSql"`
	RawQueryText string
	QueryText    string
	QueryType    string
	TimeColumns  []string
	Datasource   *dsRef
}

func (tg dashTarget) query() string { return cmp.Or(tg.RawSQL, tg.RawQueryText) }

func readDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// queryPanels are the panels with queries, rows' panels included, in order.
func queryPanels(ps []dashPanel) []dashPanel {
	var out []dashPanel
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, queryPanels(p.Panels)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// The required panels, by title; each has a check in TestDashboardQueries.
var requiredPanels = []string{
	"Services over time",
	"Top services by packets",
	"Top services by bytes",
	"Devices × services",
	"Services of ${device:text} over time",
	"How names were found",
	"How services were named",
	"Devices using encrypted DNS",
	"Services first seen in this range",
	"Devices",
}

// The dashboard's shape: what Grafana needs to load it, and the rules the
// queries keep.
func TestDashboardShape(t *testing.T) {
	d := readDashboard(t, dashboardFile)
	if d.UID == "" || d.Title != "netmon — home network" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	panels := queryPanels(d.Panels)
	if len(panels) == 0 || len(panels[0].Targets) != 1 || panels[0].Targets[0].RawSQL != seedQuery {
		t.Errorf("the first panel must hold the seed's query unchanged:\n%s", seedQuery)
	}
	titles := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range panels {
		titles[p.Title] = true
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if tg.Format != "time_series" && tg.Format != "table" {
				t.Errorf("panel %q: format %q", p.Title, tg.Format)
			}
			if tg.Datasource == nil || tg.Datasource.Type != "mysql" || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query data source %+v", p.Title, tg.Datasource)
			}
			checkHexVars(t, "panel "+strconv.Quote(p.Title), tg.RawSQL)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok {
			checkHexVars(t, "variable "+v.Name, q)
		}
	}
	for _, want := range requiredPanels {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
	vars := map[string]dashVar{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.Query != "mysql" {
		t.Errorf("datasource variable: %+v", v)
	}
	for _, name := range []string{"agent", "device", "service"} {
		v, ok := vars[name]
		if !ok || v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != "'__all'" {
			t.Errorf("variable %s: %+v; want a multi-value query variable with All = '__all'", name, v)
		}
		if _, isString := v.Query.(string); !isString || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s: query %T from %+v", name, v.Query, v.Datasource)
		}
	}

	// The provisioning files agree with the dashboard and with how netmon
	// stores time.
	for file, wants := range map[string][]string{
		datasourceFile: {"type: mysql", "uid: netmon", "url: localhost:3306", "database: netmon",
			`timezone: "+00:00"`, "timeInterval: 10s", "password: ${NETMON_GRAFANA_DB_PASSWORD}"},
		providerFile: {"type: file", "path: /var/lib/grafana/dashboards/netmon"},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), "\n"+w) && !strings.Contains(string(b), " "+w+"\n") {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
}

// Nicknames and device IDs reach the variables from the wire, and Grafana's
// quoting does not escape backslashes, which MariaDB honours: a value ending
// in \ would break out of its quotes. So the service and device variables
// carry HEX() of their values, digits only, and every comparison with them
// is of that form.
var hexVarUse = map[string]*regexp.Regexp{
	"$service": regexp.MustCompile(`\('__all' IN \(\$service\) OR HEX\((r\.)?nickname\) IN \(\$service\)\)`),
	"$device":  regexp.MustCompile(`\('__all' IN \(\$device\) OR HEX\((r\.device|d\.device_id)\) IN \(\$device\)\)`),
}

func checkHexVars(t *testing.T, what, sqlText string) {
	t.Helper()
	for name, re := range hexVarUse {
		if n := strings.Count(sqlText, name); n != 2*len(re.FindAllString(sqlText, -1)) {
			t.Errorf("%s compares %s other than as HEX():\n%s", what, name, sqlText)
		}
	}
}

// grafanaDB opens dsn as Grafana's MySQL data source does, with the
// provisioned session time zone.
func grafanaDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Collation = "utf8mb4_unicode_ci"
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// queryResult is one query's answer: column names, MariaDB types, and values.
type queryResult struct {
	cols  []string
	types []string
	rows  [][]any
}

func (r queryResult) col(name string) int { return slices.Index(r.cols, name) }

func runQuery(ctx context.Context, db *sql.DB, q string) (queryResult, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return queryResult{}, err
	}
	defer rows.Close()
	var res queryResult
	if res.cols, err = rows.Columns(); err != nil {
		return queryResult{}, err
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return queryResult{}, err
	}
	for _, ct := range cts {
		res.types = append(res.types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		vals := make([]any, len(res.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return queryResult{}, err
		}
		res.rows = append(res.rows, vals)
	}
	return res, rows.Err()
}

// Column types Grafana's MySQL data source turns into numbers (its
// converters, and the driver's unsigned integers) and into text.
var (
	numericTypes = []string{"DECIMAL", "BIGINT", "UNSIGNED BIGINT", "INT", "UNSIGNED INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT"}
	textTypes    = []string{"CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT"}
)

func num(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float64:
		return x
	case []byte:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			panic(fmt.Sprintf("not a number: %q", x))
		}
		return f
	}
	panic(fmt.Sprintf("not a number: %T %v", v, v))
}

func str(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	panic(fmt.Sprintf("not text: %T %v", v, v))
}

func tm(v any) time.Time {
	if x, ok := v.(time.Time); ok {
		return x
	}
	return time.Unix(int64(num(v)), 0).UTC()
}

// checkGrafanaShape checks what Grafana needs of a result: for a time
// series a time column, ascending (Grafana's long-to-wide conversion
// rejects anything else), numeric values and text series names; for a
// table, types it can show (no raw bytes).
func checkGrafanaShape(t *testing.T, what, format string, res queryResult) {
	t.Helper()
	for i, typ := range res.types {
		if !slices.Contains(numericTypes, typ) && !slices.Contains(textTypes, typ) && typ != "DATETIME" {
			t.Errorf("%s: column %s is %s, which Grafana shows as raw bytes or not at all", what, res.cols[i], typ)
		}
	}
	if format != "time_series" {
		return
	}
	ti := res.col("time")
	if ti < 0 {
		ti = res.col("time_sec")
	}
	if ti < 0 {
		t.Errorf("%s: no time column in %v", what, res.cols)
		return
	}
	for i, typ := range res.types {
		switch {
		case i == ti:
			if !slices.Contains(numericTypes, typ) && typ != "DATETIME" {
				t.Errorf("%s: time column is %s", what, typ)
			}
		case res.cols[i] == "metric":
			if !slices.Contains(textTypes, typ) {
				t.Errorf("%s: metric column is %s, want text", what, typ)
			}
		case !slices.Contains(numericTypes, typ):
			t.Errorf("%s: value column %s is %s, want a number", what, res.cols[i], typ)
		}
	}
	for i := 1; i < len(res.rows); i++ {
		if tm(res.rows[i][ti]).Before(tm(res.rows[i-1][ti])) {
			t.Errorf("%s: time goes back at row %d", what, i)
			break
		}
	}
}

// allRows reads every agent's rows.
func allRows(t *testing.T, db *sqlx.DB) []dbRow {
	t.Helper()
	var rows []dbRow
	if err := db.Select(&rows, `SELECT ts, agent, client, domain, nickname, nickname_source, source, count, bytes
		FROM tcpdump_records ORDER BY ts, agent, client, domain`); err != nil {
		t.Fatal(err)
	}
	return rows
}

func hexName(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }

// selection is a choice of variable values, and the rows it keeps.
type selection struct {
	name   string
	agents []string // nil for All
	// devices are device keys (knownDevices.key), hexes HEX(nickname)s.
	devices, hexes []string // nil for All
	from, to       time.Time
	known          knownDevices
}

// vars are the variables' values for sel; hexAgents for the SQLite
// dashboard, whose agent variable carries hex(agent).
func (s selection) vars(hexAgents bool) map[string]grafanaVar {
	v := func(vals []string) grafanaVar {
		return grafanaVar{values: vals, all: vals == nil, allValue: "'__all'", multi: true}
	}
	var devices []string
	if s.devices != nil {
		devices = []string{}
		for _, d := range s.devices {
			devices = append(devices, hexName(d))
		}
	}
	agents := s.agents
	if hexAgents && agents != nil {
		agents = []string{}
		for _, a := range s.agents {
			agents = append(agents, hexName(a))
		}
	}
	return map[string]grafanaVar{"agent": v(agents), "device": v(devices), "service": v(s.hexes)}
}

func (s selection) inRange(r dbRow) bool { return !r.TS.Before(s.from) && !r.TS.After(s.to) }

func (s selection) keeps(r dbRow) bool {
	in := func(set []string, v string) bool { return set == nil || slices.Contains(set, v) }
	return in(s.agents, r.Agent) && in(s.devices, s.known.key(r)) && in(s.hexes, hexName(r.Nickname))
}

type sums struct {
	packets, bytes uint64
	first, last    time.Time
	clients        map[string]bool
}

func (s *sums) add(r dbRow) {
	s.packets += r.Count
	s.bytes += r.Bytes
	if s.first.IsZero() || r.TS.Before(s.first) {
		s.first = r.TS
	}
	if r.TS.After(s.last) {
		s.last = r.TS
	}
	if s.clients == nil {
		s.clients = map[string]bool{}
	}
	s.clients[r.Client] = true
}

// sumBy sums rows by key, skipping rows key rejects with "".
func sumBy(rows []dbRow, key func(dbRow) string) map[string]*sums {
	m := map[string]*sums{}
	for _, r := range rows {
		k := key(r)
		if k == "" {
			continue
		}
		if m[k] == nil {
			m[k] = &sums{}
		}
		m[k].add(r)
	}
	return m
}

// ranked lists keys by a measure, largest first, then by key, at most n.
func ranked(m map[string]*sums, measure func(*sums) uint64, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(measure(m[b]), measure(m[a])), strings.Compare(a, b))
	})
	return keys[:min(n, len(keys))]
}

// The hostile and encrypted-DNS rows the captures lack.
var syntheticRows = []dbRow{
	{Agent: "lab", Client: "192.168.50.2", Domain: "dns.google", Nickname: "DNS-over-TLS", Source: "sni", Count: 40, Bytes: 9000},
	{Agent: "lab", Client: "192.168.50.3", Domain: "mozilla.cloudflare-dns.com", Nickname: "DNS-over-HTTPS", Source: "sni", Count: 12, Bytes: 4000},
	// Ends in a backslash: Grafana would quote it as 'x\'' and MariaDB
	// would read on past the quote.
	{Agent: "lab", Client: "192.168.50.2", Domain: `a.x\' or 1=1 -- .com`, Nickname: `X\' or 1=1 -- `, Source: "dns", Count: 5, Bytes: 500},
	{Agent: "lab", Client: "192.168.50.3", Domain: "\x1b[2J.evil.example", Nickname: "\x1b[2J\u202eevil", Source: "ptr", Count: 3, Bytes: 300},
	{Agent: "lab", Client: "192.168.50.3", Domain: "203.0.113.7", Nickname: "203.0.113.7", Source: "ip", Count: 2, Bytes: 200},
	// The IPv6 address of the home device that netflix.pcap's client is.
	{Agent: "home", Client: "2001:db8::1c:3aff:fe12:3456", Domain: "api-global.netflix.com", Nickname: "Netflix", Source: "sni", Count: 9, Bytes: 900},
}

// The devices the test adds, as netmon run would learn them: the busiest
// home client and the IPv6 address above are one named phone; the lab's two
// clients are a randomised MAC with a hostile name and a TV known only by
// its vendor.
const (
	dashPhoneName = "Johns-iPhone"
	dashPhoneV6   = "2001:db8::1c:3aff:fe12:3456"
	dashHostile   = `Bob's "pad" \ '); -- ` + "\xff\x1b[2J"
)

func dashboardDevices(t *testing.T, dsn string, rows []dbRow) {
	t.Helper()
	per := sumBy(rows, func(r dbRow) string {
		if r.Agent == "home" && r.Client != dashPhoneV6 {
			return r.Client
		}
		return ""
	})
	busiest := ranked(per, func(s *sums) uint64 { return s.packets }, 1)
	if len(busiest) == 0 {
		t.Fatal("the replays wrote no home rows")
	}
	// Later than anything the replays may have learned, so that these
	// addresses belong to these devices.
	late := time.Date(2021, 3, 1, 9, 0, 0, 0, time.UTC)
	addr := func(s string, ts time.Time) devices.Addr {
		return devices.Addr{Addr: netip.MustParseAddr(s), LastSeen: ts}
	}
	writeWindows(t, dsn, "home", aggregate.Window{Start: late, Devices: []devices.Device{{
		ID: phoneMAC, MAC: phoneMAC, Addrs: []devices.Addr{addr(busiest[0], late.Add(-time.Second)), addr(dashPhoneV6, late)},
		Hostname: dashPhoneName, NameSource: devices.NameDHCP, Vendor: "Apple, Inc.", FirstSeen: per[busiest[0]].first, LastSeen: late,
	}}})
	writeWindows(t, dsn, "lab", aggregate.Window{Start: late, Devices: []devices.Device{
		{ID: randMAC, MAC: randMAC, Addrs: []devices.Addr{addr("192.168.50.2", late)}, Hostname: dashHostile, NameSource: devices.NameMDNS,
			Randomised: true, FirstSeen: late.Add(-time.Hour), LastSeen: late},
		{ID: tvMAC, MAC: tvMAC, Addrs: []devices.Addr{addr("192.168.50.3", late)}, Vendor: "LG Innotek", FirstSeen: late.Add(-time.Hour), LastSeen: late},
	}})
}

// dashboardData replays shared captures under two agents, adds the
// synthetic rows under a third and devices, and returns Grafana's view of
// the database, the rows and the devices.
func dashboardData(t *testing.T, b storetest.Backend) (dashboardDB, []dbRow, knownDevices) {
	t.Helper()
	dir := pcapDir(t)
	dsn, db := migratedDB(t, b)
	for _, r := range []struct{ agent, file string }{
		{"home", "netflix.pcap"}, {"home", "teams.pcap"}, {"office", "KakaoTalk_chat.pcap"}, {"office", "dns_doh.pcap"},
	} {
		netmon(t, "replay", "--dsn", dsn, "--agent", r.agent, "--no-ptr", filepath.Join(dir, r.file))
	}
	// After the captures, so that these are the newest rows.
	start := time.Date(2021, 3, 1, 8, 0, 0, 0, time.UTC)
	for i, r := range syntheticRows {
		if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, start.Add(time.Duration(i)*10*time.Second), r.Agent, r.Client,
			[]byte(r.Domain), r.Nickname, r.Source, r.Count, r.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	rows := allRows(t, db)
	dashboardDevices(t, dsn, rows)
	if b == storetest.MariaDB {
		gdb := grafanaDB(t, dsn)
		return dashboardDB{
			expand: grafanaEnv.expand,
			run:    func(ctx context.Context, q string, _ []string) (queryResult, error) { return runQuery(ctx, gdb, q) },
			shape: func(t *testing.T, what string, tg dashTarget, res queryResult) {
				checkGrafanaShape(t, what, tg.Format, res)
			},
		}, rows, readDevices(t, db, mariaDBText)
	}
	// As the plugin opens it, with the provisioned path options.
	fdb, err := sql.Open("sqlite", "file:"+storetest.SQLitePath(dsn)+"?"+sqlitePathOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fdb.Close() })
	return dashboardDB{
		expand: grafanaEnv.expandFrser,
		run: func(ctx context.Context, q string, timeCols []string) (queryResult, error) {
			return runFrser(ctx, fdb, q, timeCols)
		},
		shape: func(t *testing.T, what string, tg dashTarget, res queryResult) {
			checkFrserShape(t, what, tg.QueryType, res)
		},
		frser: true,
	}, rows, readDevices(t, db, func(s string) string { return s })
}

// dashboardDB is how Grafana reads one backend: how it expands a query,
// runs it and what it needs of the answer.
type dashboardDB struct {
	expand func(grafanaEnv, string) (string, error)
	run    func(ctx context.Context, q string, timeCols []string) (queryResult, error)
	shape  func(t *testing.T, what string, tg dashTarget, res queryResult)
	frser  bool
}

// lines renders a result's columns, in order, one line per row, for
// comparing with what the rows add up to.
func lines(res queryResult, cols ...string) []string {
	out := []string{}
	for _, row := range res.rows {
		var b []string
		for _, c := range cols {
			i := res.col(c)
			if i < 0 {
				b = append(b, "<no column "+c+">")
				continue
			}
			switch v := row[i].(type) {
			case time.Time:
				b = append(b, v.UTC().Format(time.DateTime))
			case []byte:
				if slices.Contains(numericTypes, res.types[i]) {
					b = append(b, strconv.FormatFloat(num(v), 'f', -1, 64))
				} else {
					b = append(b, string(v))
				}
			default:
				b = append(b, fmt.Sprint(v))
			}
		}
		out = append(out, strings.Join(b, " | "))
	}
	return out
}

func line(fields ...any) string {
	b := make([]string, len(fields))
	for i, f := range fields {
		if t, ok := f.(time.Time); ok {
			f = t.UTC().Format(time.DateTime)
		}
		b[i] = fmt.Sprint(f)
	}
	return strings.Join(b, " | ")
}

// panelCheck compares a panel's result with what sel's rows add up to.
type panelCheck func(t *testing.T, sel selection, env grafanaEnv, rows []dbRow, res queryResult)

// bucket is the start of the $__timeGroup bucket that holds ts.
func bucket(env grafanaEnv, ts time.Time) int64 {
	if env.frser {
		// MAX($__interval_ms / 1000, 1): whole seconds of the interval.
		s := max(env.interval.Milliseconds()/1000, 1)
		return ts.Unix() / s * s
	}
	step, err := parseInterval(formatInterval(env.interval))
	if err != nil {
		panic(err)
	}
	s := int64(step / time.Second)
	return ts.Unix() / s * s
}

// diff reports want against got for one panel.
func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

var panelChecks = map[string]panelCheck{
	// The seed's query ignores the variables: every agent's rows.
	"Services over time": func(t *testing.T, sel selection, _ grafanaEnv, rows []dbRow, res queryResult) {
		want := map[string]float64{}
		for _, r := range rows {
			if sel.inRange(r) {
				want[line(r.TS.Unix(), r.Nickname)] += float64(r.Count)
			}
		}
		got := map[string]float64{}
		for _, r := range res.rows {
			got[line(tm(r[res.col("time")]).Unix(), str(r[res.col("metric")]))] += num(r[res.col("value")])
		}
		diff(t, "packets per window and service", want, got)
	},
	"Top services by packets": topCheck("service", func(r dbRow) string { return r.Nickname }, "packets", 15),
	"Top services by bytes":   topCheck("service", func(r dbRow) string { return r.Nickname }, "bytes", 15),
	// Devices are grouped by device (its addresses together) and named by
	// their label, which breaks ties before the device's key.
	"Top devices by bytes": func(t *testing.T, sel selection, _ grafanaEnv, rows []dbRow, res queryResult) {
		m := sumBy(rows, func(r dbRow) string {
			if !sel.inRange(r) || !sel.keeps(r) {
				return ""
			}
			return sel.known.key(r)
		})
		want := []string{}
		for _, k := range rankedBy(m, func(s *sums) uint64 { return s.bytes }, func(k string) string { return sel.known.viewLabel(k, m[k]) }, 15) {
			want = append(want, line(sel.known.viewLabel(k, m[k]), m[k].bytes))
		}
		diff(t, "top devices by bytes", want, lines(res, "device", "bytes"))
	},
	"Devices × services": func(t *testing.T, sel selection, _ grafanaEnv, rows []dbRow, res queryResult) {
		m := sumBy(rows, func(r dbRow) string {
			if !sel.inRange(r) || !sel.keeps(r) {
				return ""
			}
			return sel.known.key(r) + "\x00" + r.Nickname
		})
		label := func(k string) string {
			dev, svc, _ := strings.Cut(k, "\x00")
			return sel.known.viewLabel(dev, m[k]) + "\x00" + svc
		}
		want := []string{}
		for _, k := range rankedBy(m, func(s *sums) uint64 { return s.bytes }, label, 500) {
			dev, svc, _ := strings.Cut(label(k), "\x00")
			s := m[k]
			want = append(want, line(dev, svc, s.packets, s.bytes, s.first, s.last))
		}
		diff(t, "device × service", want, lines(res, "device", "service", "packets", "bytes", "first_seen", "last_seen"))
	},
	"How services were named": func(t *testing.T, sel selection, env grafanaEnv, rows []dbRow, res queryResult) {
		sums := map[int64]map[string]uint64{}
		for _, r := range rows {
			if sel.inRange(r) && sel.keeps(r) {
				b := bucket(env, r.TS)
				if sums[b] == nil {
					sums[b] = map[string]uint64{}
				}
				src := cmp.Or(r.NickSource, "unknown")
				sums[b][src] += r.Bytes
			}
		}
		want := map[string]float64{}
		for b, bySource := range sums {
			var total uint64
			for _, c := range bySource {
				total += c
			}
			for src, c := range bySource {
				want[line(b, src)] = 100 * float64(c) / float64(total)
			}
		}
		got := map[string]float64{}
		for _, r := range res.rows {
			got[line(tm(r[res.col("time")]).Unix(), str(r[res.col("metric")]))] = num(r[res.col("value")])
		}
		if d := gocmp.Diff(want, got, cmpopts.EquateApprox(0, 0.0001)); d != "" {
			t.Errorf("share of bytes per nickname source (-want +got):\n%s", d)
		}
		if len(want) > 0 && !slices.ContainsFunc(rows, func(r dbRow) bool { return r.NickSource == "catalogue" }) {
			t.Error("no row of the replays has nickname_source catalogue")
		}
	},
	"How names were found": func(t *testing.T, sel selection, env grafanaEnv, rows []dbRow, res queryResult) {
		counts := map[int64]map[string]uint64{}
		for _, r := range rows {
			if sel.inRange(r) && sel.keeps(r) {
				b := bucket(env, r.TS)
				if counts[b] == nil {
					counts[b] = map[string]uint64{}
				}
				counts[b][r.Source] += r.Count
			}
		}
		want := map[string]float64{}
		for b, bySource := range counts {
			var total uint64
			for _, c := range bySource {
				total += c
			}
			for src, c := range bySource {
				want[line(b, src)] = 100 * float64(c) / float64(total)
			}
		}
		got := map[string]float64{}
		perBucket := map[int64]float64{}
		for _, r := range res.rows {
			b := tm(r[res.col("time")]).Unix()
			v := num(r[res.col("value")])
			got[line(b, str(r[res.col("metric")]))] = v
			perBucket[b] += v
		}
		// MariaDB divides to four decimals.
		if d := gocmp.Diff(want, got, cmpopts.EquateApprox(0, 0.0001)); d != "" {
			t.Errorf("share of packets per source (-want +got):\n%s", d)
		}
		for b, sum := range perBucket {
			if math.Abs(sum-100) > 0.01 {
				t.Errorf("shares at %d add up to %v, not 100", b, sum)
			}
		}
	},
	// This panel shows every encrypted-DNS service whatever $service says.
	"Devices using encrypted DNS": func(t *testing.T, sel selection, _ grafanaEnv, rows []dbRow, res queryResult) {
		sel.hexes = nil
		m := sumBy(rows, func(r dbRow) string {
			if !sel.inRange(r) || !sel.keeps(r) || (r.Nickname != "DNS-over-HTTPS" && r.Nickname != "DNS-over-TLS") {
				return ""
			}
			return sel.known.key(r) + "\x00" + r.Nickname + "\x00" + r.Domain
		})
		label := func(k string) string {
			f := strings.Split(k, "\x00")
			return sel.known.viewLabel(f[0], m[k]) + "\x00" + f[1] + "\x00" + f[2]
		}
		want := []string{}
		for _, k := range rankedBy(m, func(s *sums) uint64 { return s.packets }, label, len(m)) {
			f := strings.Split(label(k), "\x00")
			s := m[k]
			want = append(want, line(f[0], f[1], f[2], s.packets, s.bytes, s.first, s.last))
		}
		diff(t, "encrypted DNS", want, lines(res, "device", "protocol", "resolver", "packets", "bytes", "first_seen", "last_seen"))
	},
	"Services first seen in this range": func(t *testing.T, sel selection, _ grafanaEnv, rows []dbRow, res queryResult) {
		m := sumBy(rows, func(r dbRow) string {
			if r.TS.After(sel.to) || !sel.keeps(r) {
				return ""
			}
			return r.Nickname
		})
		devices := map[string]map[string]bool{} // service → device keys
		for _, r := range rows {
			if !r.TS.After(sel.to) && sel.keeps(r) {
				if devices[r.Nickname] == nil {
					devices[r.Nickname] = map[string]bool{}
				}
				devices[r.Nickname][sel.known.key(r)] = true
			}
		}
		var keys []string
		for k, s := range m {
			if !s.first.Before(sel.from) {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(m[b].first.Compare(m[a].first), strings.Compare(a, b))
		})
		want := []string{}
		for _, k := range keys[:min(100, len(keys))] {
			s := m[k]
			want = append(want, line(k, s.first, len(devices[k]), s.packets, s.bytes))
		}
		diff(t, "services first seen", want, lines(res, "service", "first_seen", "devices", "packets", "bytes"))
	},
	// Devices seen at some time in the range, newest first.
	"Devices": func(t *testing.T, sel selection, _ grafanaEnv, _ []dbRow, res queryResult) {
		var keep []deviceRow
		for _, d := range sel.known.rows {
			in := func(set []string, v string) bool { return set == nil || slices.Contains(set, v) }
			if !d.LastSeen.Before(sel.from) && !d.FirstSeen.After(sel.to) && in(sel.agents, d.Agent) && in(sel.devices, d.DeviceID) {
				keep = append(keep, d)
			}
		}
		slices.SortFunc(keep, func(a, b deviceRow) int {
			return cmp.Or(b.LastSeen.Compare(a.LastSeen), strings.Compare(a.Agent, b.Agent), strings.Compare(a.DeviceID, b.DeviceID))
		})
		want := []string{}
		for _, d := range keep[:min(500, len(keep))] {
			mac, randomised := "<nil>", "no"
			if d.MAC != nil {
				mac = *d.MAC
			}
			if d.Randomised {
				randomised = "yes"
			}
			want = append(want, line(sel.known.text(string(d.Hostname)), d.NameSource, d.Vendor, mac, randomised, d.IPs, d.FirstSeen, d.LastSeen, d.Agent))
		}
		diff(t, "devices", want, lines(res, "hostname", "source", "vendor", "mac", "randomised", "addresses", "first_seen", "last_seen", "agent"))
	},
	// Run once per device, as Grafana repeats it; sel.devices holds that one.
	"Services of ${device:text} over time": func(t *testing.T, sel selection, env grafanaEnv, rows []dbRow, res queryResult) {
		want := map[string]float64{}
		for _, r := range rows {
			if sel.inRange(r) && sel.keeps(r) {
				want[line(bucket(env, r.TS), r.Nickname)] += float64(r.Bytes)
			}
		}
		got := map[string]float64{}
		for _, r := range res.rows {
			got[line(tm(r[res.col("time")]).Unix(), str(r[res.col("metric")]))] += num(r[res.col("value")])
		}
		diff(t, "bytes per interval and service of "+strings.Join(sel.devices, ","), want, got)
	},
}

// rankedBy is ranked with ties broken by label, then by key, as the panels
// order by a device's label and then its key.
func rankedBy(m map[string]*sums, measure func(*sums) uint64, label func(string) string, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(measure(m[b]), measure(m[a])), strings.Compare(label(a), label(b)), strings.Compare(a, b))
	})
	return keys[:min(n, len(keys))]
}

// topCheck checks a "top N" bar gauge: name column, measure column.
func topCheck(nameCol string, key func(dbRow) string, measure string, n int) panelCheck {
	return func(t *testing.T, sel selection, _ grafanaEnv, rows []dbRow, res queryResult) {
		m := sumBy(rows, func(r dbRow) string {
			if !sel.inRange(r) || !sel.keeps(r) {
				return ""
			}
			return key(r)
		})
		pick := func(s *sums) uint64 { return s.packets }
		if measure == "bytes" {
			pick = func(s *sums) uint64 { return s.bytes }
		}
		want := []string{}
		for _, k := range ranked(m, pick, n) {
			want = append(want, line(k, pick(m[k])))
		}
		diff(t, "top "+nameCol+"s by "+measure, want, lines(res, nameCol, measure))
	}
}

// TestDashboardQueries runs every variable query and every panel query of
// the dashboard against MariaDB, for several time ranges and choices of
// variables, checks that Grafana could draw each answer, and compares it
// with sums computed here from the rows themselves. Which names the rows
// hold is the resolver's business, so nothing here lists them.
func TestDashboardQueries(t *testing.T) {
	for _, b := range []struct {
		backend storetest.Backend
		file    string
	}{{storetest.MariaDB, dashboardFile}, {storetest.SQLite, sqliteDashboardFile}} {
		t.Run(string(b.backend), func(t *testing.T) {
			d := readDashboard(t, b.file)
			gdb, rows, known := dashboardData(t, b.backend)
			checkDashboard(t, d, gdb, rows, known)
		})
	}
}

// checkDashboard runs d's queries on gdb for several selections and checks
// each answer against the rows.
func checkDashboard(t *testing.T, d dashboard, gdb dashboardDB, rows []dbRow, known knownDevices) {
	ctx := t.Context()

	span := func(keep func(dbRow) bool) (lo, hi time.Time) {
		for _, r := range rows {
			if !keep(r) {
				continue
			}
			if lo.IsZero() || r.TS.Before(lo) {
				lo = r.TS
			}
			if r.TS.After(hi) {
				hi = r.TS
			}
		}
		return lo, hi
	}
	allFrom, allTo := span(func(dbRow) bool { return true })
	homeFrom, homeTo := span(func(r dbRow) bool { return r.Agent == "home" })
	labFrom, labTo := span(func(r dbRow) bool { return r.Agent == "lab" })
	// teams.pcap is the 2020 part of the home agent's rows.
	teamsFrom, teamsTo := span(func(r dbRow) bool { return r.Agent == "home" && r.TS.Year() == 2020 })
	if teamsFrom.IsZero() || labFrom.IsZero() {
		t.Fatalf("the replays wrote no 2020 rows for home (%v) or the lab rows are missing (%v)", teamsFrom, labFrom)
	}

	var home []dbRow
	for _, r := range rows {
		if r.Agent == "home" {
			home = append(home, r)
		}
	}
	busiest := func(key func(dbRow) string, n int) []string {
		return ranked(sumBy(home, key), func(s *sums) uint64 { return s.packets }, n)
	}
	devices := busiest(known.key, 2)
	service := busiest(func(r dbRow) string { return r.Nickname }, 1)
	if len(devices) < 2 || len(service) < 1 {
		t.Fatalf("the home agent has %d devices and %d services; the test needs 2 and 1", len(devices), len(service))
	}

	if !slices.Contains(devices, phoneMAC) {
		t.Fatalf("the busiest home devices %q do not include the phone %s", devices, phoneMAC)
	}

	selections := []selection{
		{name: "everything", from: allFrom.Add(-time.Minute), to: allTo.Add(time.Minute)},
		{name: "agent home", agents: []string{"home"}, from: homeFrom, to: homeTo},
		{name: "two devices", devices: devices, from: allFrom, to: allTo},
		{name: "a service and a hostile one", hexes: []string{hexName(service[0]), hexName(syntheticRows[2].Nickname)}, from: allFrom, to: allTo},
		{name: "lab", agents: []string{"lab"}, from: labFrom, to: labTo.Add(10 * time.Second)},
		{name: "2020 only", from: teamsFrom, to: teamsTo.Add(10 * time.Second)},
	}
	for _, sel := range selections {
		sel.known = known
		t.Run(sel.name, func(t *testing.T) {
			env := grafanaEnv{from: sel.from, to: sel.to, interval: panelInterval(sel.from, sel.to, 10*time.Second),
				vars: sel.vars(gdb.frser), frser: gdb.frser}
			run := func(what string, tg dashTarget, env grafanaEnv) queryResult {
				t.Helper()
				q, err := gdb.expand(env, tg.query())
				if err != nil {
					t.Fatalf("%s: expand: %v", what, err)
				}
				res, err := gdb.run(ctx, q, tg.TimeColumns)
				if err != nil {
					t.Fatalf("%s: %v\n%s", what, err, q)
				}
				gdb.shape(t, what, tg, res)
				return res
			}

			deviceOptions := checkVariables(t, d, sel, rows, func(what, raw string) queryResult {
				return run(what, dashTarget{RawSQL: raw, Format: "table", QueryType: "table"}, env)
			})

			for _, p := range queryPanels(d.Panels) {
				check, ok := panelChecks[p.Title]
				if !ok {
					t.Errorf("panel %q has no check in panelChecks", p.Title)
				}
				for _, tg := range p.Targets {
					what := fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)
					if p.Repeat != "device" {
						res := run(what, tg, env)
						if check != nil {
							check(t, sel, env, rows, res)
						}
						if sel.name == "everything" {
							if len(res.rows) == 0 {
								t.Errorf("%s: no rows, though the database has %d", what, len(rows))
							}
							logPanel(t, p.Title, res)
							checkJoin(t, p.Title, rows, known, res)
						}
						continue
					}
					// Grafana repeats the panel for each selected device
					// (every option when All is selected), the variable
					// holding that one device.
					repeat := sel.devices
					if repeat == nil {
						repeat = deviceOptions
					}
					if len(repeat) == 0 {
						t.Errorf("%s: no device to repeat for", what)
					}
					drawn := 0
					for _, dev := range repeat {
						one := sel
						one.devices = []string{dev}
						oneEnv := env
						oneEnv.vars = one.vars(gdb.frser)
						oneEnv.vars["device"] = grafanaVar{values: []string{hexName(dev)}, multi: true}
						res := run(what+" for "+dev, tg, oneEnv)
						if check != nil {
							check(t, one, oneEnv, rows, res)
						}
						if len(res.rows) > 0 {
							drawn++
						}
					}
					if drawn == 0 {
						t.Errorf("%s: every repeat is empty", what)
					}
					if sel.name == "everything" {
						t.Logf("%s: %d panels, one per device", p.Title, len(repeat))
					}
				}
			}
		})
	}
}

// checkVariables runs the variable queries and compares their options with
// the rows; it returns the device options, over which panels repeat.
func checkVariables(t *testing.T, d dashboard, sel selection, rows []dbRow, run func(what, raw string) queryResult) []string {
	t.Helper()
	distinct := func(keep func(dbRow) bool, key func(dbRow) string) []string {
		var out []string
		for _, r := range rows {
			if keep(r) && !slices.Contains(out, key(r)) {
				out = append(out, key(r))
			}
		}
		slices.Sort(out)
		return out
	}
	agentOnly := sel
	agentOnly.devices, agentOnly.hexes = nil, nil
	noService := sel
	noService.hexes = nil

	var devices []string
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		res := run("variable "+v.Name, v.Query.(string))
		switch v.Name {
		case "agent":
			want := distinct(func(dbRow) bool { return true }, func(r dbRow) string { return r.Agent })
			if res.col("__value") >= 0 {
				// The SQLite dashboard's: hex(agent) behind each name.
				for i, a := range want {
					want[i] = line(a, hexName(a))
				}
				diff(t, "agent options (text | value)", want, lines(res, "__text", "__value"))
				break
			}
			diff(t, "agent options", want, lines(res, res.cols[0]))
		case "device":
			m := sumBy(rows, func(r dbRow) string {
				if !sel.inRange(r) || !agentOnly.keeps(r) {
					return ""
				}
				return sel.known.key(r)
			})
			devices = nil
			want := []string{}
			for k := range m {
				devices = append(devices, k)
				want = append(want, line(sel.known.viewLabel(k, m[k]), hexName(k)))
			}
			slices.Sort(devices)
			slices.Sort(want)
			diff(t, "device options (text | value)", want, lines(res, "__text", "__value"))
		case "service":
			want := []string{}
			for _, n := range distinct(func(r dbRow) bool { return sel.inRange(r) && noService.keeps(r) }, func(r dbRow) string { return r.Nickname }) {
				want = append(want, line(n, hexName(n)))
			}
			diff(t, "service options (text | value)", want, lines(res, "__text", "__value"))
		default:
			t.Errorf("variable %s has no check", v.Name)
		}
	}
	return devices
}

// checkJoin checks, over every row, that the panels that name devices show
// the devices the test added by their names, their addresses summed.
func checkJoin(t *testing.T, title string, rows []dbRow, known knownDevices, res queryResult) {
	t.Helper()
	var phone sums
	for _, r := range rows {
		if known.key(r) == phoneMAC {
			phone.add(r)
		}
	}
	if len(phone.clients) != 2 || !phone.clients[dashPhoneV6] {
		t.Errorf("the phone's rows come from %v, want two addresses, %s one of them", phone.clients, dashPhoneV6)
	}
	phoneLabel := dashPhoneName + " (Apple, Inc.)"
	hostileLabel := known.text(dashHostile) + " (private MAC)"
	switch title {
	case "Top devices by bytes":
		if got := lines(res, "device", "bytes"); !slices.Contains(got, line(phoneLabel, phone.bytes)) {
			t.Errorf("%s: no %q with %d bytes in %q", title, phoneLabel, phone.bytes, got)
		}
	case "Devices × services":
		got := strings.Join(lines(res, "device"), "\n")
		for _, want := range []string{phoneLabel, hostileLabel, "192.168.50.3 (LG Innotek)"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: no device %q in\n%s", title, want, got)
			}
		}
	case "Devices":
		got := lines(res, "hostname", "source", "mac", "randomised", "addresses", "agent")
		var busiest string
		for c := range phone.clients {
			if c != dashPhoneV6 {
				busiest = c
			}
		}
		for _, want := range []string{
			line(dashPhoneName, "dhcp", phoneMAC, "no", dashPhoneV6+", "+busiest, "home"),
			line(known.text(dashHostile), "mdns", randMAC, "yes", "192.168.50.2", "lab"),
			line("", "", tvMAC, "no", "192.168.50.3", "lab"),
		} {
			if !slices.Contains(got, want) {
				t.Errorf("%s: no line %q in\n%s", title, want, strings.Join(got, "\n"))
			}
		}
	}
}

// logPanel notes what a panel shows over everything, for the record.
func logPanel(t *testing.T, title string, res queryResult) {
	t.Helper()
	var show []string
	for _, c := range res.cols {
		if c != "time" && c != "first_seen" && c != "last_seen" {
			show = append(show, c)
		}
	}
	l := lines(res, show...)
	t.Logf("%s: %d rows; first: %s", title, len(res.rows), strings.Join(l[:min(3, len(l))], "; "))
}
