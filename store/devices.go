package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/netmon/netmon/devices"
)

const (
	// Widths of the devices columns, from migrations/mysql/00003_devices.sql.
	maxHostnameBytes = 1024 // VARBINARY(1024): a DHCP option holds 255, several concatenated more
	maxVendorRunes   = 255  // VARCHAR(255)
	maxDeviceIDRunes = 64   // VARCHAR(64): a MAC, or an address of at most 45
	macLen           = 17   // CHAR(17)

	// deviceAddrsShown is how many addresses devices.ips lists, most recent
	// first: enough for a dual-stack device and its week of IPv6 privacy
	// addresses, few enough for a table cell.
	deviceAddrsShown = 16
)

// The INSERT heads and tuples of the devices tables, the same on both
// backends; the upsert tails are in dialect.
const (
	devicesInsert = `INSERT INTO devices (agent, device_id, mac, ips, hostname, name_source, vendor, randomised, first_seen, last_seen) VALUES `
	devicesTuple  = `(?,?,?,'',?,?,?,?,?,?)`

	addrsInsert = `INSERT INTO device_addresses (agent, addr, device_id, first_seen, last_seen) VALUES `
	addrsTuple  = `(?,?,?,?,?)`

	// addrOwners reads who holds the addresses about to be written, so that
	// a device losing one has its ips refreshed too; an IN list follows.
	addrOwners = `SELECT addr, device_id FROM device_addresses WHERE agent = ? AND addr IN `

	// deviceAddrsTop reads the most recent addresses of some of an agent's
	// devices, deviceAddrsShown each, ranked by the window function so that
	// no more is read out; an IN list and deviceAddrsTopTail follow.
	deviceAddrsTop = `SELECT device_id, addr FROM (SELECT device_id, addr,` +
		` ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY last_seen DESC, addr) AS n` +
		` FROM device_addresses WHERE agent = ? AND device_id IN `
	deviceAddrsTopTail = `) AS ranked WHERE n <= ? ORDER BY device_id, n`

	// deviceOrphans deletes devices known only by an address once that
	// address belongs to another device: the same machine, now seen with its
	// MAC, which is the identity to keep. An IN list follows.
	deviceOrphans = `DELETE FROM devices WHERE agent = ? AND mac IS NULL AND NOT EXISTS` +
		` (SELECT 1 FROM device_addresses AS a WHERE a.agent = devices.agent AND a.device_id = devices.device_id)` +
		` AND device_id IN `
)

// nameRank is a CASE expression giving a name_source column's rank in the
// trust order of devices.NameSource, 0 for none. It is built from the
// package's constants only, so it holds no input.
func nameRank(col string) string {
	var b strings.Builder
	b.WriteString(`(CASE ` + col)
	for s := devices.NamePTR; s.String() != ""; s++ {
		fmt.Fprintf(&b, ` WHEN '%s' THEN %d`, s, s)
	}
	b.WriteString(` ELSE 0 END)`)
	return b.String()
}

// inList is "(?,?,…)" with n placeholders.
func inList(n int) string {
	return `(?` + strings.Repeat(`,?`, n-1) + `)`
}

// writeDevices merges a window's devices into devices and device_addresses,
// inside the window's transaction, with the rule of devices.Device: first
// seen only moves back, last seen only forward, a host name is replaced only
// by one from a source at least as trusted, an address belongs to the device
// that used it last. Every statement is safe to repeat. ips of each device
// touched, and of each that lost an address, is then rebuilt from
// device_addresses, so the two tables agree when the transaction commits.
func (s *Store) writeDevices(ctx context.Context, tx *sqlx.Tx, start time.Time, devs []devices.Device) error {
	_, err := s.writeDeviceSets(ctx, tx, []deviceSet{{start, devs}})
	return err
}

// deviceSet is one window's devices and its start.
type deviceSet struct {
	start time.Time
	devs  []devices.Device
}

