package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogFormatJSON checks that --log-format json makes every log line one
// JSON object, and that an unknown format is refused.
func TestLogFormatJSON(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	db := filepath.Join(t.TempDir(), "json.db")
	r := netmon(t, "replay", "--log-format", "json", "--db", db, "--no-ptr", file)
	r.mustSucceed(t)
	n := 0
	for line := range strings.Lines(r.stderr) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if rec["msg"] == nil || rec["level"] == nil {
			t.Errorf("no msg or level: %q", line)
		}
		n++
	}
	if n < 3 {
		t.Errorf("only %d log lines:\n%s", n, r.stderr)
	}
	bad := netmon(t, "replay", "--log-format", "xml", "--db", db, file)
	if bad.code == 0 || !strings.Contains(bad.lastLine(), `--log-format "xml": want text or json`) {
		t.Errorf("--log-format xml: exit %d, %q", bad.code, bad.lastLine())
	}
}
