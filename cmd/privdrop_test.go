package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccessHint: the hint names the directory the user cannot enter, since
// chown -R of the directory below it would not help.
func TestAccessHint(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root may enter everything: the hint is for the user after the drop.
		if got := accessHint("nobody", "/var/lib/x"); got != "chown -R nobody /var/lib/x" {
			t.Errorf("accessHint as root = %q", got)
		}
		return
	}
	dir := t.TempDir()
	closed := filepath.Join(dir, "closed")
	if err := os.Mkdir(closed, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(closed, 0o755) })
	got := accessHint("me", filepath.Join(closed, "state"))
	if !strings.Contains(got, "may not enter "+closed) {
		t.Errorf("accessHint = %q, want it to name %s", got, closed)
	}
}
