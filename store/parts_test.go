package store_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
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

// bigWindow has n rows (one per client address), two names, a correction
// and three devices.
func bigWindow(n int) *aggregate.Window {
	w := &aggregate.Window{ID: [16]byte{0: 0xCD, 15: 1}, Start: t0}
	for i := range n {
		c := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		w.Rows = append(w.Rows, row(c, "x.example", "X", source.DNS, uint64(i+1), uint64(10*(i+1))))
	}
	w.Names = []source.Record{{TS: t0, Addr: r1, Domain: "x.example", Source: source.DNS},
		{TS: t0, Addr: r2, Domain: "y.example", Source: source.DNS}}
	w.Corrections = []aggregate.Correction{{Addr: r2, Old: r2.String(), New: "y.example", NewNickname: "Y", NewSource: source.DNS}}
	for i := range 3 {
		w.Devices = append(w.Devices, devices.Device{ID: fmt.Sprintf("10.0.0.%d", i), FirstSeen: t0, LastSeen: t0,
			Addrs: []devices.Addr{{Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), LastSeen: t0}}})
	}
	return w
}

// A window larger than PartItems is written in parts, each its own
// transaction with its own ID; a retry after a crash that left some parts
// written counts the window once.
func TestApplyInParts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		dsn := storetest.NewDSN(t, b)
		s, err := store.Open(t.Context(), store.Config{DSN: dsn, Agent: "a", PartItems: 10})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, _, err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		raw := storetest.Open(t, dsn)
		w := bigWindow(25) // 25 rows + 2 names + 1 correction + 3 devices: 4 parts of 10, 10, 10, 1

		// A crash after the first part: what Apply would have committed.
		first := &aggregate.Window{ID: store.PartID(w.ID, 0), Start: t0, Rows: w.Rows[:10]}
		if applied, err := s.Apply(t.Context(), first); err != nil || !applied {
			t.Fatalf("first part: %v, %v", applied, err)
		}
		if applied, err := s.Apply(t.Context(), w); err != nil || !applied {
			t.Fatalf("Apply: %v, %v", applied, err)
		}
		if applied, err := s.Apply(t.Context(), w); err != nil || applied {
			t.Fatalf("Apply again: %v, %v; want skipped", applied, err)
		}
		var sum, rows, parts, devs int
		if err := raw.GetContext(t.Context(), &sum, `SELECT SUM(count) FROM tcpdump_records`); err != nil {
			t.Fatal(err)
		}
		if err := raw.GetContext(t.Context(), &rows, `SELECT COUNT(*) FROM tcpdump_records`); err != nil {
			t.Fatal(err)
		}
		if err := raw.GetContext(t.Context(), &parts, `SELECT COUNT(*) FROM applied_windows`); err != nil {
			t.Fatal(err)
		}
		if err := raw.GetContext(t.Context(), &devs, `SELECT COUNT(*) FROM devices`); err != nil {
			t.Fatal(err)
		}
		if want := 25 * 26 / 2; sum != want || rows != 25 {
			t.Errorf("%d rows holding %d packets, want 25 and %d: each row exactly once", rows, sum, want)
		}
		if parts != 4 || devs != 3 {
			t.Errorf("%d part IDs recorded and %d devices, want 4 and 3", parts, devs)
		}
	})
}

// PartID depends on the window's ID and the part's number only.
func TestPartID(t *testing.T) {
	id := [16]byte{1, 2, 3}
	if store.PartID(id, 0) != store.PartID(id, 0) || store.PartID(id, 0) == store.PartID(id, 1) || store.PartID(id, 0) == id {
		t.Error("part IDs are not a fixed function of (window ID, part)")
	}
	if store.PartID([16]byte{}, 3) != ([16]byte{}) {
		t.Error("a window without ID has parts without ID")
	}
}

// A window that keeps failing while the windows after it can be written
// is set aside, counted and logged, after blockingAttempts tries: it never
// blocks the later windows. During an outage, nothing is set aside (see
// TestWriterOutageKeepsOrder).
func TestWriterSetsAsideBlockingWindow(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	db.setFail(func(w *aggregate.Window) error {
		if w.Start.Equal(t0.Add(10 * time.Second)) {
			return fmt.Errorf("write window: %w", context.DeadlineExceeded)
		}
		return nil
	})
	var log logBuf
	w, err := store.NewWriter(fastConfig(t.TempDir()), store.WriterDeps{DB: db, Log: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := run(t, w)
	for i := range 4 {
		r.in <- win(i)
	}
	r.finish()
	if d := cmp.Diff([]int{0, 2, 3}, db.starts()); d != "" {
		t.Errorf("written (-want +got):\n%s", d)
	}
	st := w.Stats()
	if st.SetAside.Load() != 1 || st.Rejected.Load() != 1 || st.Left.Load() != 0 {
		t.Errorf("set aside %d, rejected %d, left %d; want 1, 1, 0", st.SetAside.Load(), st.Rejected.Load(), st.Left.Load())
	}
	set, _ := filepath.Glob(filepath.Join(w.Dir(), "rejected", "*.win"))
	if len(set) != 1 {
		t.Errorf("%d windows in rejected/, want 1", len(set))
	}
	if !strings.Contains(log.String(), "blocks no later window") {
		t.Errorf("log does not say why the window was set aside:\n%s", log.String())
	}
}

// The row of the clients past a window's cap on new clients (the zero
// client address) is stored under the client "(overflow)", which top --by
// device lists as such, never as a device or as "invalid IP".
func TestOverflowClient(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		d := newDB(t, b)
		s := d.store("a")
		w := withID(aggregate.Window{Start: t0, Rows: []aggregate.Row{
			row(c1, "a.example", "A", source.DNS, 3, 300),
			{Domain: aggregate.OverflowDomain, Nickname: aggregate.OverflowDomain, Source: source.IP, Count: 7, Bytes: 700},
		}}, 1)
		if _, err := s.Apply(t.Context(), &w); err != nil {
			t.Fatal(err)
		}
		res, err := s.Top(t.Context(), store.TopQuery{By: store.ByDevice})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 2 || res.Rows[0].Name != aggregate.OverflowClient || res.Rows[0].Packets != 7 || res.Rows[0].Device.MAC != "" {
			t.Errorf("top by device: %+v", res.Rows)
		}
	})
}
