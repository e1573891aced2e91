package store_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/source"
	"github.com/netmon/netmon/store/storetest"
)

// randomWindows makes n windows of everything a window carries, drawn from
// few keys so that they collide: rows of the same key and start, names of
// the same address, corrections of rows written before, devices that
// share and move addresses, late windows, and IDs given twice.
func randomWindows(r *rand.Rand, n int) []*aggregate.Window {
	clients := []netip.Addr{c1, c2, c3}
	macs := []string{macPhone, macTV, ""}
	domains := []struct {
		d   string
		src source.Source
	}{{"a.example", source.DNS}, {"b.example", source.SNI}, {r1.String(), source.IP}, {"guess.example", source.PTR}}
	var out []*aggregate.Window
	for i := range n {
		w := &aggregate.Window{Start: t0.Add(time.Duration(r.IntN(4)) * 10 * time.Second)}
		w.ID = [16]byte{0: 0xBA, 14: byte(i >> 8), 15: byte(i)}
		if i > 0 && r.IntN(8) == 0 {
			w.ID = out[r.IntN(len(out))].ID // the same window again
		}
		for range r.IntN(4) {
			d := domains[r.IntN(len(domains))]
			w.Rows = append(w.Rows, row(clients[r.IntN(3)], d.d, "N"+d.d, d.src, uint64(1+r.IntN(9)), uint64(100+r.IntN(900))))
		}
		if r.IntN(3) == 0 {
			d := domains[r.IntN(2)]
			w.Names = append(w.Names, source.Record{Addr: r1, Domain: d.d, Source: d.src})
		}
		if r.IntN(8) == 0 {
			w.Corrections = append(w.Corrections, aggregate.Correction{Addr: r1, Old: r1.String(), New: "a.example", NewNickname: "A", NewSource: source.DNS})
		}
		for range r.IntN(3) {
			at := w.Start.Add(time.Duration(r.IntN(10)) * time.Second)
			mac := macs[r.IntN(3)]
			dev := devices.Device{ID: mac, MAC: mac, FirstSeen: at.Add(-time.Duration(r.IntN(30)) * time.Second), LastSeen: at}
			if r.IntN(2) == 0 {
				dev.Hostname, dev.NameSource = fmt.Sprintf("host%d.lan", r.IntN(2)), devices.NameSource(1+r.IntN(3))
			}
			a := clients[r.IntN(3)]
			if mac == "" {
				dev.ID = a.String() // known by its address alone
			}
			dev.Addrs = append(dev.Addrs, addrAt(a, at))
			if r.IntN(3) == 0 && mac != "" {
				dev.Addrs = append(dev.Addrs, addrAt(clients[r.IntN(3)], at.Add(-time.Second)))
			}
			w.Devices = append(w.Devices, dev)
		}
		out = append(out, w)
	}
	return out
}

// appliedIDs lists applied_windows.
func (d *db) appliedIDs() []string {
	d.t.Helper()
	var got []string
	if err := d.raw.SelectContext(d.t.Context(), &got, `SELECT HEX(window_id) FROM applied_windows ORDER BY 1`); err != nil {
		d.t.Fatalf("read applied_windows: %v", err)
	}
	return got
}

// Windows written in batches (ApplyBatch, the writer's group commit) leave
// every table exactly as the same windows written one by one (Apply) do,
// and each is reported applied or skipped alike: rows of the same key in
// one upsert, corrections between rows, devices merged or not.
func TestApplyBatchSameAsOneByOne(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		seeds := 12
		if b != storetest.SQLite {
			seeds = 4 // a server round trip per statement
		}
		for seed := range seeds {
			r := rand.New(rand.NewPCG(uint64(seed), 15))
			wins := randomWindows(r, 60)
			one, batched := newDB(t, b), newDB(t, b)
			var wantApplied, gotApplied []bool
			for _, w := range wins {
				ok, err := one.store("a").Apply(t.Context(), w)
				if err != nil {
					t.Fatalf("seed %d: Apply: %v", seed, err)
				}
				wantApplied = append(wantApplied, ok)
			}
			for rest := wins; len(rest) > 0; {
				n := min(len(rest), 1+r.IntN(12))
				ok, err := batched.store("a").ApplyBatch(t.Context(), rest[:n])
				if err != nil {
					t.Fatalf("seed %d: ApplyBatch: %v", seed, err)
				}
				gotApplied = append(gotApplied, ok...)
				rest = rest[n:]
			}
			for _, c := range []struct {
				what      string
				want, got any
			}{
				{"applied", wantApplied, gotApplied},
				{"tcpdump_records", one.records(), batched.records()},
				{"dns_records", one.names(), batched.names()},
				{"devices", one.devices(), batched.devices()},
				{"device_addresses", one.addrs(), batched.addrs()},
				{"applied_windows", one.appliedIDs(), batched.appliedIDs()},
			} {
				if diff := cmp.Diff(c.want, c.got); diff != "" {
					t.Errorf("seed %d: %s in batches differs from one by one (-one +batched):\n%s", seed, c.what, diff)
				}
			}
		}
	})
}
