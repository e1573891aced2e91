package grafana

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file expands the queries of dashboards/netmon.json the way Grafana
// does before they reach MariaDB:
//
//  1. the browser replaces template variables (grafana-sql's
//     SqlDatasource.interpolateVariable: a multi-value or include-All
//     variable's values are quoted as 'a','b' with ' doubled; a custom
//     "All" value is inserted as it is), and the built-ins $__interval,
//     $__interval_ms, $__from and $__to;
//  2. the server (pkg/tsdb/mysql/sqleng Interpolate, then the MySQL macro
//     engine in pkg/tsdb/mysql/macros.go) replaces $__interval_ms,
//     $__interval, $__unixEpochFrom() and $__unixEpochTo(), and then every
//     $__macro(args).
//
// The session is Grafana's too: collation utf8mb4_unicode_ci, times in UTC,
// and the time_zone our provisioning file sets.

// grafanaVar is a template variable's current value.
type grafanaVar struct {
	values []string
	// all means "All" is selected; with allValue set Grafana inserts it
	// unformatted, without it the values of every option.
	all      bool
	allValue string
	// multi is variable.multi || variable.includeAll: values are quoted even
	// when only one is selected (or a repeated panel holds just one).
	multi bool
}

// grafanaEnv is what a query is expanded against: the dashboard's time
// range, the panel's interval, and the variables.
type grafanaEnv struct {
	from, to time.Time
	interval time.Duration
	vars     map[string]grafanaVar
	// frser is set for the SQLite dashboard: its queries group by whole
	// seconds of $__interval_ms, not by $__interval's rounded text.
	frser bool
}

// quoteLiteral is MySqlQueryModel.quoteLiteral: single quotes doubled, and
// nothing else escaped (notably not the backslash).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (v grafanaVar) format() string {
	if v.all && v.allValue != "" {
		return v.allValue
	}
	if !v.multi && len(v.values) == 1 {
		return strings.ReplaceAll(v.values[0], "'", "''")
	}
	q := make([]string, len(v.values))
	for i, s := range v.values {
		q[i] = quoteLiteral(s)
	}
	return strings.Join(q, ",")
}

// templateVarRE is templateSrv's variable syntax: $name, [[name]] and
// ${name}, the last two with an optional :format.
var templateVarRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// Grafana's server-side patterns, from pkg/tsdb/mysql/macros.go.
var (
	macroRE      = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)
	restrictedRE = regexp.MustCompile(`(?im)([\s]*show[\s]+grants|[\s,]session_user\([^\)]*\)|[\s,]current_user(\([^\)]*\))?|[\s,]system_user\([^\)]*\)|[\s,]user\([^\)]*\))([\s,;]|$)`)
	dateUnitRE   = regexp.MustCompile(`^(\d+)([dwMy])$`)
)

// expand turns a panel's SQL into what Grafana sends to MariaDB.
func (e grafanaEnv) expand(query string) (string, error) {
	// Browser: template variables and built-ins.
	var firstErr error
	sqlText := templateVarRE.ReplaceAllStringFunc(query, func(m string) string {
		g := templateVarRE.FindStringSubmatch(m)
		name := cmp.Or(g[1], g[2], g[4])
		if g[3] != "" || g[5] != "" || g[6] != "" {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: formats and fields of variables are not expanded by this test", m)
			}
			return m
		}
		switch name {
		case "__interval":
			return formatInterval(e.interval)
		case "__interval_ms":
			return strconv.FormatInt(e.interval.Milliseconds(), 10)
		case "__from":
			return strconv.FormatInt(e.from.UnixMilli(), 10)
		case "__to":
			return strconv.FormatInt(e.to.UnixMilli(), 10)
		}
		if v, ok := e.vars[name]; ok {
			return v.format()
		}
		return m // not a variable: a macro, or a typo MariaDB will reject
	})
	if firstErr != nil {
		return "", firstErr
	}

	// Server: sqleng.Interpolate, then the MySQL macro engine.
	sqlText = strings.ReplaceAll(sqlText, "$__interval_ms", strconv.FormatInt(e.interval.Milliseconds(), 10))
	sqlText = strings.ReplaceAll(sqlText, "$__interval", formatInterval(e.interval))
	sqlText = strings.ReplaceAll(sqlText, "$__unixEpochFrom()", strconv.FormatInt(e.from.Unix(), 10))
	sqlText = strings.ReplaceAll(sqlText, "$__unixEpochTo()", strconv.FormatInt(e.to.Unix(), 10))
	if restrictedRE.MatchString(sqlText) {
		return "", errors.New("Grafana refuses queries with SHOW GRANTS, user() and the like")
	}
	sqlText = macroRE.ReplaceAllStringFunc(sqlText, func(m string) string {
		g := macroRE.FindStringSubmatch(m)
		args := strings.Split(g[2], ",")
		for i := range args {
			args[i] = strings.Trim(args[i], " ")
		}
		out, err := e.macro(g[1], args)
		if err != nil && firstErr == nil {
			firstErr = err
			return "macro_error()"
		}
		return out
	})
	if firstErr != nil {
		return "", firstErr
	}
	return sqlText, nil
}

