package grafana

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file expands and runs the queries of dashboards/netmon-sqlite.json
// the way Grafana and the frser-sqlite-datasource plugin do:
//
//  1. the browser (the plugin's applyTemplateVariables:
//     templateSrv.replace(rawQueryText, scopedVars), no format of its own)
//     replaces the variables — $v with several values becomes {a,b} (the
//     "glob" default), ${v:singlequote} 'a','b' with ' escaped as \' (which
//     SQLite does not honour), a custom "All" value goes in unformatted —
//     and the built-ins $__interval, $__interval_ms, $__from and $__to
//     (milliseconds);
//  2. the plugin (pkg/plugin: replaceVariables, then applyMacros) replaces
//     $__from and $__to once more, for alerts, then $__timeFilter(col) and
//     $__unixEpochGroupSeconds(col, seconds[, NULL]), and leaves any other
//     $__name(…) as it is — which SQLite then reads as a parameter;
//  3. it runs the query on the file (sql.Open("sqlite", pathPrefix + path +
//     "?" + pathOptions), modernc.org/sqlite, as netmon's store) and types
//     each column: by its declared type (INTEGER, REAL …, TEXT), else by its
//     first non-NULL value; a time formatted column (timeColumns) from Unix
//     seconds or RFC 3339 text, NULL when neither.

// frserMacroRE is the plugin's macroRegex.
var frserMacroRE = regexp.MustCompile(`\$__([_a-zA-Z0-9]+)\(([^\)]*)\)`)

