//go:build e2e

package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUserCreatedStateDir: --user nobody with a state directory and a
// database directory that do not exist yet. netmon creates them as root and
// must hand each directory it made to the user, or nobody could not enter
// them; the sensor captures and stops cleanly.
func TestUserCreatedStateDir(t *testing.T) {
	needNetns(t)
	// A parent every user may enter (t.TempDir's parents are 0700).
	base, err := os.MkdirTemp("", "netmon-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, "new", "state")
	db := filepath.Join(base, "newdb", "netmon.db")

	ns := vethNamespace(t, "nmu")
	sensor := startSensor(t, ns, nil, "-i", "nmcap", "--no-ptr", "--db", db, "--state-dir", state,
		"--agent", "user", "--user", "nobody")
	if !strings.Contains(sensor.logs.String(), "dropped privileges") {
		t.Errorf("no word of dropped privileges:\n%s", sensor.logs.String())
	}
	sensor.stop(t, syscall.SIGTERM)
	for _, dir := range []string{filepath.Join(base, "new"), state, filepath.Join(state, "spool"), filepath.Dir(db)} {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
			t.Errorf("%s belongs to uid %d, want nobody (65534): netmon made it", dir, uid)
		}
	}
	if st, err := os.Stat(base); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s, which netmon did not make, changed owner: %v", base, err)
	}
}