// macro is evaluateMacro of Grafana's MySQL engine.
func (e grafanaEnv) macro(name string, args []string) (string, error) {
	from, to := e.from.UTC().Unix(), e.to.UTC().Unix()
	switch name {
	case "__timeEpoch", "__time":
		if args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("UNIX_TIMESTAMP(%s) as time_sec", args[0]), nil
	case "__timeFilter":
		if args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		if from < 0 {
			return fmt.Sprintf("%s BETWEEN DATE_ADD(FROM_UNIXTIME(0), INTERVAL %d SECOND) AND FROM_UNIXTIME(%d)", args[0], from, to), nil
		}
		return fmt.Sprintf("%s BETWEEN FROM_UNIXTIME(%d) AND FROM_UNIXTIME(%d)", args[0], from, to), nil
	case "__timeFrom":
		return fmt.Sprintf("FROM_UNIXTIME(%d)", from), nil
	case "__timeTo":
		return fmt.Sprintf("FROM_UNIXTIME(%d)", to), nil
	case "__timeGroup", "__unixEpochGroup":
		if len(args) < 2 {
			return "", fmt.Errorf("macro %v needs time column and interval", name)
		}
		interval, err := parseInterval(strings.Trim(args[1], `'"`))
		if err != nil {
			return "", fmt.Errorf("error parsing interval %v", args[1])
		}
		if len(args) == 3 {
			if err := checkFill(args[2]); err != nil {
				return "", err
			}
		}
		if name == "__unixEpochGroup" {
			return fmt.Sprintf("%s DIV %v * %v", args[0], interval.Seconds(), interval.Seconds()), nil
		}
		return fmt.Sprintf("UNIX_TIMESTAMP(%s) DIV %.0f * %.0f", args[0], interval.Seconds(), interval.Seconds()), nil
	case "__timeGroupAlias", "__unixEpochGroupAlias":
		tg, err := e.macro(strings.TrimSuffix(name, "Alias"), args)
		if err != nil {
			return "", err
		}
		return tg + ` AS "time"`, nil
	case "__unixEpochFilter":
		if args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], from, args[0], to), nil
	case "__unixEpochNanoFilter":
		if args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], e.from.UnixNano(), args[0], e.to.UnixNano()), nil
	case "__unixEpochNanoFrom":
		return strconv.FormatInt(e.from.UnixNano(), 10), nil
	case "__unixEpochNanoTo":
		return strconv.FormatInt(e.to.UnixNano(), 10), nil
	}
	return "", fmt.Errorf("unknown macro %v", name)
}

// checkFill is sqleng.SetupFillmode's validation: NULL, previous or a number.
func checkFill(s string) error {
	switch s {
	case "NULL", "previous":
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Errorf("error parsing fill value %v", s)
	}
	return nil
}

