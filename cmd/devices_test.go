package cmd

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	namesource "github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// knownDevices is what the device tables hold, read back, for computing what
// netmon top and the panels must show for rows.
type knownDevices struct {
	owner map[[2]string]string // (agent, addr) → device_id
	info  map[string]deviceInfo
	rows  []deviceRow
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
// agents that saw it, as netmon top takes them.
type deviceInfo struct {
	hostname, vendor string
	randomised       bool
}

func readDevices(t *testing.T, db *sqlx.DB) knownDevices {
	t.Helper()
	k := knownDevices{owner: map[[2]string]string{}, info: map[string]deviceInfo{}}
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

// label names the device id whose rows s sums.
func (k knownDevices) label(id string, s *sums) string {
	clients := make([]string, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	i := k.info[id]
	return store.DeviceLabel(i.hostname, i.vendor, i.randomised, slices.Min(clients))
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

var (
	devT0    = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	phoneV4  = netip.MustParseAddr("192.168.1.10")
	phoneV6  = netip.MustParseAddr("2001:db8::1c:3aff:fe12:3456")
	tvAddr   = netip.MustParseAddr("192.168.1.20")
	randAddr = netip.MustParseAddr("192.168.1.30")
	nasAddr  = netip.MustParseAddr("192.168.1.40")
	unknown  = netip.MustParseAddr("192.168.1.99")
)

const (
	phoneMAC = "3c:22:fb:12:34:56"
	tvMAC    = "a8:23:fe:00:00:01"
	randMAC  = "da:a1:19:00:00:02"
)

func trafficRow(client netip.Addr, domain string, count uint64) aggregate.Row {
	return aggregate.Row{Client: client, Domain: domain, Nickname: domain, Source: namesource.SNI, Count: count, Bytes: count * 100}
}

func at(a netip.Addr, ts time.Time) devices.Addr { return devices.Addr{Addr: a, LastSeen: ts} }

// homeWindows are two windows of a home network: the phone first named by
// mDNS, then by DHCP, which is more trusted; its IPv4 and IPv6 addresses
// both talk.
func homeWindows() []aggregate.Window {
	t1 := devT0.Add(10 * time.Second)
	phone := func(host string, src devices.NameSource, ts time.Time) devices.Device {
		return devices.Device{ID: phoneMAC, MAC: phoneMAC, Addrs: []devices.Addr{at(phoneV4, ts), at(phoneV6, ts.Add(-time.Second))},
			Hostname: host, NameSource: src, Vendor: "Apple, Inc.", FirstSeen: devT0, LastSeen: ts}
	}
	return []aggregate.Window{
		{Start: devT0, Rows: []aggregate.Row{
			trafficRow(phoneV4, "a.example", 40), trafficRow(phoneV6, "a.example", 30), trafficRow(tvAddr, "b.example", 20),
			trafficRow(randAddr, "a.example", 5), trafficRow(nasAddr, "c.example", 3), trafficRow(unknown, "a.example", 1),
		}, Devices: []devices.Device{
			phone("iPhone.local", devices.NameMDNS, devT0.Add(5*time.Second)),
			{ID: tvMAC, MAC: tvMAC, Addrs: []devices.Addr{at(tvAddr, devT0)}, Vendor: "LG Innotek", FirstSeen: devT0, LastSeen: devT0},
			{ID: randMAC, MAC: randMAC, Addrs: []devices.Addr{at(randAddr, devT0)}, Randomised: true, FirstSeen: devT0, LastSeen: devT0},
			{ID: nasAddr.String(), Addrs: []devices.Addr{at(nasAddr, devT0)}, Hostname: "nas.lan", NameSource: devices.NamePTR,
				FirstSeen: devT0, LastSeen: devT0},
		}},
		{Start: t1, Rows: []aggregate.Row{trafficRow(phoneV6, "b.example", 10)}, Devices: []devices.Device{
			phone("Johns-iPhone", devices.NameDHCP, t1.Add(3*time.Second)),
		}},
	}
}

// devicesDoc mirrors the --json document, so that decoding with unknown
// fields disallowed pins its shape.
type devicesDoc struct {
	Agent   string `json:"agent"`
	Devices []struct {
		Agent         string `json:"agent"`
		ID            string `json:"id"`
		Label         string `json:"label"`
		Hostname      string `json:"hostname"`
		HostnameBytes []byte `json:"hostname_bytes"`
		NameSource    string `json:"name_source"`
		MAC           string `json:"mac"`
		Vendor        string `json:"vendor"`
		Randomised    bool   `json:"randomised"`
		Addresses     []struct {
			Addr     string    `json:"addr"`
			LastSeen time.Time `json:"last_seen"`
		} `json:"addresses"`
		FirstSeen time.Time `json:"first_seen"`
		LastSeen  time.Time `json:"last_seen"`
	} `json:"devices"`
}

func decodeStrict(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// netmon devices and netmon top --by device, on both backends: the phone's
// DHCP name replaced its mDNS one, its two addresses are one device, and a
// device without a name is its address with its vendor.
func TestDevicesCommand(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			dsn := storetest.NewDSN(t, b)
			netmon(t, "migrate", "--dsn", dsn).mustSucceed(t)
			writeWindows(t, dsn, "home", homeWindows()...)
			writeWindows(t, dsn, "office", aggregate.Window{Start: devT0, Devices: []devices.Device{
				{ID: tvMAC, MAC: tvMAC, Addrs: []devices.Addr{at(netip.MustParseAddr("10.0.0.5"), devT0)}, Hostname: "meeting-room",
					NameSource: devices.NameConfig, Vendor: "LG Innotek", FirstSeen: devT0, LastSeen: devT0},
			}})

			r := netmon(t, "devices", "--dsn", dsn, "--agent", "home")
			r.mustSucceed(t)
			checkTerminalSafe(t, r.stdout)
			out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			want := [][]string{
				{"4", "devices,", "agent", "home"},
				{"last", "seen", "from"},
				nil,
				{"DEVICE", "SOURCE", "MAC", "ADDRESSES", "LAST"},
				{"Johns-iPhone", "(Apple,", "Inc.)", "dhcp", phoneMAC, "192.168.1.10", "+1"},
			}
			if len(out) != 3+1+4 {
				t.Fatalf("want 3 header lines, a column header and 4 devices:\n%s", r.stdout)
			}
			for i, w := range want {
				if f := strings.Fields(out[i]); !slices.Equal(f[:min(len(w), len(f))], w) {
					t.Errorf("line %d = %q, want it to start %q", i, out[i], w)
				}
			}
			for _, w := range []string{"192.168.1.20 (LG Innotek)   -       " + tvMAC, "192.168.1.30 (private MAC)  -       " + randMAC,
				"\nnas.lan                     ptr     -                  192.168.1.40 "} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("no %q in\n%s", w, r.stdout)
				}
			}

			var doc devicesDoc
			decodeStrict(t, netmon(t, "devices", "--dsn", dsn, "--json").stdout, &doc)
			if len(doc.Devices) != 5 || doc.Agent != "" {
				t.Fatalf("--json: %+v", doc)
			}
			p := doc.Devices[0]
			if p.Agent != "home" || p.ID != phoneMAC || p.Label != "Johns-iPhone (Apple, Inc.)" || p.Hostname != "Johns-iPhone" ||
				p.NameSource != "dhcp" || p.MAC != phoneMAC || p.Vendor != "Apple, Inc." || p.Randomised || p.HostnameBytes != nil ||
				len(p.Addresses) != 2 || p.Addresses[0].Addr != phoneV4.String() || p.Addresses[1].Addr != phoneV6.String() ||
				!p.FirstSeen.Equal(devT0) || !p.LastSeen.Equal(devT0.Add(13*time.Second)) {
				t.Errorf("--json phone: %+v", p)
			}

			// Per device, the phone's addresses are one line under its name.
			top := topJSONOf(t, "--dsn", dsn, "--since", "all", "--by", "device", "--agent", "home")
			if top.Total.Groups != 5 || len(top.Rows) != 5 {
				t.Fatalf("top --by device: %+v", top)
			}
			first := top.Rows[0]
			if first.Name != "Johns-iPhone (Apple, Inc.)" || first.Packets != 80 || first.Device == nil ||
				!slices.Equal(first.Device.Clients, []string{phoneV4.String(), phoneV6.String()}) || first.Device.ID != phoneMAC ||
				first.Device.NameSource != "dhcp" || first.Device.MAC != phoneMAC {
				t.Errorf("top phone line: %+v %+v", first, first.Device)
			}
			var names []string
			for _, row := range top.Rows {
				names = append(names, row.Name)
			}
			if wantNames := []string{"Johns-iPhone (Apple, Inc.)", "192.168.1.20 (LG Innotek)", "192.168.1.30 (private MAC)",
				"nas.lan", "192.168.1.99"}; !slices.Equal(names, wantNames) {
				t.Errorf("top --by device names = %q, want %q", names, wantNames)
			}
			tr := netmon(t, "top", "--dsn", dsn, "--since", "all", "--by", "device")
			tr.mustSucceed(t)
			checkTerminalSafe(t, tr.stdout)
			if !strings.Contains(tr.stdout, "\nJohns-iPhone (Apple, Inc.)  ") || !strings.Contains(tr.stdout, "\nDEVICE  ") {
				t.Errorf("top --by device table:\n%s", tr.stdout)
			}

			// The other agent's TV is its own, with its own name.
			r = netmon(t, "devices", "--dsn", dsn, "--agent", "office")
			r.mustSucceed(t)
			if !strings.HasPrefix(r.stdout, "1 device, agent office\n") || !strings.Contains(r.stdout, "meeting-room (LG Innotek)  config") {
				t.Errorf("--agent office:\n%s", r.stdout)
			}
		})
	}
}

