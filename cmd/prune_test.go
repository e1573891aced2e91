package cmd

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// prune deletes what is older than the age, keeps the rest, and says so.
func TestPruneCommand(t *testing.T) {
	dsn, db := migratedDB(t)
	old := time.Now().UTC().Add(-100 * 24 * time.Hour).Truncate(time.Second)
	recent := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i, ts := range []time.Time{old, old, recent} {
		if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
			VALUES (?, 'p', '192.168.1.2', ?, 'X', 'dns', 1, 1)`, ts, fmt.Sprintf("d%d.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	r := netmon(t, "prune", "--dsn", dsn, "--older-than", "90d", "--batch", "1")
	r.mustSucceed(t)
	var left []time.Time
	if err := db.Select(&left, `SELECT ts FROM tcpdump_records WHERE agent = 'p'`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || !left[0].Equal(recent) {
		t.Errorf("left %v, want only %s", left, recent)
	}
	if !strings.Contains(r.stderr, "tcpdump_records=") {
		t.Errorf("prune does not report what it deleted:\n%s", r.stderr)
	}
	checkOneLineError(t, netmon(t, "prune", "--dsn", dsn), "--older-than")
	checkOneLineError(t, netmon(t, "prune", "--dsn", dsn, "--older-than", "soon"), "--older-than", "soon")
}
