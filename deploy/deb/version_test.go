package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestDebianVersion(t *testing.T) {
	commits := func() (int, error) { return 96, nil }
	for _, c := range []struct{ describe, want string }{
		{"v1.2.0", "1.2.0"},
		{"1.2.0", "1.2.0"},
		{"v1.2.0-3-gabc1234", "1.2.0+3.gabc1234"},
		{"v1.2.0-3-gabc1234-dirty", "1.2.0+3.gabc1234.dirty"},
		{"v1.2.0-dirty", "1.2.0+dirty"},
		{"v1.3.0-rc1", "1.3.0~rc1"},
		{"v1.3.0-rc1-2-g0123abc", "1.3.0~rc1+2.g0123abc"},
		{"b171439", "0.0.0+96.gb171439"},
		{"b171439-dirty", "0.0.0+96.gb171439.dirty"},
	} {
		got, err := DebianVersion(c.describe, commits)
		if err != nil || got != c.want {
			t.Errorf("DebianVersion(%q) = %q, %v; want %q", c.describe, got, err, c.want)
		}
	}
	for _, bad := range []string{"release-foo", "nightly", "v1.2.0_beta", "-3-gabc1234", ""} {
		if got, err := DebianVersion(bad, commits); err == nil {
			t.Errorf("DebianVersion(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := DebianVersion("abc1234", func() (int, error) { return 0, errors.New("no git") }); err == nil || !strings.Contains(err.Error(), "no git") {
		t.Errorf("an untagged version without a commit count: %v, want git's error", err)
	}
}

// TestVersionOrder: the mapped versions sort, by dpkg's rules, the way the
// commits they come from do, so that apt upgrades from one to the next.
func TestVersionOrder(t *testing.T) {
	// Each row's commit comes after the row before it.
	order := []struct {
		describe string
		commits  int
	}{
		{"abc1234", 9},
		{"abd1234", 10},
		{"v0.1.0-rc1", 0},
		{"v0.1.0-rc1-1-gdef5678", 0},
		{"v0.1.0", 0},
		{"v0.1.0-2-g1111111", 0},
		{"v0.1.0-10-g0000000", 0},
		{"v0.1.1", 0},
		{"v0.10.0", 0},
		{"v1.0.0", 0},
	}
	prev := ""
	for _, o := range order {
		v, err := DebianVersion(o.describe, func() (int, error) { return o.commits, nil })
		if err != nil {
			t.Fatal(err)
		}
		if prev != "" && CompareVersions(prev, v) >= 0 {
			t.Errorf("%s (%s) does not sort after %s", v, o.describe, prev)
		}
		prev = v
	}
}

// TestCompareVersions against pairs whose order dpkg --compare-versions gives.
func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0+1", -1},
		{"1.0+9.gabc", "1.0+10.gabc", -1},
		{"1.0.dirty", "1.0", 1},
		{"1.0a", "1.0+", -1},
		{"1.10", "1.9", 1},
		{"1.001", "1.1", 0},
		{"1.0-1", "1.0-2", -1},
		{"1.0~~", "1.0~", -1},
	} {
		got := CompareVersions(c.a, c.b)
		if (got < 0) != (c.want < 0) || (got > 0) != (c.want > 0) {
			t.Errorf("CompareVersions(%q, %q) = %d, want the sign of %d", c.a, c.b, got, c.want)
		}
	}
}

// TestPackageUnit: the package's unit runs /usr/bin/netmon and does without
// netmon.env; a unit without the lines it rewrites is refused.
func TestPackageUnit(t *testing.T) {
	unit, err := os.ReadFile("../systemd/netmon.service")
	if err != nil {
		t.Fatal(err)
	}
	got, err := PackageUnit(string(unit))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ExecStart=/usr/bin/netmon run --log-format json $NETMON_ARGS", "EnvironmentFile=-/etc/netmon/netmon.env"} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("the package's unit has no line %q", line)
		}
	}
	if strings.Contains(got, "/usr/local/bin") {
		t.Errorf("the package's unit still names /usr/local/bin")
	}
	if _, err := PackageUnit(strings.Replace(string(unit), "/usr/local/bin/netmon", "/opt/netmon", 1)); err == nil {
		t.Errorf("a unit with another ExecStart was rewritten without complaint")
	}
}
