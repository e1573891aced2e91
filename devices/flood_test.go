package devices

import (
	"net/netip"
	"strings"
	"testing"
)

// A flood of spoofed local addresses from one MAC (taken for a router
// after its fourth address) makes at most MaxNewPerRouter devices per
// window, and all new devices at most MaxNewPerWindow: one window carries
// a bounded number of devices to the store, and the known devices stay.
func TestTrackerFloodCaps(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxNewPerWindow, cfg.MaxNewPerRouter = 20, 8
	tr := newTracker(t, cfg, Deps{})
	phone := tcpFrame(t, macPhone, addr("192.168.1.20"), server4, 40000, 443)
	if got := observe(t, tr, phone); len(got) != 1 {
		t.Fatalf("first window: %d devices, want the phone", len(got))
	}
	var frames [][]byte
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		frames = append(frames, tcpFrame(t, macRouter, a, server4, 40000, 443))
	}
	frames = append(frames, phone)
	got := observe(t, tr, frames...)
	// The router's MAC with its 4 addresses, 8 hosts behind it, the phone.
	if len(got) != 1+8+1 {
		t.Errorf("a window of the flood carries %d devices, want 10", len(got))
	}
	if _, ok := byID(got)[formatMAC(macPhone)]; !ok {
		t.Error("the phone is missing from the flood's window")
	}
	st := tr.Stats()
	if st.RouterCapped != 1000-4-8 {
		t.Errorf("RouterCapped %d, want %d", st.RouterCapped, 1000-4-8)
	}

	// Another window: 8 more behind the router. And many MACs, each a
	// device of its own, stop at MaxNewPerWindow.
	frames = frames[:0]
	for i := range 100 {
		mac := [6]byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		frames = append(frames, tcpFrame(t, mac, netip.AddrFrom4([4]byte{192, 168, 2, byte(i)}), server4, 40000, 443))
	}
	got = observe(t, tr, frames...)
	if len(got) != 20 {
		t.Errorf("a window of 100 new MACs carries %d devices, want 20", len(got))
	}
	if st := tr.Stats(); st.NewCapped != 80 {
		t.Errorf("NewCapped %d, want 80", st.NewCapped)
	}
}

// TestNewRefusesZeroCaps: a Config that did not start from DefaultConfig
// (caps of nothing) is refused when made, not found out at the first
// device.
func TestNewRefusesZeroCaps(t *testing.T) {
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "MaxDevices 0") {
			t.Errorf("New(Config{}): panic %q, want one naming the caps", msg)
		}
	}()
	New(Config{}, Deps{})
}
