package aggregate

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
)

// fakeDevices is a device tracker the test controls.
type fakeDevices struct {
	mu      sync.Mutex
	pending []devices.Device
	next    []devices.Device // pending once the next drain has taken the others
}

func (f *fakeDevices) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, devices.Device{ID: id, MAC: id})
}

func (f *fakeDevices) Drain(dst []devices.Device) []devices.Device {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst = append(dst, f.pending...)
	f.pending, f.next = f.next, nil
	return dst
}

// Device changes ride on the windows that close; what changed after the
// last one (announcements with no counted traffic) is sent at the end of
// input as a window of its own, with no rows.
func TestDevicesWithoutTraffic(t *testing.T) {
	devs := &fakeDevices{}
	devs.add("02:00:00:00:00:01")
	w := New(DefaultConfig(), Deps{Names: newFakeNames(), Devices: devs})
	mdns := pkt(25, client, netip.MustParseAddr("224.0.0.251"), capture.DirSkip, 100)
	got := collect(t, w, batch(out(client, github, 1, 100)), batch(mdns))
	if len(got) != 1 || len(got[0].Devices) != 1 || len(got[0].Rows) != 1 {
		t.Fatalf("want the traffic's window with the first device: %+v", got)
	}

	// Heard after the last counted packet: pending only once the traffic's
	// window has taken the first.
	devs.add("02:00:00:00:00:01")
	devs.next = []devices.Device{{ID: "02:00:00:00:00:02"}}
	w = New(DefaultConfig(), Deps{Names: newFakeNames(), Devices: devs})
	got = collect(t, w, batch(out(client, github, 1, 100)), batch(mdns))
	if len(got) != 2 || len(got[1].Rows) != 0 || len(got[1].Devices) != 1 || got[1].Devices[0].ID != "02:00:00:00:00:02" ||
		!got[1].Start.Equal(time.Unix(20, 0)) {
		t.Fatalf("want a device-only window at 20 s after the traffic's: %+v", got)
	}

	// Nothing changed: no empty window.
	w = New(DefaultConfig(), Deps{Names: newFakeNames(), Devices: devs})
	if got = collect(t, w, batch(mdns)); len(got) != 0 {
		t.Fatalf("want no window when no device changed: %+v", got)
	}
}

// Live, device changes are written once a window's width passes without a
// window closing, on a quiet network too.
func TestDevicesLiveWithoutTraffic(t *testing.T) {
	devs := &fakeDevices{}
	devs.add("02:00:00:00:00:03")
	cfg := DefaultConfig()
	cfg.Live, cfg.Width = true, time.Second
	w := New(cfg, Deps{Names: newFakeNames(), Devices: devs})
	in := make(chan *capture.Batch)
	outCh := make(chan *Window, 4)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), in, outCh) }()
	select {
	case win := <-outCh:
		if len(win.Rows) != 0 || len(win.Devices) != 1 || win.Devices[0].ID != "02:00:00:00:00:03" {
			t.Errorf("device-only window = %+v", win)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no device-only window within 10 s of a 1 s width")
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for win := range outCh {
		t.Errorf("unexpected window after the devices were written: %+v", win)
	}
}