// expandFrser turns a query of the SQLite dashboard into what the plugin
// runs.
func (e grafanaEnv) expandFrser(query string) (string, error) {
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	sqlText := templateVarRE.ReplaceAllStringFunc(query, func(m string) string {
		g := templateVarRE.FindStringSubmatch(m)
		name, format := g[1]+g[2]+g[4], g[3]+g[6]
		if g[5] != "" {
			fail(fmt.Errorf("%s: fields of variables are not expanded by this test", m))
			return m
		}
		var builtin string
		switch name {
		case "__interval":
			builtin = formatInterval(e.interval)
		case "__interval_ms":
			builtin = strconv.FormatInt(e.interval.Milliseconds(), 10)
		case "__from":
			builtin = strconv.FormatInt(e.from.UnixMilli(), 10)
		case "__to":
			builtin = strconv.FormatInt(e.to.UnixMilli(), 10)
		}
		if builtin != "" {
			if format != "" {
				fail(fmt.Errorf("%s: formats of built-in variables are not expanded by this test", m))
			}
			return builtin
		}
		v, ok := e.vars[name]
		if !ok {
			return m // not a variable: templateSrv leaves it
		}
		if v.all && v.allValue != "" {
			return v.allValue // a custom All value skips formatting
		}
		switch format {
		case "":
			if len(v.values) > 1 {
				return "{" + strings.Join(v.values, ",") + "}"
			}
			return strings.Join(v.values, "")
		case "singlequote":
			q := make([]string, len(v.values))
			for i, s := range v.values {
				q[i] = "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		}
		fail(fmt.Errorf("%s: format %s is not expanded by this test", m, format))
		return m
	})
	if firstErr != nil {
		return "", firstErr
	}

	// The plugin: replaceVariables, for alerts, in whole seconds.
	sqlText = strings.ReplaceAll(sqlText, "$__from", strconv.FormatInt(e.from.Unix()*1000, 10))
	sqlText = strings.ReplaceAll(sqlText, "$__to", strconv.FormatInt(e.to.Unix()*1000, 10))
	sqlText = frserMacroRE.ReplaceAllStringFunc(sqlText, func(m string) string {
		g := frserMacroRE.FindStringSubmatch(m)
		args := strings.Split(g[2], ",")
		switch g[1] {
		case "timeFilter":
			if len(args) != 1 {
				fail(fmt.Errorf("unsupported number of arguments (%d) for timeFilter", len(args)))
				return m
			}
			return fmt.Sprintf(`CAST(CASE WHEN typeof(%[1]s) = 'integer' THEN %[1]s ELSE strftime("%%s", %[1]s) END AS INTEGER) BETWEEN %[2]d AND %[3]d`,
				args[0], e.from.Unix(), e.to.Unix())
		case "unixEpochGroupSeconds":
			if len(args) < 2 || len(args) > 3 {
				fail(fmt.Errorf("unsupported number of arguments (%d) for unixEpochGroupSeconds", len(args)))
				return m
			}
			n, err := strconv.Atoi(strings.Trim(args[1], " "))
			if err != nil {
				fail(fmt.Errorf("could not convert '%s' to an integer grouping interval", args[1]))
				return m
			}
			if len(args) == 3 && strings.ToLower(strings.Trim(args[2], " ")) != "null" {
				fail(fmt.Errorf("unsupported gap filling value of: `%s`", args[2]))
				return m
			}
			return fmt.Sprintf("cast((%s / %d) as int) * %d", args[0], n, n)
		}
		return m
	})
	if firstErr != nil {
		return "", firstErr
	}
	// SQLite reads $name as a parameter, which the plugin never binds: a
	// variable or macro left over would silently be NULL.
	if m := sqlParamRE.FindString(sqlLiteralRE.ReplaceAllString(sqlText, "''")); m != "" {
		return "", fmt.Errorf("%s is left in the query; SQLite would read it as a NULL parameter", m)
	}
	return sqlText, nil
}

var (
	sqlLiteralRE = regexp.MustCompile(`'(?:[^']|'')*'`)
	sqlParamRE   = regexp.MustCompile(`[$:@?][A-Za-z_{]\w*|\?\d*`)
)

// Column types of the plugin's data frames.
const (
	frserTime    = "TIME"
	frserInteger = "INTEGER"
	frserFloat   = "FLOAT"
	frserString  = "STRING"
	frserUnknown = "UNKNOWN"
)

// runFrser runs q as the plugin's fetchData does and types the answer as its
// data frame: time columns hold time.Time, integers int64, floats float64,
// strings string, NULL nil. A value the plugin could not convert (a time
// column that is neither Unix seconds nor RFC 3339, a value of a type it
// does not know) is an error: Grafana would draw nothing, or raw Go text.
func runFrser(ctx context.Context, db *sql.DB, q string, timeCols []string) (queryResult, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return queryResult{}, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return queryResult{}, err
	}
	var res queryResult
	for _, ct := range cts {
		res.cols = append(res.cols, ct.Name())
		typ := frserUnknown
		switch strings.ToUpper(ct.DatabaseTypeName()) {
		case "INTEGER", "INT":
			typ = frserInteger
		case "REAL", "NUMERIC", "DOUBLE", "FLOAT":
			typ = frserFloat
		case "NULL", "TEXT", "BLOB":
			typ = frserString
		}
		if slices.Contains(timeCols, ct.Name()) {
			typ = frserTime
		}
		res.types = append(res.types, typ)
	}
	for rows.Next() {
		raw := make([]any, len(res.cols))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return queryResult{}, err
		}
		row := make([]any, len(raw))
		for i, v := range raw {
			var valueType string
			var iv int64
			var fv float64
			var sv string
			switch x := v.(type) {
			case int64:
				valueType, iv = frserInteger, x
			case float64:
				valueType, fv = frserFloat, x
			case []byte:
				valueType, sv = frserString, string(x)
			case string:
				valueType, sv = frserString, x
			case nil:
				valueType = "NULL"
			default:
				return queryResult{}, fmt.Errorf("column %s: the plugin knows no %T (%v); it would show it as Go text", res.cols[i], v, v)
			}
			if res.types[i] == frserUnknown && valueType != "NULL" {
				res.types[i] = valueType
			}
			if valueType == "NULL" {
				continue // row[i] stays nil
			}
			switch res.types[i] {
			case frserTime:
				switch valueType {
				case frserInteger:
					row[i] = time.Unix(iv, 0).UTC()
				case frserFloat:
					s, frac := math.Modf(fv)
					row[i] = time.Unix(int64(s), int64(frac*1e9)).UTC()
				default:
					t, err := time.Parse(time.RFC3339, sv)
					if err != nil {
						f, ferr := strconv.ParseFloat(sv, 64)
						if ferr != nil {
							return queryResult{}, fmt.Errorf("time column %s: %q is neither RFC 3339 nor a number; the plugin would make it NULL", res.cols[i], sv)
						}
						s, frac := math.Modf(f)
						t = time.Unix(int64(s), int64(frac*1e9))
					}
					row[i] = t.UTC()
				}
			case frserInteger:
				switch valueType {
				case frserInteger:
					row[i] = iv
				case frserFloat:
					row[i] = int64(fv)
				default:
					n, err := strconv.ParseInt(sv, 10, 64)
					if err != nil {
						return queryResult{}, fmt.Errorf("integer column %s: %q would be NULL", res.cols[i], sv)
					}
					row[i] = n
				}
			case frserFloat:
				switch valueType {
				case frserFloat:
					row[i] = fv
				case frserInteger:
					row[i] = float64(iv)
				default:
					f, err := strconv.ParseFloat(sv, 64)
					if err != nil {
						return queryResult{}, fmt.Errorf("float column %s: %q would be NULL", res.cols[i], sv)
					}
					row[i] = f
				}
			case frserString:
				switch valueType {
				case frserInteger:
					row[i] = strconv.FormatInt(iv, 10)
				case frserFloat:
					row[i] = fmt.Sprintf("%f", fv)
				default:
					row[i] = sv
				}
			}
		}
		res.rows = append(res.rows, row)
	}
	return res, rows.Err()
}