// parseInterval is gtime.ParseInterval: Go durations plus d, w, M and y,
// counted on the calendar from now (in UTC, so days are 24 h).
func parseInterval(s string) (time.Duration, error) {
	m := dateUnitRE.FindStringSubmatch(s)
	if m == nil {
		return time.ParseDuration(s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	switch m[2] {
	case "d":
		return now.AddDate(0, 0, n).Sub(now), nil
	case "w":
		return now.AddDate(0, 0, 7*n).Sub(now), nil
	case "M":
		return now.AddDate(0, n, 0).Sub(now), nil
	}
	return now.AddDate(n, 0, 0).Sub(now), nil
}

// formatInterval is gtime.FormatInterval: the largest whole unit.
func formatInterval(d time.Duration) string {
	const day, year = 24 * time.Hour, 365 * 24 * time.Hour
	switch {
	case d >= year:
		return fmt.Sprintf("%dy", d/year)
	case d >= day:
		return fmt.Sprintf("%dd", d/day)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d >= time.Second:
		return fmt.Sprintf("%ds", d/time.Second)
	case d >= time.Millisecond:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return "1ms"
}

// panelInterval is the $__interval Grafana picks for a range: about a
// thousand points (a wide panel), rounded up to a round step as its
// rangeutil does, and no finer than the data source's minimum.
func panelInterval(from, to time.Time, minimum time.Duration) time.Duration {
	raw := to.Sub(from) / 1000
	steps := []time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second,
		30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour,
		12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour,
	}
	i, _ := slices.BinarySearch(steps, raw)
	step := 365 * 24 * time.Hour
	if i < len(steps) {
		step = steps[i]
	}
	return max(step, minimum)
}

func TestGrafanaExpand(t *testing.T) {
	from := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	env := grafanaEnv{
		from: from, to: from.Add(6 * time.Hour), interval: 90 * time.Second,
		vars: map[string]grafanaVar{
			"agent":   {values: []string{"home"}, multi: true},
			"device":  {values: []string{"192.168.1.2", "192.168.1.3"}, multi: true},
			"service": {all: true, allValue: "'__all'", multi: true},
			"plain":   {values: []string{"O'Brien"}},
			"every":   {all: true, values: []string{"a", "b'c"}, multi: true},
		},
	}
	tests := []struct{ in, want string }{
		{"WHERE $__timeFilter(ts)", "WHERE ts BETWEEN FROM_UNIXTIME(1714557600) AND FROM_UNIXTIME(1714579200)"},
		{"$__timeFilter( ts )", "ts BETWEEN FROM_UNIXTIME(1714557600) AND FROM_UNIXTIME(1714579200)"},
		{"$__timeFrom() .. $__timeTo()", "FROM_UNIXTIME(1714557600) .. FROM_UNIXTIME(1714579200)"},
		{"$__unixEpochFilter(epoch)", "epoch >= 1714557600 AND epoch <= 1714579200"},
		{"$__unixEpochFrom() $__unixEpochTo()", "1714557600 1714579200"},
		{"$__timeGroup(ts,'10s')", "UNIX_TIMESTAMP(ts) DIV 10 * 10"},
		{"$__timeGroup(ts, 5m, 0)", "UNIX_TIMESTAMP(ts) DIV 300 * 300"},
		{"$__timeGroupAlias(ts, 1d, NULL)", `UNIX_TIMESTAMP(ts) DIV 86400 * 86400 AS "time"`},
		// 90 s is written as whole minutes, as gtime.FormatInterval does,
		// while $__interval_ms keeps every millisecond.
		{"$__timeGroupAlias(ts, $__interval)", `UNIX_TIMESTAMP(ts) DIV 60 * 60 AS "time"`},
		{"$__interval_ms / $__interval", "90000 / 1m"},
		{"$__unixEpochGroupAlias(epoch, 1h)", `epoch DIV 3600 * 3600 AS "time"`},
		{"agent IN ($agent)", "agent IN ('home')"},
		{"client IN (${device})", "client IN ('192.168.1.2','192.168.1.3')"},
		{"client IN ([[device]])", "client IN ('192.168.1.2','192.168.1.3')"},
		{"('__all' IN ($service) OR x IN ($service))", "('__all' IN ('__all') OR x IN ('__all'))"},
		{"name = '$plain'", "name = 'O''Brien'"},
		{"x IN ($every)", "x IN ('a','b''c')"},
		{"$agents $nope", "$agents $nope"},
	}
	for _, tt := range tests {
		got, err := env.expand(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"$__timeGroup(ts)", "$__timeGroup(ts, fortnight)", "$__timeGroup(ts, 1m, sideways)",
		"$__timeFilter()", "$__nonsense(ts)", "${agent:csv}", "SELECT user() FROM t",
	} {
		if got, err := env.expand(in); err == nil {
			t.Errorf("expand(%q) = %q, want an error", in, got)
		}
	}

	// A negative start is written relative to the epoch, as Grafana does.
	old := grafanaEnv{from: time.Unix(-10, 0), to: time.Unix(10, 0)}
	if got, _ := old.expand("$__timeFilter(ts)"); got != "ts BETWEEN DATE_ADD(FROM_UNIXTIME(0), INTERVAL -10 SECOND) AND FROM_UNIXTIME(10)" {
		t.Errorf("negative from: %q", got)
	}
	if got := panelInterval(from, from.Add(time.Hour), 10*time.Second); got != 10*time.Second {
		t.Errorf("interval of an hour = %s, want the 10s minimum", got)
	}
	if got := panelInterval(from, from.Add(30*24*time.Hour), 10*time.Second); got != time.Hour {
		t.Errorf("interval of 30 days = %s, want 1h", got)
	}
}
