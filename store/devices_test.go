package store_test

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// deviceRow is one devices row as read back; Hostname is a string so that
// cmp compares it byte for byte.
type deviceRow struct {
	Agent      string    `db:"agent"`
	DeviceID   string    `db:"device_id"`
	MAC        *string   `db:"mac"`
	IPs        string    `db:"ips"`
	Hostname   string    `db:"hostname"`
	NameSource string    `db:"name_source"`
	Vendor     string    `db:"vendor"`
	Randomised bool      `db:"randomised"`
	FirstSeen  time.Time `db:"first_seen"`
	LastSeen   time.Time `db:"last_seen"`
}

// addrRow is one device_addresses row as read back.
type addrRow struct {
	Agent     string    `db:"agent"`
	Addr      string    `db:"addr"`
	DeviceID  string    `db:"device_id"`
	FirstSeen time.Time `db:"first_seen"`
	LastSeen  time.Time `db:"last_seen"`
}

func (d *db) devices() map[string]deviceRow {
	d.t.Helper()
	var got []deviceRow
	err := d.raw.SelectContext(d.t.Context(), &got, `SELECT agent, device_id, mac, ips, hostname, name_source, vendor,
		randomised, first_seen, last_seen FROM devices`)
	if err != nil {
		d.t.Fatalf("read devices: %v", err)
	}
	return index(got, func(r deviceRow) string { return r.Agent + "/" + r.DeviceID })
}

func (d *db) addrs() map[string]addrRow {
	d.t.Helper()
	var got []addrRow
	err := d.raw.SelectContext(d.t.Context(), &got, `SELECT agent, addr, device_id, first_seen, last_seen FROM device_addresses`)
	if err != nil {
		d.t.Fatalf("read device_addresses: %v", err)
	}
	return index(got, func(r addrRow) string { return r.Agent + "/" + r.Addr })
}

func ptr[T any](v T) *T { return &v }

const (
	macPhone = "3c:22:fb:12:34:56"
	macTV    = "a4:77:33:00:00:01"
	macRand  = "da:a1:19:00:00:02"
)

func addrAt(a netip.Addr, ts time.Time) devices.Addr { return devices.Addr{Addr: a, LastSeen: ts} }

// devicesOnly is a window that carries only devices.
func devicesOnly(start time.Time, id byte, devs ...devices.Device) aggregate.Window {
	return withID(aggregate.Window{Start: start, Devices: devs}, id)
}

