//go:build e2e

package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmon/netmon/capture/capturetest"
)

// TestInstallAndUnit runs `make install` into a scratch DESTDIR, checks what
// it put where (and who may read the environment file), and has
// systemd-analyze verify the installed unit against that root, binary
// included. Warnings count as failures: verify exits 0 on an unknown key.
func TestInstallAndUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		capturetest.Missing(t, "systemd-analyze not found: apt-get install systemd")
	}
	if _, err := exec.LookPath("make"); err != nil {
		capturetest.Missing(t, "make not found: apt-get install make")
	}
	dest := t.TempDir()
	bin := filepath.Join(t.TempDir(), "netmon")
	out, err := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "BIN="+bin).CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for path, mode := range map[string]os.FileMode{
		"usr/local/bin/netmon":              0o755,
		"etc/systemd/system/netmon.service": 0o644,
		"etc/netmon/netmon.env.example":     0o600,
		"etc/netmon/netmon.yaml.example":    0o644,
	} {
		st, err := os.Stat(filepath.Join(dest, path))
		if err != nil {
			t.Errorf("make install did not install %s: %v", path, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/netmon.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"User=netmon", "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
		"CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"PrivateTmp=yes", "ProtectHome=yes", "StateDirectory=netmon", "Restart=on-failure",
		"EnvironmentFile=/etc/netmon/netmon.env", "ExecStart=/usr/local/bin/netmon run --log-format json $NETMON_ARGS",
	} {
		if !strings.Contains(string(unit), "\n"+line) {
			t.Errorf("the unit has no line %q", line)
		}
	}

	// The unit's default dependencies (sysinit.target, ...) must resolve
	// inside the root too: give it this machine's system units.
	sys := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(sys, "sysinit.target")); err != nil {
		t.Fatalf("no %s/sysinit.target: apt-get install systemd", sys)
	}
	if err := os.MkdirAll(filepath.Join(dest, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", sys, filepath.Join(dest, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "verify", "--root="+dest, "/etc/systemd/system/netmon.service").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
