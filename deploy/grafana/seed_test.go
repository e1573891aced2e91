package grafana

import (
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// TestDashboardOverSeedRows runs every panel of the MariaDB dashboard over
// a database adopted from the seed (docs/upgrade.md) that holds only the
// seed's rows, whose bytes are unknown (NULL): packet panels count them,
// and no panel shows their bytes as 0, only as no value.
func TestDashboardOverSeedRows(t *testing.T) {
	dsn := storetest.NewDB(t)
	db := storetest.Open(t, dsn)
	db.MustExec(`CREATE TABLE dns_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, ip_addr TEXT, domain TEXT, is_definite BOOL, PRIMARY KEY(id)) DEFAULT CHARSET=utf8`)
	db.MustExec(`CREATE TABLE tcpdump_records (id INT AUTO_INCREMENT, ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP, domain TEXT, nickname TEXT, count INT, PRIMARY KEY(id)) DEFAULT CHARSET=utf8`)
	from := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 60 {
		ts := from.Add(time.Duration(i) * 10 * time.Second)
		db.MustExec(`INSERT INTO tcpdump_records (ts, domain, nickname, count) VALUES (?, 'www.youtube.com', 'YouTube', 40), (?, 'api.example.com', 'Example', 3)`, ts, ts)
	}
	st, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if res, err := st.Adopt(t.Context(), "pi-seed"); err != nil || !res.Adopted {
		t.Fatalf("Adopt = %+v, %v", res, err)
	}
	if _, _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}

	gdb := grafanaDB(t, dsn)
	d := readDashboard(t, dashboardFile)
	to := from.Add(10 * time.Minute)
	all := grafanaVar{all: true, allValue: "'__all'", multi: true}
	env := grafanaEnv{from: from, to: to, interval: panelInterval(from, to, 10*time.Second),
		vars: map[string]grafanaVar{"agent": all, "device": all, "service": all}}
	var packetPanels, bytesCells int
	for _, p := range queryPanels(d.Panels) {
		for _, tg := range p.Targets {
			q, err := env.expand(tg.query())
			if err != nil {
				t.Fatalf("%s: %v", p.Title, err)
			}
			res, err := runQuery(t.Context(), gdb, q)
			if err != nil {
				t.Fatalf("%s over the seed's rows: %v", p.Title, err)
			}
			bytesPanel := strings.Contains(strings.ToLower(p.Title), "bytes") || strings.Contains(q, "SUM(r.bytes) AS value")
			for _, row := range res.rows {
				for i, c := range res.cols {
					v := row[i]
					if c == "bytes" || (c == "value" && bytesPanel) {
						bytesCells++
						if v != nil {
							t.Errorf("%s: %s = %v for rows whose bytes are unknown; want NULL (no value), not a number", p.Title, c, num(v))
						}
					}
					if c == "packets" && v != nil && num(v) > 0 {
						packetPanels++
					}
				}
			}
		}
	}
	if packetPanels == 0 || bytesCells == 0 {
		t.Errorf("%d panel cells counted the seed's packets and %d showed their bytes; want some of each", packetPanels, bytesCells)
	}
	t.Logf("%d cells of packets counted the seed's rows; %d cells of bytes, all NULL", packetPanels, bytesCells)
}
