package grafana

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// tmpDir holds this run's netmon binary, its state directory, its default
// SQLite file and an empty config file.
var tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netmon-grafana")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	// The netmon commands these tests run spool under this run's own
	// directory, write no default database anywhere else, and read an empty
	// config file instead of the machine's /etc/netmon/netmon.yaml.
	os.Setenv("NETMON_STATE_DIR", filepath.Join(dir, "state"))
	os.Setenv("NETMON_DB", filepath.Join(dir, "default.db"))
	noConfig := filepath.Join(dir, "noconfig.yaml")
	if err := os.WriteFile(noConfig, nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("NETMON_CONFIG", noConfig)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// netmon runs the netmon binary, built once on first use, and fails the
// test when the command fails.
func netmon(t testing.TB, args ...string) {
	t.Helper()
	buildOnce.Do(func() {
		binary = filepath.Join(tmpDir, "netmon")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/netmon/netmon/cmd/netmon").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build netmon: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("netmon %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
}

// pcapDir is the folder of shared third-party captures.
func pcapDir(t testing.TB) string { return capturetest.Dir(t) }

// migratedDB returns a scratch database on b with netmon's schema, and a
// handle on it that reads times in UTC.
func migratedDB(t testing.TB, b storetest.Backend) (string, *sqlx.DB) {
	t.Helper()
	dsn := storetest.NewDSN(t, b)
	netmon(t, "migrate", "--dsn", dsn)
	return dsn, storetest.Open(t, dsn)
}

// dbRow is one tcpdump_records row as the tests compare it.
type dbRow struct {
	TS       time.Time `db:"ts"`
	Agent    string    `db:"agent"`
	Client   string    `db:"client"`
	Domain   string    `db:"domain"`
	Nickname string    `db:"nickname"`
	// NickSource is where the nickname came from; "" when a test left it.
	NickSource string `db:"nickname_source"`
	Source     string `db:"source"`
	Count      uint64 `db:"count"`
	Bytes      uint64 `db:"bytes"`
}

// knownDevices is what the device tables hold, read back, for computing what
// the panels must show for rows.
type knownDevices struct {
	owner map[[2]string]string // (agent, addr) → device_id
	info  map[string]deviceInfo
	rows  []deviceRow
	// text is how the database's device_records view turns a host name's
	// bytes into text: MariaDB's CONVERT, or nothing on SQLite.
	text func(string) string
}

// deviceRow is one devices row as read back.
type deviceRow struct {
	Agent      string    `db:"agent"`
	DeviceID   string    `db:"device_id"`
	MAC        *string   `db:"mac"`
	IPs        string    `db:"ips"`
	Hostname   []byte    `db:"hostname"`
	NameSource string    `db:"name_source"`
	Vendor     string    `db:"vendor"`
	Randomised bool      `db:"randomised"`
	FirstSeen  time.Time `db:"first_seen"`
	LastSeen   time.Time `db:"last_seen"`
}

// deviceInfo is a device's naming fields, the greatest of each over the
// agents that saw it.
type deviceInfo struct {
	hostname, vendor string
	randomised       bool
}

func readDevices(t *testing.T, db *sqlx.DB, text func(string) string) knownDevices {
	t.Helper()
	k := knownDevices{owner: map[[2]string]string{}, info: map[string]deviceInfo{}, text: text}
	var addrs []struct {
		Agent    string `db:"agent"`
		Addr     string `db:"addr"`
		DeviceID string `db:"device_id"`
	}
	if err := db.Select(&addrs, `SELECT agent, addr, device_id FROM device_addresses`); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		k.owner[[2]string{a.Agent, a.Addr}] = a.DeviceID
	}
	if err := db.Select(&k.rows, `SELECT agent, device_id, mac, ips, hostname, name_source, vendor, randomised,
		first_seen, last_seen FROM devices`); err != nil {
		t.Fatal(err)
	}
	for _, d := range k.rows {
		i := k.info[d.DeviceID]
		i.hostname = max(i.hostname, string(d.Hostname))
		i.vendor = max(i.vendor, d.Vendor)
		i.randomised = i.randomised || d.Randomised
		k.info[d.DeviceID] = i
	}
	return k
}

// key is the device a row counts for: the one its address belongs to, else
// the address.
func (k knownDevices) key(r dbRow) string {
	if id, ok := k.owner[[2]string{r.Agent, r.Client}]; ok {
		return id
	}
	return r.Client
}

// viewLabel is the device_label the device_records view gives the device
// id whose rows s sums: its host name as the database turns it into text.
func (k knownDevices) viewLabel(id string, s *sums) string {
	clients := make([]string, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	i := k.info[id]
	return store.DeviceLabel(k.text(i.hostname), i.vendor, i.randomised, slices.Min(clients))
}

// mariaDBText is CONVERT(b USING utf8mb4): valid UTF-8 stays, every byte
// that is not part of it becomes '?'.
func mariaDBText(b string) string {
	var out strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRuneInString(b)
		if r == utf8.RuneError && n == 1 {
			out.WriteByte('?')
		} else {
			out.WriteString(b[:n])
		}
		b = b[n:]
	}
	return out.String()
}

// writeWindows writes windows as agent through the store, as netmon run
// would after learning them from the wire.
func writeWindows(t *testing.T, dsn, agent string, ws ...aggregate.Window) {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{DSN: dsn, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range ws {
		if ws[i].ID == ([16]byte{}) {
			ws[i].ID = [16]byte{0xDE, byte(i + 1), byte(len(agent))}
			copy(ws[i].ID[3:], agent)
		}
		if _, err := st.Apply(t.Context(), &ws[i]); err != nil {
			t.Fatalf("window %d: %v", i, err)
		}
	}
}

// The devices the tests add.
const (
	phoneMAC = "3c:22:fb:12:34:56"
	tvMAC    = "a8:23:fe:00:00:01"
	randMAC  = "da:a1:19:00:00:02"
)