func TestDevicesErrors(t *testing.T) {
	empty := storetest.NewDB(t)
	migrated, _ := migratedDB(t)
	withDevices, _ := migratedDB(t)
	writeWindows(t, withDevices, "home", homeWindows()...)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--dsn", empty}, `netmon: table devices is missing: run "netmon migrate" first`},
		{[]string{"--dsn", migrated, "--json"}, `netmon: no devices recorded yet: "netmon run" or "netmon replay" learns them`},
		{[]string{"--dsn", withDevices, "--agent", "hom"}, `netmon: no devices for agent "hom" (agents with devices: "home")`},
		{[]string{"--dsn", withDevices, "extra"}, "unknown command"},
		{[]string{"--dsn", withDevices, "--db", "x.db"}, "both --dsn and --db name a database"},
	} {
		r := netmon(t, append([]string{"devices"}, tt.args...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.lastLine(), tt.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("devices %v: exit %d, stdout %q, stderr %q; want exit 1 and the one line %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

// Host names come off the wire (DHCP, mDNS) and anyone may send them: they
// are stored as they came, and the built binary prints them escaped, 80
// columns wide, with quotes as they are; --json has them whole.
func TestDevicesHostileNames(t *testing.T) {
	dsn, db := migratedDB(t)
	hostile := []string{
		strings.Repeat("long-", 60), // 300 bytes
		"\x1b[2J\x1b[Hclear\x07",
		"line\r\nbreak",
		`it's "quoted" \ back\slash`,
		"\xff\xfe-not-utf8",
		"'); DROP TABLE devices; --",
		"\u202eevil\u202c",
		"nul\x00byte",
	}
	var rows []aggregate.Row
	var devs []devices.Device
	for i, h := range hostile {
		mac := "02:00:00:00:00:0" + string(rune('0'+i))
		addr := netip.AddrFrom4([4]byte{192, 168, 7, byte(i + 1)})
		rows = append(rows, trafficRow(addr, "x.example", uint64(100-i)))
		src := devices.NameDHCP
		if i%2 == 1 {
			src = devices.NameMDNS
		}
		devs = append(devs, devices.Device{ID: mac, MAC: mac, Addrs: []devices.Addr{at(addr, devT0)}, Hostname: h, NameSource: src,
			Vendor: "Vendor\x1b[31m", FirstSeen: devT0, LastSeen: devT0})
	}
	writeWindows(t, dsn, "home", aggregate.Window{Start: devT0, Rows: rows, Devices: devs})

	// Stored byte for byte, and the table is still there.
	var stored []struct {
		DeviceID string `db:"device_id"`
		Hostname []byte `db:"hostname"`
	}
	if err := db.Select(&stored, `SELECT device_id, hostname FROM devices ORDER BY device_id`); err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(hostile) {
		t.Fatalf("%d devices stored, want %d", len(stored), len(hostile))
	}
	for i, s := range stored {
		if string(s.Hostname) != hostile[i] {
			t.Errorf("%s: stored %q, want %q", s.DeviceID, s.Hostname, hostile[i])
		}
	}

	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(netmonBinary(t), args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("netmon %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	for _, args := range [][]string{
		{"devices", "--dsn", dsn},
		{"top", "--dsn", dsn, "--since", "all", "--by", "device"},
	} {
		out := run(args...)
		checkTerminalSafe(t, out)
		for _, want := range []string{`\x1b[2J\x1b[Hclear\a`, `line\r\nbreak`, `it's "quoted" \\ back\\slash`, `\xff\xfe-not-utf8`,
			`'); DROP TABLE devices; --`, `\u202eevil\u202c`, `nul\x00byte`, "long-long-", "…", `Vendor\x1b[31m`} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in\n%s", args[0], want, out)
			}
		}
	}

	var doc devicesDoc
	decodeStrict(t, run("devices", "--dsn", dsn, "--json"), &doc)
	if len(doc.Devices) != len(hostile) {
		t.Fatalf("--json lists %d devices", len(doc.Devices))
	}
	for _, d := range doc.Devices {
		i := int(d.MAC[len(d.MAC)-1] - '0')
		got := d.Hostname
		if d.HostnameBytes != nil {
			got = string(d.HostnameBytes)
			if !strings.Contains(d.Hostname, "\uFFFD") {
				t.Errorf("hostname %q with hostname_bytes: want U+FFFD for the invalid bytes", d.Hostname)
			}
		}
		if got != hostile[i] {
			t.Errorf("--json %s: hostname %q, bytes %q; want %q", d.MAC, d.Hostname, d.HostnameBytes, hostile[i])
		}
	}
	var top topDoc
	decodeStrict(t, run("top", "--dsn", dsn, "--since", "all", "--by", "device", "--json"), &top)
	if len(top.Rows) != len(hostile) || top.Rows[0].Device == nil || top.Rows[0].Device.Hostname != hostile[0] ||
		top.Rows[0].Name != hostile[0]+" (Vendor\x1b[31m)" || string(top.Rows[4].Device.HostnameBytes) != hostile[4] {
		t.Errorf("top --json: %+v", top.Rows)
	}
}
