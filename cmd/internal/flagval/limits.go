package flagval

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Limit is the range a size, count or duration must lie in, in the unit
// its value is read in (nanoseconds, bytes, a count), and how to print a
// bound as the user would write it.
type Limit struct {
	Min, Max int64
	Show     func(int64) string
}

// LimitError is a value out of its limit.
type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

func (l Limit) check(n int64) error {
	switch {
	case n < l.Min:
		return &LimitError{fmt.Sprintf("must be at least %s, got %s", l.Show(l.Min), l.Show(n))}
	case n > l.Max:
		return &LimitError{fmt.Sprintf("must be at most %s, got %s", l.Show(l.Max), l.Show(n))}
	}
	return nil
}

// Day is a day of 24 hours, the unit ages are counted in.
const Day = 24 * time.Hour

// DurationLimit bounds a Go duration.
func DurationLimit(min, max time.Duration) Limit { return Limit{int64(min), int64(max), ShowGo} }

// AgeLimit bounds an age, shown in days when it is whole days (36600d).
func AgeLimit(min, max time.Duration) Limit { return Limit{int64(min), int64(max), ShowDays} }

// SizeLimit bounds a byte count.
func SizeLimit(min, max int64) Limit { return Limit{min, max, ShowSize} }

// CountLimit bounds a count.
func CountLimit(min, max int64) Limit {
	return Limit{min, max, func(n int64) string { return strconv.FormatInt(n, 10) }}
}

// Duration reads a Go duration (10s, 5m, 1h30m) within lim.
// String prints it as ShowGo does.
func Duration(p *time.Duration, def time.Duration, lim Limit) *Value[time.Duration] {
	v := New(p, def.String(), "duration", func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (want e.g. 30s, 5m or 1h30m)", s)
		}
		return d, lim.check(int64(d))
	})
	v.show = func(d time.Duration) string { return ShowGo(int64(d)) }
	return v
}

// Count reads a whole number within lim.
func Count(p *int, def int, lim Limit) *Value[int] {
	return New(p, strconv.Itoa(def), "int", func(s string) (int, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
		return int(n), lim.check(n)
	})
}

// Size reads a byte count (512MiB, 2GB, 65536: see ParseSize) within lim.
func Size(p *int64, def string, lim Limit) *Value[int64] {
	return New(p, def, "size", func(s string) (int64, error) {
		n, err := ParseSize(s)
		if err != nil {
			return 0, err
		}
		return n, lim.check(n)
	})
}

// Age reads an age (90d, 36h, 1d12h: see ParseAge) within lim; "" is no
// age (0), for a command to require one.
func Age(p *time.Duration, lim Limit) *Value[time.Duration] {
	return New(p, "", "age", func(s string) (time.Duration, error) {
		if s == "" {
			return 0, nil
		}
		d, err := ParseAge(s)
		if err != nil {
			return 0, err
		}
		return d, lim.check(int64(d))
	})
}

// All is the look-back that takes every row, whatever its age.
const All = "all"

// Since reads a look-back: an age within lim (as Age), or All, which
// stores 0.
func Since(p *time.Duration, def string, lim Limit) *Value[time.Duration] {
	return New(p, def, "age|all", func(s string) (time.Duration, error) {
		if s == All {
			return 0, nil
		}
		d, err := ParseAge(s)
		if err != nil {
			return 0, fmt.Errorf(`%q: want an age such as 30m, 12h, 7d or 1d12h, or "all"`, s)
		}
		return d, lim.check(int64(d))
	})
}

// ParseSize reads a byte count such as 512MiB, 2GB or 65536. Decimal and
// binary unit names both mean powers of 1024: nobody sizing a spool means
// the difference, and a stricter reading would only reject good input.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size (want e.g. 512MiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (want e.g. 512MiB)", s)
	}
	var shift uint
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
	case "k", "kb", "kib":
		shift = 10
	case "m", "mb", "mib":
		shift = 20
	case "g", "gb", "gib":
		shift = 30
	case "t", "tb", "tib":
		shift = 40
	default:
		return 0, fmt.Errorf("%q has an unknown unit (want B, KiB, MiB, GiB or TiB)", s)
	}
	if n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n << shift, nil
}

// ParseAge reads an age such as 90d, 36h, 1d12h or 90m. Go durations stop
// at hours; days are what retention and look-backs are counted in.
func ParseAge(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not an age (want e.g. 90d, 36h or 1d12h)", s)
	rest := strings.TrimSpace(s)
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil || days > 100*366 {
			return 0, bad
		}
		total = time.Duration(days) * Day
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return 0, bad
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not a positive age", s)
	}
	return total, nil
}

// ShowGo writes a duration as Go reads it, without zero minutes and
// seconds: 24h, not 24h0m0s.
func ShowGo(n int64) string {
	s := time.Duration(n).String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok && strings.HasSuffix(t, "h0") {
		return strings.TrimSuffix(t, "0")
	}
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		return t + "m"
	}
	return s
}

// ShowDays writes whole days as days (36600d), as ages are read.
func ShowDays(n int64) string {
	d := time.Duration(n)
	if d >= Day && d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return ShowGo(n)
}

// ShowSize writes a byte count in the largest binary unit that divides it.
func ShowSize(n int64) string {
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