// Devices are written, merged by the rule of devices.Device, and a window
// or an upsert applied twice changes nothing.
func TestDevicesMerge(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("home")
		apply := func(w aggregate.Window) bool {
			t.Helper()
			applied, err := s.Apply(t.Context(), &w)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			return applied
		}
		hour := time.Hour
		phone := func(host string, src devices.NameSource, first, last time.Time) devices.Device {
			return devices.Device{ID: macPhone, MAC: macPhone, Addrs: []devices.Addr{addrAt(c1, last), addrAt(c3, last.Add(-time.Second))},
				Hostname: host, NameSource: src, Vendor: "Apple, Inc.", FirstSeen: first, LastSeen: last}
		}
		w1 := devicesOnly(t0, 1,
			phone("iphone", devices.NameMDNS, t0.Add(-hour), t0.Add(5*time.Second)),
			devices.Device{ID: c2.String(), Addrs: []devices.Addr{addrAt(c2, t0)}, Hostname: "host-11.lan", NameSource: devices.NamePTR,
				FirstSeen: t0, LastSeen: t0},
			devices.Device{ID: macRand, MAC: macRand, Randomised: true, FirstSeen: t0, LastSeen: t0},
		)
		if !apply(w1) {
			t.Fatal("first window not applied")
		}
		want := map[string]deviceRow{
			"home/" + macPhone: {"home", macPhone, ptr(macPhone), "192.168.1.10, fd00::1234:5678", "iphone", "mdns", "Apple, Inc.", false,
				t0.Add(-hour), t0.Add(5 * time.Second)},
			"home/192.168.1.11": {"home", "192.168.1.11", nil, "192.168.1.11", "host-11.lan", "ptr", "", false, t0, t0},
			"home/" + macRand:   {"home", macRand, ptr(macRand), "", "", "", "", true, t0, t0},
		}
		wantAddrs := map[string]addrRow{
			"home/192.168.1.10":    {"home", "192.168.1.10", macPhone, t0.Add(5 * time.Second), t0.Add(5 * time.Second)},
			"home/fd00::1234:5678": {"home", "fd00::1234:5678", macPhone, t0.Add(4 * time.Second), t0.Add(4 * time.Second)},
			"home/192.168.1.11":    {"home", "192.168.1.11", "192.168.1.11", t0, t0},
		}
		check := func(when string) {
			t.Helper()
			if diff := cmp.Diff(want, d.devices()); diff != "" {
				t.Errorf("%s: devices (-want +got):\n%s", when, diff)
			}
			if diff := cmp.Diff(wantAddrs, d.addrs()); diff != "" {
				t.Errorf("%s: device_addresses (-want +got):\n%s", when, diff)
			}
		}
		check("first window")
		if apply(w1) {
			t.Error("the same window was applied twice")
		}
		// The same devices under another ID: the upserts themselves are
		// safe to repeat.
		again := w1
		again.ID[1] = 2
		if !apply(again) {
			t.Error("the copy under a new ID was skipped")
		}
		check("same devices again")

		// A better name (dhcp over mdns) replaces; last seen moves forward,
		// first seen does not move forward.
		apply(devicesOnly(t1, 3, phone("Johns-iPhone", devices.NameDHCP, t0, t1.Add(2*time.Second))))
		p := want["home/"+macPhone]
		p.Hostname, p.NameSource, p.LastSeen = "Johns-iPhone", "dhcp", t1.Add(2*time.Second)
		want["home/"+macPhone] = p
		wantAddrs["home/192.168.1.10"] = addrRow{"home", "192.168.1.10", macPhone, t0.Add(5 * time.Second), t1.Add(2 * time.Second)}
		wantAddrs["home/fd00::1234:5678"] = addrRow{"home", "fd00::1234:5678", macPhone, t0.Add(4 * time.Second), t1.Add(time.Second)}
		check("dhcp after mdns")

		// A worse one (ptr after dhcp) does not, nor does no name; an
		// earlier first seen moves back, an earlier last seen stays.
		apply(devicesOnly(t2, 4, phone("ptr-name.lan", devices.NamePTR, t0.Add(-2*hour), t0)))
		apply(devicesOnly(t2, 5, phone("", devices.NameNone, t0, t0)))
		apply(devicesOnly(t2, 6, phone("", devices.NameConfig, t0, t0)))
		p.FirstSeen = t0.Add(-2 * hour)
		want["home/"+macPhone] = p
		wantAddrs["home/192.168.1.10"] = addrRow{"home", "192.168.1.10", macPhone, t0, t1.Add(2 * time.Second)}
		wantAddrs["home/fd00::1234:5678"] = addrRow{"home", "fd00::1234:5678", macPhone, t0.Add(-time.Second), t1.Add(time.Second)}
		check("ptr and no name after dhcp")

		// The user's name beats dhcp, then dhcp cannot take it back, and
		// another config name (as trusted) replaces it.
		apply(devicesOnly(t2, 7, phone("Kitchen iPad", devices.NameConfig, t0, t0)))
		apply(devicesOnly(t2, 8, phone("Johns-iPhone", devices.NameDHCP, t0, t0)))
		p.Hostname, p.NameSource = "Kitchen iPad", "config"
		want["home/"+macPhone] = p
		check("config after dhcp")
		apply(devicesOnly(t2, 9, phone("Hall iPad", devices.NameConfig, t0, t0)))
		p.Hostname = "Hall iPad"
		want["home/"+macPhone] = p
		check("config after config")

		// The store's own view of the same rows.
		got, err := s.Devices(t.Context(), "home")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].ID != macPhone || got[0].Hostname != "Hall iPad" || got[0].NameSource != devices.NameConfig ||
			len(got[0].Addrs) != 2 || got[0].Addrs[0].Addr != c1 || !got[0].Addrs[0].LastSeen.Equal(t1.Add(2*time.Second)) ||
			got[0].Label() != "Hall iPad (Apple, Inc.)" {
			t.Errorf("Devices(home) = %+v", got)
		}
		for _, r := range got {
			switch r.ID {
			case macRand:
				if !r.Randomised || r.Label() != macRand+" (private MAC)" || len(r.Addrs) != 0 {
					t.Errorf("randomised device %+v, label %q", r, r.Label())
				}
			case "192.168.1.11":
				if r.MAC != "" || r.Label() != "host-11.lan" {
					t.Errorf("address-only device %+v, label %q", r, r.Label())
				}
			}
		}
		if other, err := s.Devices(t.Context(), "office"); err != nil || len(other) != 0 {
			t.Errorf("Devices(office) = %v, %v; want none", other, err)
		}
		if agents, err := s.DeviceAgents(t.Context()); err != nil || !cmp.Equal(agents, []string{"home"}) {
			t.Errorf("DeviceAgents = %v, %v", agents, err)
		}
	})
}

