package grafana

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite dashboards/netmon-sqlite.json from dashboards/netmon.json")

// The SQLite dashboard is generated from the MariaDB one: the same panels,
// layout and variables, each query translated to SQLite's SQL and to what
// the frser-sqlite-datasource plugin understands. That plugin expands only
// $__timeFilter and $__unixEpochGroupSeconds (the latter with a literal
// number of seconds, so not with $__interval), and documents only the
// second; the browser replaces $__from, $__to, $__interval_ms and the
// variables before the query reaches it. So the translation spells the time
// filter and grouping out with $__from, $__to and $__interval_ms, which
// every version of the plugin receives as numbers.
const (
	sqliteDashboardFile  = "dashboards/netmon-sqlite.json"
	sqliteDatasourceFile = "provisioning/datasources/netmon-sqlite.yaml"
	frserType            = "frser-sqlite-datasource"
	sqliteUID            = "netmon-sqlite"
	// sqlitePathOptions are the provisioned pathOptions the tests open the
	// file with, as the plugin does.
	sqlitePathOptions = "mode=ro"
)

// ts is 'YYYY-MM-DD HH:MM:SS' UTC text in netmon's SQLite file (see
// migrations/sqlite/00001_init.sql): compared with datetime(…, 'unixepoch')
// as text, which keeps the (ts, …) indexes usable, and turned into Unix
// seconds by strftime('%s', …).
const (
	sqliteFrom = "datetime($__from / 1000, 'unixepoch')"
	sqliteTo   = "datetime($__to / 1000, 'unixepoch')"
	// sqliteStep is $__interval in whole seconds, at least 1.
	sqliteStep = "MAX($__interval_ms / 1000, 1)"
	// rfc3339 is the text form of a time the plugin parses in its time
	// formatted columns; SQLite's own 'YYYY-MM-DD HH:MM:SS' is not one.
	rfc3339 = "'%Y-%m-%dT%H:%M:%SZ'"
)

var (
	timeFilterRE  = regexp.MustCompile(`\$__timeFilter\(\s*([\w.]+)\s*\)`)
	timeGroupRE   = regexp.MustCompile(`\$__timeGroupAlias\(\s*([\w.]+)\s*,\s*\$__interval\s*(?:,\s*0\s*)?\)`)
	unixTSRE      = regexp.MustCompile(`UNIX_TIMESTAMP\(\s*([\w.]+)\s*\)`)
	convertRE     = regexp.MustCompile(`CONVERT\(\s*([\w.]+)\s+USING\s+utf8mb4\s*\)`)
	ifRE          = regexp.MustCompile(`\bIF\(\s*([\w.]+)\s*,\s*('[^']*')\s*,\s*('[^']*')\s*\)`)
	shareRE       = regexp.MustCompile(`\b100 \* value / SUM\(value\) OVER`)
	seenAsRE      = regexp.MustCompile(`\b((?:MIN|MAX)\(r\.ts\)) AS (first_seen|last_seen)\b`)
	seenColRE     = regexp.MustCompile(`\bd\.(first_seen|last_seen)\b`)
	agentVarRE    = regexp.MustCompile(`\('__all' IN \(\$agent\) OR (\w+)\.agent IN \(\$agent\)\)`)
	hexVarRE      = regexp.MustCompile(`\$(device|service)\b`)
	agentQuery    = "SELECT DISTINCT agent FROM tcpdump_records ORDER BY agent"
	leftoverRE    = regexp.MustCompile(`UNIX_TIMESTAMP|CONVERT\(|\bIF\(|utf8mb4|\bDIV\b|FROM_UNIXTIME|\$__(?:time|unixEpoch)\w*|\$__interval\b|\$(?:agent|device|service)\b|"time"`)
	timeSeriesCol = "time"
)

