package flagval

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90d": 90 * Day, "36h": 36 * time.Hour, "30m": 30 * time.Minute, "1d12h": 36 * time.Hour, "45s": 45 * time.Second,
		"1h30m": 90 * time.Minute,
	} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "0d", "0s", "-5d", "-5m", "1.5d", "90", "ninety days", "5w", "all"} {
		if _, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) accepted", bad)
		}
	}
}

// Each kind of value refuses what it cannot hold, in its own words, and
// keeps its previous value and text when it does; what it takes, String
// prints as it was written.
func TestValues(t *testing.T) {
	t.Parallel()
	var (
		d    time.Duration
		n    int
		size int64
		age  time.Duration
		word string
		lvl  slog.Level
		addr string
		nets []netip.Prefix
	)
	durV := Duration(&d, 10*time.Second, DurationLimit(time.Second, Day))
	sinceV := Since(&age, "1h", AgeLimit(time.Second, 36600*Day))
	values := map[string]interface {
		Set(string) error
		String() string
	}{
		"duration": durV,
		"count":    Count(&n, 20, CountLimit(0, 1_000_000)),
		"size":     Size(&size, "512MiB", SizeLimit(4<<10, 1<<40)),
		"since":    sinceV,
		"enum":     Enum(&word, "service", "service", "domain", "device"),
		"level":    Level(&lvl, "info"),
		"listen":   Listen(&addr, ""),
		"prefixes": Prefixes(&nets),
	}
	for _, tc := range []struct {
		value, in, want string // want: the error, "" for none
	}{
		{"duration", "500ms", "must be at least 1s, got 500ms"},
		{"duration", "25h", "must be at most 24h, got 25h"},
		{"duration", "ten", `"ten" is not a duration`},
		{"duration", "1m30s", ""},
		{"count", "-5", "must be at least 0, got -5"},
		{"count", "x", `"x" is not a whole number`},
		{"count", "7", ""},
		{"size", "1KiB", "must be at least 4KiB, got 1KiB"},
		{"size", "2TiB", "must be at most 1TiB, got 2TiB"},
		{"size", "12 furlongs", "unknown unit"},
		{"size", "1GB", ""},
		{"since", "forever", `"forever": want an age such as 30m, 12h, 7d or 1d12h, or "all"`},
		{"since", "900000h", "must be at most 36600d, got 37500d"},
		{"since", "1d12h", ""},
		{"enum", "vendor", `"vendor": want service, domain or device`},
		{"enum", "device", ""},
		{"level", "loud", `"loud": want debug, info, warn or error`},
		{"level", "debug", ""},
		{"listen", "127.0.0.1:99999", `port "99999" is not a number from 0 to 65535`},
		{"listen", "localhost", "not an address to listen on"},
		{"listen", "127.0.0.1:9108", ""},
		{"prefixes", "10.0.0.0/99", "10.0.0.0/99"},
		{"prefixes", "203.0.113.0/24,2001:db8::/32", ""},
	} {
		v := values[tc.value]
		before := v.String()
		err := v.Set(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Set(%q): %v", tc.value, tc.in, err)
		case tc.want == "" && v.String() != tc.in:
			t.Errorf("%s: Set(%q) then String() = %q", tc.value, tc.in, v.String())
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Set(%q) = %v, want an error saying %q", tc.value, tc.in, err, tc.want)
		case tc.want != "" && v.String() != before:
			t.Errorf("%s: a refused Set(%q) changed the text from %q to %q", tc.value, tc.in, before, v.String())
		}
	}
	if d != 90*time.Second || n != 7 || size != 1<<30 || age != 36*time.Hour || word != "device" ||
		lvl != slog.LevelDebug || addr != "127.0.0.1:9108" || len(nets) != 2 {
		t.Errorf("values read: %v %d %d %v %q %v %q %v", d, n, size, age, word, lvl, addr, nets)
	}
	// A duration has one spelling, however it was written.
	if err := durV.Set("300s"); err != nil || durV.String() != "5m" {
		t.Errorf("duration 300s: String() = %q, %v; want 5m", durV.String(), err)
	}
	durV.Set("1m30s")
	var name string
	u := User(&name)
	if err := u.Set("root"); err == nil || !strings.Contains(err.Error(), "unprivileged") {
		t.Errorf("User(root): %v", err)
	}
	if err := u.Set("nosuchuser16"); err == nil {
		t.Error("User(nosuchuser16) accepted")
	}
	if err := sinceV.Set(All); err != nil || age != 0 {
		t.Errorf("since all: %v, %v", age, err)
	}
}

// Error puts what is wrong with a value after the flag's name as a
// sentence.
func TestError(t *testing.T) {
	t.Parallel()
	var d time.Duration
	v := Duration(&d, time.Second, DurationLimit(time.Second, time.Hour))
	err := v.Set("2h")
	if got := Error("--window", err).Error(); got != "--window must be at most 1h, got 2h" {
		t.Errorf("limit: %q", got)
	}
	var le *LimitError
	if !errors.As(Error("x", err), &le) {
		t.Error("Error does not wrap the LimitError")
	}
	if got := Error("--window", v.Set("ten")).Error(); !strings.HasPrefix(got, `--window "ten" is not a duration`) {
		t.Errorf("parse: %q", got)
	}
}