// An address belongs to the device that used it last: a DHCP lease given
// to another device moves the address, an older sighting does not move it
// back, and a device known only by that address gives way to the MAC.
func TestDeviceAddressMoves(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("home")
		apply := func(w aggregate.Window) {
			t.Helper()
			if _, err := s.Apply(t.Context(), &w); err != nil {
				t.Fatalf("Apply: %v", err)
			}
		}
		dev := func(mac string, at time.Time, addrs ...netip.Addr) devices.Device {
			dd := devices.Device{ID: mac, MAC: mac, FirstSeen: at, LastSeen: at}
			for _, a := range addrs {
				dd.Addrs = append(dd.Addrs, addrAt(a, at))
			}
			return dd
		}
		// 192.168.1.11 is first known by its address alone (no MAC).
		apply(devicesOnly(t0, 1, devices.Device{ID: c2.String(), Addrs: []devices.Addr{addrAt(c2, t0)},
			Hostname: "old.lan", NameSource: devices.NamePTR, FirstSeen: t0, LastSeen: t0}))
		apply(devicesOnly(t0, 2, dev(macPhone, t0, c1)))
		apply(devicesOnly(t1, 3, dev(macTV, t1, c2, c3)))
		devs, addrs := d.devices(), d.addrs()
		if _, ok := devs["home/"+c2.String()]; ok {
			t.Errorf("the address-only device is still there once its address has a MAC: %+v", devs)
		}
		if got := addrs["home/"+c2.String()]; got.DeviceID != macTV || !got.FirstSeen.Equal(t1) {
			t.Errorf("192.168.1.11 = %+v, want it on the TV since %s", got, t1)
		}
		if got := devs["home/"+macTV].IPs; got != "192.168.1.11, fd00::1234:5678" {
			t.Errorf("TV ips = %q", got)
		}

		// The phone gets the TV's old lease: the row moves, both ips follow.
		apply(devicesOnly(t2, 4, dev(macPhone, t2, c2)))
		devs, addrs = d.devices(), d.addrs()
		if got := addrs["home/"+c2.String()]; got.DeviceID != macPhone || !got.FirstSeen.Equal(t2) || !got.LastSeen.Equal(t2) {
			t.Errorf("192.168.1.11 after the move = %+v", got)
		}
		if got := devs["home/"+macPhone].IPs; got != "192.168.1.11, 192.168.1.10" {
			t.Errorf("phone ips = %q, want the new lease first", got)
		}
		if got := devs["home/"+macTV].IPs; got != "fd00::1234:5678" {
			t.Errorf("TV ips = %q, want the lease gone", got)
		}
		// A late window in which the TV still had it moves nothing.
		apply(devicesOnly(t1, 5, dev(macTV, t1, c2)))
		if got := d.addrs()["home/"+c2.String()]; got.DeviceID != macPhone {
			t.Errorf("an older sighting moved 192.168.1.11 back: %+v", got)
		}
		if got := d.devices()["home/"+macTV].IPs; got != "fd00::1234:5678" {
			t.Errorf("TV ips after the late window = %q", got)
		}

		// Another agent's devices are its own.
		if _, err := d.store("office").Apply(t.Context(), ptr(devicesOnly(t2, 6, dev(macTV, t2, c2)))); err != nil {
			t.Fatal(err)
		}
		if got := d.addrs()["home/"+c2.String()]; got.DeviceID != macPhone {
			t.Errorf("another agent moved home's address: %+v", got)
		}

		// ips holds the 16 most recent of a device's addresses.
		var many []devices.Addr
		for i := range 20 {
			many = append(many, addrAt(netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: byte(i + 1)}), t2.Add(time.Duration(i)*time.Second)))
		}
		apply(devicesOnly(t2, 7, devices.Device{ID: macRand, MAC: macRand, Randomised: true, Addrs: many, FirstSeen: t2, LastSeen: t2}))
		ips := strings.Split(d.devices()["home/"+macRand].IPs, ", ")
		if len(ips) != 16 || ips[0] != "2001:db8::14" || ips[15] != "2001:db8::5" {
			t.Errorf("ips of 20 addresses = %q, want 2001:db8::14 down to ::5", ips)
		}
		got, err := s.Devices(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.ID == macRand && r.Agent == "home" && len(r.Addrs) != 20 {
				t.Errorf("Devices lists %d of 20 addresses", len(r.Addrs))
			}
		}
	})
}