// writeBatchDevices writes the devices of a batch's windows, in order. It
// writes them all in one round of statements when that gives what
// writeDevices window after window would, and window after window when
// not.
func (s *Store) writeBatchDevices(ctx context.Context, tx *sqlx.Tx, starts []time.Time, devs [][]devices.Device) error {
	sets := make([]deviceSet, len(devs))
	for i := range devs {
		sets[i] = deviceSet{starts[i], devs[i]}
	}
	if len(sets) == 0 {
		return nil
	}
	merged, err := s.writeDeviceSets(ctx, tx, sets)
	if err != nil || merged {
		return err
	}
	for _, set := range sets {
		if err := s.writeDevices(ctx, tx, set.start, set.devs); err != nil {
			return err
		}
	}
	return nil
}

// writeDeviceSets writes the devices of several windows in one round of
// statements, and reports true, when that is the same as writing them
// window after window: the upserts apply their tuples in order, so only
// an address changing hands is order-dependent — the device losing it is
// checked for orphanhood after each window. So several sets are written
// together only when every address in them goes to one device, and no
// device of the sets is one that loses an address; otherwise
// writeDeviceSets writes nothing and reports false. One set is always
// written.
func (s *Store) writeDeviceSets(ctx context.Context, tx *sqlx.Tx, sets []deviceSet) (bool, error) {
	type addrRow struct {
		addr, device string
		first, last  time.Time
	}
	var addrs []addrRow
	touched := map[string]bool{}
	next := map[string]string{} // address → the device that gets it last
	mixed := false              // an address goes to two devices
	for _, set := range sets {
		for _, d := range set.devs {
			id := deviceID(d)
			if id == "" {
				continue // nothing to key it by; the tracker never sends one
			}
			touched[id] = true
			last := seenTime(d.LastSeen, set.start)
			for _, a := range d.Addrs {
				if !a.Addr.IsValid() {
					continue
				}
				seen := seenTime(a.LastSeen, last)
				addr := a.Addr.String()
				if prev, ok := next[addr]; ok && prev != id {
					mixed = true
				}
				next[addr] = id
				addrs = append(addrs, addrRow{addr, id, seen, seen})
			}
		}
	}
	if len(sets) > 1 && mixed {
		return false, nil
	}

	// Who held these addresses before: a device that loses one needs its
	// ips rebuilt, and may be left an orphan. Read first: the devices
	// upserts below do not touch device_addresses.
	losers := map[string]bool{}
	// Each address once: a batch names the same ones window after window.
	asked := make([]string, 0, len(next))
	for _, a := range addrs {
		if _, ok := next[a.addr]; ok {
			asked = append(asked, a.addr)
			delete(next, a.addr)
		}
	}
	for _, a := range addrs {
		next[a.addr] = a.device
	}
	for chunk := range chunks(asked) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, s.agent)
		for _, a := range chunk {
			args = append(args, a)
		}
		var owners []struct {
			Addr     string `db:"addr"`
			DeviceID string `db:"device_id"`
		}
		if err := tx.SelectContext(ctx, &owners, addrOwners+inList(len(chunk)), args...); err != nil {
			return false, fmt.Errorf("read owners of %d addresses: %w", len(chunk), err)
		}
		for _, o := range owners {
			if next[o.Addr] != o.DeviceID {
				losers[o.DeviceID] = true
			}
		}
	}
	if len(sets) > 1 {
		for id := range losers {
			if touched[id] {
				return false, nil
			}
		}
	}

	args := make([]any, 0, rowsPerStatement*9)
	var n int
	flush := func() error {
		if n == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, multiRow(devicesInsert, devicesTuple, n, s.sql.devicesUpsert), args...)
		if err != nil {
			return fmt.Errorf("upsert %d devices: %w", n, err)
		}
		args, n = args[:0], 0
		return nil
	}
	for _, set := range sets {
		for _, d := range set.devs {
			id := deviceID(d)
			if id == "" {
				continue
			}
			last := seenTime(d.LastSeen, set.start)
			first := seenTime(d.FirstSeen, last)
			var mac any // NULL when the frames carried none
			if d.MAC != "" {
				mac = textValue(d.MAC, macLen)
			}
			args = append(args, s.agent, id, mac, hostnameValue(d.Hostname), d.NameSource.String(),
				textValue(d.Vendor, maxVendorRunes), d.Randomised, first, last)
			if n++; n == rowsPerStatement {
				if err := flush(); err != nil {
					return true, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return true, err
	}
	for chunk := range chunks(addrs) {
		args := make([]any, 0, len(chunk)*5)
		for _, a := range chunk {
			args = append(args, s.agent, a.addr, a.device, a.first, a.last)
		}
		if _, err := tx.ExecContext(ctx, multiRow(addrsInsert, addrsTuple, len(chunk), s.sql.addrsUpsert), args...); err != nil {
			return true, fmt.Errorf("upsert %d device addresses: %w", len(chunk), err)
		}
	}

	if err := eachDeviceChunk(ctx, tx, s.agent, sortedKeys(losers), deviceOrphans); err != nil {
		return true, fmt.Errorf("delete devices known by a moved address: %w", err)
	}
	for id := range losers {
		touched[id] = true
	}
	if err := refreshIPs(ctx, tx, s.agent, sortedKeys(touched)); err != nil {
		return true, fmt.Errorf("list device addresses: %w", err)
	}
	return true, nil
}

// refreshIPs rebuilds devices.ips of agent's devices ids from
// device_addresses: one read of their most recent addresses, one UPDATE
// per chunk. (A correlated GROUP_CONCAT in the UPDATE itself costs
// MariaDB milliseconds per device.)
func refreshIPs(ctx context.Context, tx *sqlx.Tx, agent string, ids []string) error {
	for chunk := range chunks(ids) {
		args := make([]any, 0, 2*len(chunk)+2)
		args = append(args, agent)
		for _, id := range chunk {
			args = append(args, id)
		}
		args = append(args, deviceAddrsShown)
		var addrs []struct {
			DeviceID string `db:"device_id"`
			Addr     string `db:"addr"`
		}
		if err := tx.SelectContext(ctx, &addrs, deviceAddrsTop+inList(len(chunk))+deviceAddrsTopTail, args...); err != nil {
			return err
		}
		ips := make(map[string][]string, len(chunk))
		for _, a := range addrs {
			ips[a.DeviceID] = append(ips[a.DeviceID], a.Addr)
		}
		var q strings.Builder
		q.WriteString(`UPDATE devices SET ips = CASE device_id`)
		args = args[:0]
		for _, id := range chunk {
			q.WriteString(` WHEN ? THEN ?`)
			args = append(args, id, strings.Join(ips[id], ", "))
		}
		q.WriteString(` ELSE ips END WHERE agent = ? AND device_id IN ` + inList(len(chunk)))
		args = append(args, agent)
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// eachDeviceChunk runs stmt, which ends in "device_id IN ", for agent and
// the IDs, in chunks. Sorted IDs keep the lock order of two writers the
// same.
func eachDeviceChunk(ctx context.Context, tx *sqlx.Tx, agent string, ids []string, stmt string) error {
	for chunk := range chunks(ids) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, agent)
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx, stmt+inList(len(chunk)), args...); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// deviceID is d's key in the devices table: its ID, else its MAC, else its
// only address.
func deviceID(d devices.Device) string {
	id := d.ID
	if id == "" {
		id = d.MAC
	}
	if id == "" && len(d.Addrs) == 1 && d.Addrs[0].Addr.IsValid() {
		id = d.Addrs[0].Addr.String()
	}
	return textValue(id, maxDeviceIDRunes)
}

// seenTime is t as a DATETIME column holds it, or fallback when t is unset.
func seenTime(t, fallback time.Time) time.Time {
	if t.IsZero() {
		return fallback
	}
	return t.UTC().Truncate(time.Second)
}

// hostnameValue is a host name as the VARBINARY column stores it: the bytes
// as announced, cut to the column's width.
func hostnameValue(h string) []byte {
	if len(h) > maxHostnameBytes {
		h = h[:maxHostnameBytes]
	}
	return []byte(h)
}

// textValue is s as a utf8mb4 column of width runes accepts it.
func textValue(s string, width int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	count := 0
	for i := range s {
		if count == width {
			return s[:i]
		}
		count++
	}
	return s
}

// DeviceRecord is one row of the devices table with its addresses.
type DeviceRecord struct {
	// Agent is the sensor that saw the device.
	Agent string
	// Device holds the merged record. Its Addrs are every address
	// device_addresses gives the device, most recent first, each with when
	// it was last seen; Hostname is the stored bytes, maybe invalid UTF-8.
	devices.Device
}

// Label is how netmon names the device to people; see DeviceLabel.
func (d DeviceRecord) Label() string {
	addr := ""
	if len(d.Addrs) > 0 {
		addrs := make([]string, len(d.Addrs))
		for i, a := range d.Addrs {
			addrs[i] = a.Addr.String()
		}
		addr = slices.Min(addrs)
	} else {
		addr = d.ID
	}
	return DeviceLabel(d.Hostname, d.Vendor, d.Randomised, addr)
}

// DeviceLabel is how netmon names a device to people, in netmon top and,
// through the device_records view, in Grafana: "hostname (vendor)",
// "hostname", "address (vendor)" or "address". addr stands in for a device
// without a host name: the smallest of its addresses (in byte order, which
// puts IPv4 before most IPv6). A randomised MAC names no vendor, and shows
// "private MAC" in its place. The label is raw: a terminal must escape it.
func DeviceLabel(hostname, vendor string, randomised bool, addr string) string {
	name := hostname
	if name == "" {
		name = addr
	}
	switch {
	case vendor != "":
		return name + " (" + vendor + ")"
	case randomised:
		return name + " (private MAC)"
	}
	return name
}

// Devices lists the devices agent has seen ("" for every agent's), the most
// recently seen first. A missing table is reported as an error wrapping
// ErrNoSchema.
func (s *Store) Devices(ctx context.Context, agent string) ([]DeviceRecord, error) {
	where, args := "", []any(nil)
	if agent != "" {
		where, args = ` WHERE agent = ?`, []any{agent}
	}
	var rows []struct {
		Agent      string    `db:"agent"`
		DeviceID   string    `db:"device_id"`
		MAC        *string   `db:"mac"`
		Hostname   []byte    `db:"hostname"`
		NameSource string    `db:"name_source"`
		Vendor     string    `db:"vendor"`
		Randomised bool      `db:"randomised"`
		FirstSeen  time.Time `db:"first_seen"`
		LastSeen   time.Time `db:"last_seen"`
	}
	err := s.db.SelectContext(ctx, &rows, `SELECT agent, device_id, mac, hostname, name_source, vendor, randomised,`+
		` first_seen, last_seen FROM devices`+where+` ORDER BY last_seen DESC, agent, device_id`, args...)
	if err != nil {
		return nil, tableErr("devices", err)
	}
	var addrs []struct {
		Agent    string    `db:"agent"`
		DeviceID string    `db:"device_id"`
		Addr     string    `db:"addr"`
		LastSeen time.Time `db:"last_seen"`
	}
	err = s.db.SelectContext(ctx, &addrs, `SELECT agent, device_id, addr, last_seen FROM device_addresses`+where+
		` ORDER BY last_seen DESC, addr`, args...)
	if err != nil {
		return nil, tableErr("device_addresses", err)
	}
	type key struct{ agent, id string }
	byDevice := map[key][]devices.Addr{}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a.Addr)
		if err != nil {
			return nil, fmt.Errorf("read device_addresses: address %q of %s: %w", a.Addr, a.DeviceID, err)
		}
		k := key{a.Agent, a.DeviceID}
		byDevice[k] = append(byDevice[k], devices.Addr{Addr: ip, LastSeen: a.LastSeen})
	}
	out := make([]DeviceRecord, 0, len(rows))
	for _, r := range rows {
		d := DeviceRecord{Agent: r.Agent, Device: devices.Device{
			ID: r.DeviceID, Addrs: byDevice[key{r.Agent, r.DeviceID}], Hostname: string(r.Hostname),
			NameSource: devices.ParseNameSource(r.NameSource), Vendor: r.Vendor, Randomised: r.Randomised,
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		}}
		if r.MAC != nil {
			d.MAC = *r.MAC
		}
		out = append(out, d)
	}
	return out, nil
}

// DeviceAgents lists the agents that have devices, sorted, for saying why
// a selection came back empty.
func (s *Store) DeviceAgents(ctx context.Context) ([]string, error) {
	var agents []string
	if err := s.db.SelectContext(ctx, &agents, `SELECT DISTINCT agent FROM devices ORDER BY agent`); err != nil {
		return nil, tableErr("devices", err)
	}
	return agents, nil
}
