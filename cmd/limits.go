package cmd

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A limit is the range a size, count or duration setting must lie in.
// netmon refuses a value outside it in one line before anything is
// created, whether it came from a flag, a variable or the config file
// (with the file's line, in netmon config check too). The bounds are far
// from any real use and close enough to keep arithmetic on times and sizes
// exact: a window of 2,000,000 h overflowed near 2^62 ns and wrote nothing.
// docs/limits.md lists them.
type limit struct {
	min, max int64
	// parse reads the value in the unit of min and max.
	parse func(string) (int64, error)
	// show prints a bound as the user would write it.
	show func(int64) string
}

const day = 24 * time.Hour

func durationLimit(min, max time.Duration) limit {
	return limit{int64(min), int64(max), func(s string) (int64, error) {
		d, err := time.ParseDuration(s)
		return int64(d), err
	}, showGo}
}

// showGo writes a duration as Go reads it, without zero minutes and
// seconds: 24h, not 24h0m0s.
func showGo(n int64) string {
	s := time.Duration(n).String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok && strings.HasSuffix(t, "h0") {
		return strings.TrimSuffix(t, "0")
	}
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		return t + "m"
	}
	return s
}

// showDays writes whole days as days (36600d), as --older-than and
// --since read them.
func showDays(n int64) string {
	d := time.Duration(n)
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return showGo(n)
}

func countLimit(min, max int64) limit {
	return limit{min, max, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) },
		func(n int64) string { return strconv.FormatInt(n, 10) }}
}

// limits are the bounded settings by flag name.
var limits = map[string]limit{
	// A window holds its counts in memory until it closes; a day is the
	// most anyone aggregates in a sensor before the database does.
	"window": durationLimit(time.Second, day),
	// How long a stop waits for the database: systemd gives 90 s.
	"drain-timeout":   durationLimit(0, time.Hour),
	"unhealthy-after": durationLimit(time.Second, 7*day),
	// replay --follow: below a tenth of a second a file being copied is
	// taken half-written; a day unchanged is more than any rotation.
	"settle": durationLimit(100*time.Millisecond, day),
	// Below 4 KiB not one window fits; above 1 TiB is no Pi's disk.
	"spool-max": {4 << 10, 1 << 40, func(s string) (int64, error) { return parseSize(s) }, showSize},
	"older-than": {int64(time.Minute), int64(36600 * day), func(s string) (int64, error) {
		d, err := parseAge(s)
		return int64(d), err
	}, showDays},
	// "all" is not a duration and has no bound.
	"since": {int64(time.Second), int64(36600 * day), func(s string) (int64, error) {
		if s == sinceAll {
			return int64(time.Second), nil
		}
		d, err := parseSince(s)
		return int64(d), err
	}, showDays},
	// Rows per prune transaction: more holds locks for seconds.
	"batch": countLimit(1, 1_000_000),
	// Lines of netmon top; 0 is all.
	"limit": countLimit(0, 1_000_000),
}

func showSize(n int64) string {
	switch {
	case n >= 1<<40 && n%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", n>>40)
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// checkLimit checks v against the limit of setting name, if it has one. A
// value that does not parse is left to the command's own check, which says
// what it wants.
func checkLimit(name, v string) error {
	l, ok := limits[name]
	if !ok {
		return nil
	}
	n, err := l.parse(v)
	switch {
	case err != nil:
		return nil
	case n < l.min:
		return fmt.Errorf("must be at least %s, got %s", l.show(l.min), l.show(n))
	case n > l.max:
		return fmt.Errorf("must be at most %s, got %s", l.show(l.max), l.show(n))
	}
	return nil
}

// checkFlagLimits checks the values given on c's command line; those from
// the environment and the file were checked as they were set.
func checkFlagLimits(c *cobra.Command) error {
	var first error
	c.Flags().VisitAll(func(fl *pflag.Flag) {
		if first != nil || !fl.Changed {
			return
		}
		if s, _ := sourceOf(c.Flags(), fl.Name); s != fromFlag {
			return
		}
		if err := checkLimit(fl.Name, fl.Value.String()); err != nil {
			first = fmt.Errorf("--%s %w", fl.Name, err)
		}
	})
	return first
}