// Per device, top sums a device's IPv4 and IPv6 addresses into one line
// named as DeviceLabel says, and the device_records view that Grafana reads
// names and groups them the same way.
func TestTopByDevice(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("home")
		w := withID(aggregate.Window{Start: t0,
			Rows: []aggregate.Row{
				row(c1, "a.example", "A", source.DNS, 10, 1000),
				row(c3, "a.example", "A", source.DNS, 5, 500),
				row(c3, "b.example", "B", source.SNI, 1, 100),
				row(c2, "a.example", "A", source.DNS, 7, 700),
				row(netip.MustParseAddr("192.168.1.20"), "a.example", "A", source.DNS, 3, 300),
				row(netip.MustParseAddr("192.168.1.30"), "a.example", "A", source.DNS, 2, 200),
				row(netip.MustParseAddr("192.168.1.40"), "a.example", "A", source.DNS, 1, 100),
			},
			Devices: []devices.Device{
				{ID: macPhone, MAC: macPhone, Addrs: []devices.Addr{addrAt(c1, t0), addrAt(c3, t0)}, Hostname: "phone",
					NameSource: devices.NameDHCP, Vendor: "Apple, Inc.", FirstSeen: t0, LastSeen: t0},
				{ID: macTV, MAC: macTV, Addrs: []devices.Addr{addrAt(netip.MustParseAddr("192.168.1.20"), t0)}, Vendor: "LG Innotek", FirstSeen: t0, LastSeen: t0},
				{ID: macRand, MAC: macRand, Addrs: []devices.Addr{addrAt(netip.MustParseAddr("192.168.1.30"), t0)}, Randomised: true, FirstSeen: t0, LastSeen: t0},
				{ID: "192.168.1.40", Addrs: []devices.Addr{addrAt(netip.MustParseAddr("192.168.1.40"), t0)}, Hostname: "nas",
					NameSource: devices.NameNetBIOS, FirstSeen: t0, LastSeen: t0},
			},
		}, 1)
		if _, err := s.Apply(t.Context(), &w); err != nil {
			t.Fatal(err)
		}
		res, err := s.Top(t.Context(), store.TopQuery{By: store.ByDevice})
		if err != nil {
			t.Fatal(err)
		}
		type line struct {
			Name    string
			Packets uint64
			Device  store.TopDevice
		}
		var got []line
		for _, r := range res.Rows {
			got = append(got, line{r.Name, r.Packets, *r.Device})
		}
		want := []line{
			{"phone (Apple, Inc.)", 16, store.TopDevice{ID: macPhone, Clients: []string{"192.168.1.10", "fd00::1234:5678"},
				MAC: macPhone, Hostname: "phone", NameSource: "dhcp", Vendor: "Apple, Inc."}},
			{"192.168.1.11", 7, store.TopDevice{ID: "192.168.1.11", Clients: []string{"192.168.1.11"}}},
			{"192.168.1.20 (LG Innotek)", 3, store.TopDevice{ID: macTV, Clients: []string{"192.168.1.20"}, MAC: macTV, Vendor: "LG Innotek"}},
			{"192.168.1.30 (private MAC)", 2, store.TopDevice{ID: macRand, Clients: []string{"192.168.1.30"}, MAC: macRand, Randomised: true}},
			{"nas", 1, store.TopDevice{ID: "192.168.1.40", Clients: []string{"192.168.1.40"}, Hostname: "nas", NameSource: "netbios"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("top by device (-want +got):\n%s", diff)
		}
		if res.Groups != 5 || res.Total.Packets != 29 {
			t.Errorf("groups %d, packets %d; want 5, 29", res.Groups, res.Total.Packets)
		}

		// The view Grafana reads: the same groups, the same labels.
		var view []struct {
			Device  string `db:"device"`
			Label   string `db:"label"`
			Packets uint64 `db:"packets"`
		}
		if err := d.raw.SelectContext(t.Context(), &view, `SELECT device, MIN(device_label) AS label, SUM(count) AS packets
			FROM device_records GROUP BY device ORDER BY packets DESC`); err != nil {
			t.Fatal(err)
		}
		for i, v := range view {
			if i >= len(want) || v.Device != want[i].Device.ID || v.Label != want[i].Name || v.Packets != want[i].Packets {
				t.Errorf("device_records line %d = %+v, want %+v", i, v, want[min(i, len(want)-1)])
			}
		}
		if len(view) != len(want) {
			t.Errorf("device_records has %d devices, want %d", len(view), len(want))
		}

		// Per service, nothing joins: the rows as they are.
		svc, err := s.Top(t.Context(), store.TopQuery{By: store.ByService, Agent: "home"})
		if err != nil || len(svc.Rows) != 2 || svc.Rows[0].Device != nil || svc.Rows[0].Packets != 28 {
			t.Errorf("top by service = %+v, %v", svc, err)
		}
	})
}

