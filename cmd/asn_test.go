package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/netmon/netmon/store/storetest"
)

// TestASNNamesAddressOnlyRows replays netflix.pcap, whose player reaches
// Netflix's own servers by address (Host: 23.246.11.141), with ranges built
// here: those rows get Netflix from the address's owner, with source asn,
// on both backends; named rows keep their catalogue name.
func TestASNNamesAddressOnlyRows(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	csv := filepath.Join(t.TempDir(), "asn-ipv4.csv")
	if err := os.WriteFile(csv, []byte("23.246.0.0,23.246.63.255,2906,Netflix Streaming Services Inc.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lite := filepath.Join(t.TempDir(), "n.db")
	netmon(t, "replay", "--dsn", "sqlite:"+lite, "--agent", "asn", "--no-ptr", "--asn-db", csv, file).mustSucceed(t)
	mdsn, mdb := migratedDB(t)
	netmon(t, "replay", "--dsn", mdsn, "--agent", "asn", "--no-ptr", "--asn-db", csv, file).mustSucceed(t)
	for name, db := range map[string]*sqlx.DB{"sqlite": storetest.Open(t, "sqlite:"+lite), "mariadb": mdb} {
		type row struct {
			Nickname string `db:"nickname"`
			Src      string `db:"nickname_source"`
			Bytes    int64  `db:"b"`
		}
		var rows []row
		if err := db.Select(&rows, `SELECT nickname, nickname_source, SUM(bytes) AS b FROM tcpdump_records
			WHERE agent = 'asn' AND domain = ? GROUP BY nickname, nickname_source`, []byte("23.246.11.141")); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Nickname != "Netflix" || rows[0].Src != "asn" || rows[0].Bytes < 100000 {
			t.Errorf("%s: rows of 23.246.11.141 = %+v, want Netflix from asn, over 100 KB", name, rows)
		}
		var srcs []string
		if err := db.Select(&srcs, `SELECT DISTINCT nickname_source FROM tcpdump_records WHERE agent = 'asn' AND domain = ?`,
			[]byte("api-global.netflix.com")); err != nil {
			t.Fatal(err)
		}
		if len(srcs) != 1 || srcs[0] != "catalogue" {
			t.Errorf("%s: api-global.netflix.com sources %q, want catalogue", name, srcs)
		}
	}
	// netmon top says how much of a service its owner named.
	for _, dsn := range []string{"sqlite:" + lite, mdsn} {
		r := netmon(t, "top", "--dsn", dsn, "--since", "all", "--agent", "asn")
		r.mustSucceed(t)
		if !regexp.MustCompile(`Netflix \[asn [1-9][0-9]?\.[0-9]%\]`).MatchString(r.stdout) {
			t.Errorf("top does not show Netflix's owner-named share:\n%s", r.stdout)
		}
		r = netmon(t, "top", "--dsn", dsn, "--since", "all", "--agent", "asn", "--json")
		r.mustSucceed(t)
		var doc struct {
			Rows []struct {
				Name       string `json:"name"`
				Bytes      uint64 `json:"bytes"`
				OwnerBytes uint64 `json:"owner_bytes"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, row := range doc.Rows {
			if row.Name == "Netflix" {
				found = row.OwnerBytes > 100000 && row.OwnerBytes < row.Bytes
			} else if row.OwnerBytes != 0 {
				t.Errorf("%s has owner_bytes %d", row.Name, row.OwnerBytes)
			}
		}
		if !found {
			t.Errorf("top --json: Netflix's owner_bytes missing or wrong:\n%s", r.stdout)
		}
	}
}