// translateSQL turns one MariaDB panel or variable query of netmon.json into
// SQLite's, and names the columns the plugin must read as times.
func translateSQL(q string) (string, []string, error) {
	var timeCols []string
	if q == agentQuery {
		// Agents are named by whoever runs netmon, not the wire, but the
		// plugin's documented ${var:singlequote} escapes ' as \', which
		// SQLite does not honour: so, as for devices and services, the
		// variable carries hex(agent), digits only.
		return "SELECT agent AS __text, hex(agent) AS __value FROM tcpdump_records GROUP BY agent ORDER BY agent", nil, nil
	}
	// In a replacement template $ starts a group: $$ is a $.
	lit := func(s string) string { return strings.ReplaceAll(s, "$", "$$") }
	q = timeFilterRE.ReplaceAllString(q, "$1 BETWEEN "+lit(sqliteFrom)+" AND "+lit(sqliteTo))
	q = strings.ReplaceAll(q, "$__timeFrom()", sqliteFrom)
	q = strings.ReplaceAll(q, "$__timeTo()", sqliteTo)
	if timeGroupRE.MatchString(q) {
		timeCols = append(timeCols, timeSeriesCol)
	}
	q = timeGroupRE.ReplaceAllString(q, "CAST(strftime('%s', $1) AS INTEGER) / "+lit(sqliteStep)+" * "+lit(sqliteStep)+" AS time")
	if unixTSRE.MatchString(q) {
		timeCols = append(timeCols, timeSeriesCol)
	}
	q = unixTSRE.ReplaceAllString(q, "CAST(strftime('%s', $1) AS INTEGER)")
	q = convertRE.ReplaceAllString(q, "CAST($1 AS TEXT)")
	q = ifRE.ReplaceAllString(q, "CASE WHEN $1 THEN $2 ELSE $3 END")
	// SQLite divides integers as integers.
	q = shareRE.ReplaceAllString(q, "100.0 * value / SUM(value) OVER")
	// Times shown in tables: RFC 3339 text in a time formatted column.
	for _, m := range seenAsRE.FindAllStringSubmatch(q, -1) {
		timeCols = append(timeCols, m[2])
	}
	q = seenAsRE.ReplaceAllString(q, "strftime("+rfc3339+", $1) AS $2")
	if sel, rest, ok := strings.Cut(q, "\nFROM devices AS d"); ok {
		for _, m := range seenColRE.FindAllStringSubmatch(sel, -1) {
			timeCols = append(timeCols, m[1])
		}
		q = seenColRE.ReplaceAllString(sel, "strftime("+rfc3339+", d.$1) AS $1") + "\nFROM devices AS d" + rest
	}
	q = agentVarRE.ReplaceAllString(q, "('__all' IN (${agent:singlequote}) OR hex($1.agent) IN (${agent:singlequote}))")
	q = hexVarRE.ReplaceAllString(q, "$${${1}:singlequote}")
	if m := leftoverRE.FindString(q); m != "" {
		return "", nil, fmt.Errorf("no SQLite translation for %q in:\n%s", m, q)
	}
	slices.Sort(timeCols)
	return q, slices.Compact(timeCols), nil
}

// sqliteDashboard builds netmon-sqlite.json from netmon.json.
func sqliteDashboard(mariadb []byte) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(mariadb, &d); err != nil {
		return nil, err
	}
	d["uid"] = sqliteUID
	d["title"] = "netmon — home network (SQLite)"
	d["description"] = "Which services each device of the network talked to, and when: netmon's tcpdump_records in its SQLite file, " +
		"through the frser-sqlite-datasource plugin. Generated from netmon.json by go test ./deploy/grafana -update; edit that one."
	d["tags"] = []any{"netmon", "sqlite"}
	ds := map[string]any{"type": frserType, "uid": "${datasource}"}

	templ, _ := d["templating"].(map[string]any)
	vars, _ := templ["list"].([]any)
	for _, v := range vars {
		v := v.(map[string]any)
		switch v["type"] {
		case "datasource":
			v["query"] = frserType
			v["current"] = map[string]any{"selected": true, "text": sqliteUID, "value": sqliteUID}
		case "query":
			q, _ := v["query"].(string)
			sqlText, _, err := translateSQL(q)
			if err != nil {
				return nil, fmt.Errorf("variable %v: %w", v["name"], err)
			}
			v["query"], v["definition"], v["datasource"] = sqlText, sqlText, ds
		}
	}

	var panels func([]any) error
	panels = func(ps []any) error {
		for _, p := range ps {
			p := p.(map[string]any)
			if sub, ok := p["panels"].([]any); ok {
				if err := panels(sub); err != nil {
					return err
				}
			}
			if p["type"] == "row" {
				continue
			}
			p["datasource"] = ds
			if desc, ok := p["description"].(string); ok {
				p["description"] = strings.ReplaceAll(desc, "Host names are shown as UTF-8, invalid bytes as ?.",
					"Host names are shown as UTF-8, each invalid byte as the replacement character.")
			}
			targets, _ := p["targets"].([]any)
			for i, tg := range targets {
				tg := tg.(map[string]any)
				sqlText, timeCols, err := translateSQL(tg["rawSql"].(string))
				if err != nil {
					return fmt.Errorf("panel %v: %w", p["title"], err)
				}
				queryType := "table"
				if tg["format"] == "time_series" {
					queryType = "time series"
				}
				cols := make([]any, len(timeCols))
				for j, c := range timeCols {
					cols[j] = c
				}
				// The plugin's query model: the query as written
				// (rawQueryText), the query it runs (queryText, which its
				// applyTemplateVariables rewrites from rawQueryText), table or
				// time series, and the columns to read as times.
				targets[i] = map[string]any{
					"refId": tg["refId"], "datasource": ds, "queryType": queryType,
					"rawQueryText": sqlText, "queryText": sqlText, "timeColumns": cols,
				}
			}
		}
		return nil
	}
	ps, _ := d["panels"].([]any)
	if err := panels(ps); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// TestSQLiteDashboardFile fails when dashboards/netmon-sqlite.json is not
