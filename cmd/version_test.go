package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersion: the flag every CLI user tries first and the command say the
// same line.
func TestVersion(t *testing.T) {
	cmd := netmon(t, "version")
	cmd.mustSucceed(t)
	flag := netmon(t, "--version")
	flag.mustSucceed(t)
	if want := "netmon " + version + "\n"; cmd.stdout != want || flag.stdout != want {
		t.Errorf("netmon version = %q, netmon --version = %q, want %q for both", cmd.stdout, flag.stdout, want)
	}
}

// TestCompletionValues asks cobra's hidden completion command what a shell
// would be offered after a flag that takes one of a few words, and after -i.
func TestCompletionValues(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "top", "--by", ""}, "device"},
		{[]string{"__complete", "replay", "--dns-match-queries", ""}, "auto"},
		{[]string{"__complete", "run", "--log-format", ""}, "json"},
		{[]string{"__complete", "run", "-i", ""}, "lo"},
	} {
		r := netmon(t, tt.args...)
		r.mustSucceed(t)
		found := false
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.SplitN(line, "\t", 2)[0] == tt.want {
				found = true
			}
		}
		if !found {
			t.Errorf("netmon %s offers %q, want it to include %q", strings.Join(tt.args, " "), r.stdout, tt.want)
		}
	}
}

// TestHelpShort: run's help names the default filter in a phrase instead of
// printing its 2,200 characters, and config show still gives it whole.
func TestHelpShort(t *testing.T) {
	r := netmon(t, "run", "--help")
	r.mustSucceed(t)
	if strings.Contains(r.stdout, "ether[") || !strings.Contains(r.stdout, `(default "TCP/UDP 53, 80, 443, 853`) {
		t.Errorf("netmon run --help shows the filter as:\n%s", r.stdout)
	}
	show := netmon(t, "config", "show", "run")
	show.mustSucceed(t)
	if !strings.Contains(show.stdout, "vlan and (") {
		t.Errorf("config show run does not print the whole default filter:\n%s", show.stdout)
	}
}

// TestReplayChecksFilesFirst: a replay of a file that cannot be read fails
// in one line before it creates the database or the spool.
func TestReplayChecksFilesFirst(t *testing.T) {
	dir := t.TempDir()
	db, state := filepath.Join(dir, "new.db"), filepath.Join(dir, "state")
	notPcap := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notPcap, []byte("not a capture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(dir, "nonexistent.pcap"), notPcap} {
		r := netmon(t, "replay", "--db", db, "--state-dir", state, file)
		if r.code != 1 || !strings.Contains(r.lastLine(), file) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("replay %s: exit %d, stderr:\n%s\nwant exit 1 and one line naming the file", file, r.code, r.stderr)
		}
		for _, p := range []string{db, state} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("replay %s created %s before failing", file, p)
			}
		}
	}
}