// checkFrserShape checks what Grafana needs of the plugin's frame: for a
// time series a time column named time, never NULL and ascending (the
// plugin's long-to-wide conversion requires it), numeric values and a text
// metric; for a table, that every column got a type.
func checkFrserShape(t *testing.T, what, queryType string, res queryResult) {
	t.Helper()
	if queryType != "time series" {
		return
	}
	ti := res.col("time")
	if ti < 0 || res.types[ti] != frserTime {
		t.Errorf("%s: no time formatted column named time in %v %v", what, res.cols, res.types)
		return
	}
	for i, typ := range res.types {
		switch {
		case i == ti:
		case res.cols[i] == "metric":
			if typ != frserString {
				t.Errorf("%s: metric column is %s, want text", what, typ)
			}
		case typ != frserInteger && typ != frserFloat && len(res.rows) > 0:
			t.Errorf("%s: value column %s is %s, want a number", what, res.cols[i], typ)
		}
	}
	for i, row := range res.rows {
		if row[ti] == nil {
			t.Errorf("%s: NULL time at row %d", what, i)
			return
		}
		if i > 0 && row[ti].(time.Time).Before(res.rows[i-1][ti].(time.Time)) {
			t.Errorf("%s: time goes back at row %d", what, i)
			return
		}
	}
}

func TestFrserExpand(t *testing.T) {
	from := time.Date(2024, 5, 1, 10, 0, 0, 500_000_000, time.UTC)
	env := grafanaEnv{
		from: from, to: from.Add(6 * time.Hour), interval: 90 * time.Second,
		vars: map[string]grafanaVar{
			"agent":   {values: []string{"686F6D65"}, multi: true},
			"device":  {values: []string{"3139322E", "3139332E"}, multi: true},
			"service": {all: true, allValue: "'__all'", multi: true},
			"plain":   {values: []string{"O'Brien"}},
		},
	}
	tests := []struct{ in, want string }{
		{"datetime($__from / 1000, 'unixepoch')", "datetime(1714557600500 / 1000, 'unixepoch')"},
		{"$__to $__interval_ms $__interval", "1714579200500 90000 1m"},
		{"hex(agent) IN (${agent:singlequote})", "hex(agent) IN ('686F6D65')"},
		{"x IN (${device:singlequote})", "x IN ('3139322E','3139332E')"},
		{"x IN ($device)", "x IN ({3139322E,3139332E})"},
		{"('__all' IN (${service:singlequote}))", "('__all' IN ('__all'))"},
		{"${plain:singlequote}", `'O\'Brien'`},
		{"$__timeFilter(ts)", `CAST(CASE WHEN typeof(ts) = 'integer' THEN ts ELSE strftime("%s", ts) END AS INTEGER) BETWEEN 1714557600 AND 1714579200`},
		{"$__unixEpochGroupSeconds(t, 10)", "cast((t / 10) as int) * 10"},
		{"'$__weird(x)' AS s", "'$__weird(x)' AS s"},
	}
	for _, tt := range tests {
		got, err := env.expandFrser(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("expandFrser(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"$__timeGroup(ts, 1m)", "$nope", "${agent:csv}", "${__from:date:seconds}", "$__unixEpochGroupSeconds(t, 1m)",
		"$__unixEpochGroupSeconds(t, 10, 0)", "x = ?", "x = :name",
	} {
		if got, err := env.expandFrser(in); err == nil {
			t.Errorf("expandFrser(%q) = %q, want an error", in, got)
		}
	}
}