// what netmon.json translates to; -update rewrites it.
func TestSQLiteDashboardFile(t *testing.T) {
	src, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sqliteDashboard(src)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(sqliteDashboardFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(sqliteDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./deploy/grafana -run TestSQLiteDashboardFile -update", sqliteDashboardFile)
	}
}

func TestTranslateSQL(t *testing.T) {
	tests := []struct {
		in, want string
		cols     []string
	}{
		{"WHERE $__timeFilter(r.ts)", "WHERE r.ts BETWEEN " + sqliteFrom + " AND " + sqliteTo, nil},
		{"r.ts <= $__timeTo() HAVING MIN(r.ts) >= $__timeFrom()", "r.ts <= " + sqliteTo + " HAVING MIN(r.ts) >= " + sqliteFrom, nil},
		{"SELECT $__timeGroupAlias(r.ts, $__interval, 0), x",
			"SELECT CAST(strftime('%s', r.ts) AS INTEGER) / " + sqliteStep + " * " + sqliteStep + " AS time, x", []string{"time"}},
		{"SELECT UNIX_TIMESTAMP(ts) AS time", "SELECT CAST(strftime('%s', ts) AS INTEGER) AS time", []string{"time"}},
		{"CONVERT(r.domain USING utf8mb4) AS resolver", "CAST(r.domain AS TEXT) AS resolver", nil},
		{"IF(d.randomised, 'yes', 'no') AS randomised", "CASE WHEN d.randomised THEN 'yes' ELSE 'no' END AS randomised", nil},
		{"SELECT time, 100 * value / SUM(value) OVER (PARTITION BY time)", "SELECT time, 100.0 * value / SUM(value) OVER (PARTITION BY time)", nil},
		{"MIN(r.ts) AS first_seen, MAX(r.ts) AS last_seen", "strftime(" + rfc3339 + ", MIN(r.ts)) AS first_seen, strftime(" + rfc3339 + ", MAX(r.ts)) AS last_seen",
			[]string{"first_seen", "last_seen"}},
		{"SELECT d.first_seen, d.last_seen\nFROM devices AS d WHERE d.last_seen >= 1 ORDER BY d.last_seen",
			"SELECT strftime(" + rfc3339 + ", d.first_seen) AS first_seen, strftime(" + rfc3339 + ", d.last_seen) AS last_seen\nFROM devices AS d WHERE d.last_seen >= 1 ORDER BY d.last_seen",
			[]string{"first_seen", "last_seen"}},
		{"('__all' IN ($agent) OR r.agent IN ($agent))", "('__all' IN (${agent:singlequote}) OR hex(r.agent) IN (${agent:singlequote}))", nil},
		{"HEX(r.device) IN ($device) OR HEX(r.nickname) IN ($service)", "HEX(r.device) IN (${device:singlequote}) OR HEX(r.nickname) IN (${service:singlequote})", nil},
	}
	for _, tt := range tests {
		got, cols, err := translateSQL(tt.in)
		if err != nil || got != tt.want || !slices.Equal(cols, tt.cols) {
			t.Errorf("translateSQL(%q) = %q, %q, %v;\nwant %q, %q", tt.in, got, cols, err, tt.want, tt.cols)
		}
	}
	for _, in := range []string{
		"SELECT FROM_UNIXTIME(1)", "$__timeGroup(ts, 1m)", "$__timeGroupAlias(ts, 5m)", "$__unixEpochFilter(x)",
		"x IN ($agent)", "a DIV 2", "CONVERT(x USING latin1)", `AS "time"`,
	} {
		if got, _, err := translateSQL(in); err == nil {
			t.Errorf("translateSQL(%q) = %q, want an error", in, got)
		}
	}
}

// sqliteVarUse is the one form a variable may take in the SQLite dashboard:
// hex digits compared with hex() of the column, All as '__all'.
var sqliteVarUse = map[string]*regexp.Regexp{
	"agent":   regexp.MustCompile(`\('__all' IN \(\$\{agent:singlequote\}\) OR hex\((r|d)\.agent\) IN \(\$\{agent:singlequote\}\)\)`),
	"device":  regexp.MustCompile(`\('__all' IN \(\$\{device:singlequote\}\) OR HEX\((r\.device|d\.device_id)\) IN \(\$\{device:singlequote\}\)\)`),
	"service": regexp.MustCompile(`\('__all' IN \(\$\{service:singlequote\}\) OR HEX\(r\.nickname\) IN \(\$\{service:singlequote\}\)\)`),
}

func checkSQLiteVars(t *testing.T, what, sqlText string) {
	t.Helper()
	for name, re := range sqliteVarUse {
		uses := strings.Count(sqlText, "$"+name) + strings.Count(sqlText, "${"+name)
		if uses != 2*len(re.FindAllString(sqlText, -1)) {
			t.Errorf("%s uses $%s other than as hex digits:\n%s", what, name, sqlText)
		}
	}
}

// The SQLite dashboard has the MariaDB one's panels, in the same places,
// each on the plugin, and the provisioning file matches it.
func TestSQLiteDashboardShape(t *testing.T) {
	my, lite := readDashboard(t, dashboardFile), readDashboard(t, sqliteDashboardFile)
	if lite.UID != sqliteUID || lite.UID == my.UID || !strings.Contains(lite.Title, "SQLite") {
		t.Errorf("uid %q, title %q", lite.UID, lite.Title)
	}
	myPanels, litePanels := queryPanels(my.Panels), queryPanels(lite.Panels)
	if len(myPanels) != len(litePanels) {
		t.Fatalf("%d panels, the MariaDB dashboard has %d", len(litePanels), len(myPanels))
	}
	for i, p := range litePanels {
		m := myPanels[i]
		if p.ID != m.ID || p.Title != m.Title || p.Type != m.Type || p.Repeat != m.Repeat || len(p.Targets) != len(m.Targets) {
			t.Errorf("panel %d is %d %q %s, the MariaDB one %d %q %s", i, p.ID, p.Title, p.Type, m.ID, m.Title, m.Type)
		}
		if p.Datasource == nil || *p.Datasource != (dsRef{Type: frserType, UID: "${datasource}"}) {
			t.Errorf("panel %q: data source %+v", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			what := "panel " + strconv.Quote(p.Title)
			if tg.Datasource == nil || *tg.Datasource != *p.Datasource {
				t.Errorf("%s: query data source %+v", what, tg.Datasource)
			}
			if tg.RawSQL != "" || tg.RawQueryText == "" || tg.QueryText != tg.RawQueryText {
				t.Errorf("%s: want rawQueryText, and queryText the same", what)
			}
			switch tg.QueryType {
			case "time series":
				if !slices.Contains(tg.TimeColumns, "time") {
					t.Errorf("%s: a time series whose time column is not time formatted: %q", what, tg.TimeColumns)
				}
			case "table":
			default:
				t.Errorf("%s: queryType %q", what, tg.QueryType)
			}
			checkSQLiteVars(t, what, tg.RawQueryText)
		}
	}
	vars := map[string]dashVar{}
	for _, v := range lite.Templating.List {
		vars[v.Name] = v
		if q, ok := v.Query.(string); ok {
			checkSQLiteVars(t, "variable "+v.Name, q)
		}
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.Query != frserType {
		t.Errorf("datasource variable: %+v", v)
	}
	for _, name := range []string{"agent", "device", "service"} {
		v := vars[name]
		if v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != "'__all'" || v.Datasource == nil ||
			*v.Datasource != (dsRef{Type: frserType, UID: "${datasource}"}) {
			t.Errorf("variable %s: %+v; want a multi-value query variable on the plugin with All = '__all'", name, v)
		}
		if q, _ := v.Query.(string); !strings.Contains(q, "AS __text") || !strings.Contains(q, "AS __value") {
			t.Errorf("variable %s: want __text and __value columns:\n%s", name, q)
		}
	}

	b, err := os.ReadFile(sqliteDatasourceFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"type: " + frserType, "uid: " + sqliteUID, "path: /var/lib/netmon/netmon.db",
		`pathPrefix: "file:"`, "pathOptions: " + sqlitePathOptions, "timeInterval: 10s"} {
		if !strings.Contains(string(b), " "+w+"\n") {
			t.Errorf("%s lacks %q", sqliteDatasourceFile, w)
		}
	}
}