// Host names come from DHCP and mDNS packets anyone may send: whatever
// bytes they hold are stored as they came, through bound parameters, and
// read back the same.
func TestDevicesHostileNames(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("home")
		hostile := []string{
			strings.Repeat("x", 300),
			"bell\x07\x1b[2J\r\nnext",
			`it's "quoted"`,
			`back\slash\`,
			"\xff\xfe-not-utf8",
			"'); DROP TABLE devices; --",
			"nul\x00byte",
			"\u202eevil\u202c",
			strings.Repeat("é", 600), // 1,200 bytes: cut at 1,024
		}
		var devs []devices.Device
		for i, h := range hostile {
			mac := "02:00:00:00:00:" + string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16])
			devs = append(devs, devices.Device{ID: mac, MAC: mac, Addrs: []devices.Addr{addrAt(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), t0)},
				Hostname: h, NameSource: devices.NameDHCP, Vendor: "Vendor \xff" + h[:min(len(h), 20)], FirstSeen: t0, LastSeen: t0})
		}
		w := devicesOnly(t0, 1, devs...)
		if _, err := s.Apply(t.Context(), &w); err != nil {
			t.Fatal(err)
		}
		got := d.devices()
		if len(got) != len(hostile) {
			t.Fatalf("%d devices, want %d (a DROP TABLE got through?)", len(got), len(hostile))
		}
		for _, dev := range devs {
			r := got["home/"+dev.ID]
			want := dev.Hostname
			if len(want) > 1024 {
				want = want[:1024]
			}
			if r.Hostname != want {
				t.Errorf("hostname %q stored as %q", dev.Hostname, r.Hostname)
			}
			if wantV := strings.ToValidUTF8(dev.Vendor, "\uFFFD"); r.Vendor != wantV {
				t.Errorf("vendor %q stored as %q, want %q", dev.Vendor, r.Vendor, wantV)
			}
		}
		listed, err := s.Devices(t.Context(), "home")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range listed {
			if r.Hostname != got["home/"+r.ID].Hostname {
				t.Errorf("Devices: hostname of %s = %q, stored %q", r.ID, r.Hostname, got["home/"+r.ID].Hostname)
			}
		}
	})
}

// Thousands of devices in one window go in several statements, and in one
// transaction.
func TestDevicesChunks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		var devs []devices.Device
		for i := range 2500 {
			mac := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			id := mac.String()
			devs = append(devs, devices.Device{ID: id, Addrs: []devices.Addr{addrAt(mac, t0)}, Hostname: "h" + id,
				NameSource: devices.NameMDNS, FirstSeen: t0, LastSeen: t0})
		}
		w := devicesOnly(t0, 1, devs...)
		if _, err := d.store("home").Apply(t.Context(), &w); err != nil {
			t.Fatal(err)
		}
		if n, m := len(d.devices()), len(d.addrs()); n != 2500 || m != 2500 {
			t.Errorf("%d devices, %d addresses; want 2,500 each", n, m)
		}
		if got := d.devices()["home/10.1.9.195"]; got.IPs != "10.1.9.195" || got.Hostname != "h10.1.9.195" {
			t.Errorf("device 2,499 = %+v", got)
		}
	})
}

// Prune forgets devices and addresses not seen since the cutoff, and a
// device that keeps living lists only the addresses that do.
func TestPruneDevices(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("home")
		day := 24 * time.Hour
		old, recent := t0.Add(-100*day), t0
		oldAddr, newAddr := netip.MustParseAddr("2001:db8::aa"), netip.MustParseAddr("2001:db8::bb")
		for i, w := range []aggregate.Window{
			devicesOnly(old, 1,
				devices.Device{ID: macTV, MAC: macTV, Addrs: []devices.Addr{addrAt(c2, old)}, FirstSeen: old, LastSeen: old},
				devices.Device{ID: macPhone, MAC: macPhone, Addrs: []devices.Addr{addrAt(oldAddr, old), addrAt(c1, old)}, FirstSeen: old, LastSeen: old}),
			devicesOnly(recent, 2,
				devices.Device{ID: macPhone, MAC: macPhone, Addrs: []devices.Addr{addrAt(newAddr, recent), addrAt(c1, recent)}, FirstSeen: recent, LastSeen: recent}),
		} {
			if _, err := s.Apply(t.Context(), &w); err != nil {
				t.Fatalf("window %d: %v", i, err)
			}
		}
		if got := d.devices()["home/"+macPhone].IPs; got != "192.168.1.10, 2001:db8::bb, 2001:db8::aa" {
			t.Fatalf("phone ips before prune = %q", got)
		}
		// Batches of one, so that the ips rebuild runs batch by batch.
		res, err := s.Prune(t.Context(), t0.Add(-90*day), 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Devices != 1 || res.Addresses != 2 {
			t.Errorf("prune = %+v, want 1 device (the TV) and 2 addresses", res)
		}
		devs := d.devices()
		if _, ok := devs["home/"+macTV]; ok || len(devs) != 1 {
			t.Errorf("devices after prune: %+v", devs)
		}
		if got := devs["home/"+macPhone].IPs; got != "192.168.1.10, 2001:db8::bb" {
			t.Errorf("phone ips after prune = %q", got)
		}
		if addrs := d.addrs(); len(addrs) != 2 {
			t.Errorf("addresses after prune: %+v", addrs)
		}
	})
}

// A database migrated before the devices table says what to do.
func TestDevicesNoSchema(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		dsn := storetest.NewDSN(t, b)
		s := open(t, dsn, "home")
		_, err := s.Devices(t.Context(), "")
		if err == nil || !strings.Contains(err.Error(), "table devices is missing") || !strings.Contains(err.Error(), "netmon migrate") {
			t.Errorf("Devices on an empty database = %v", err)
		}
		_, err = s.Top(t.Context(), store.TopQuery{By: store.ByDevice})
		if err == nil || !strings.Contains(err.Error(), "is missing") {
			t.Errorf("Top by device on an empty database = %v", err)
		}
	})
}

// BenchmarkWriteDevices writes windows that carry only devices: 50 devices
// of a busy home network, each with an IPv4 and two IPv6 addresses, seen
// again every window (the worst case: every device changes).
func BenchmarkWriteDevices(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Config{DSN: storetest.NewDSN(b, backend), Agent: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			if _, _, err := s.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			devs := make([]devices.Device, 50)
			start := t0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := range devs {
					mac := fmt.Sprintf("3c:22:fb:00:00:%02x", j)
					devs[j] = devices.Device{ID: mac, MAC: mac, Hostname: fmt.Sprintf("host-%d", j), NameSource: devices.NameDHCP,
						Vendor: "Apple, Inc.", FirstSeen: t0, LastSeen: start, Addrs: []devices.Addr{
							addrAt(netip.AddrFrom4([4]byte{192, 168, 1, byte(j)}), start),
							addrAt(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(j), 15: 1}), start),
							addrAt(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i), 14: byte(j), 15: 2}), start),
						}}
				}
				w := aggregate.Window{Start: start, Devices: devs}
				_, _ = rand.Read(w.ID[:])
				if applied, err := s.Apply(b.Context(), &w); err != nil || !applied {
					b.Fatalf("applied %v, err %v", applied, err)
				}
				start = start.Add(10 * time.Second)
			}
		})
	}
}
