package ptr

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netmon/netmon/resolver/addrtable"
)

// TestPTRRequestDevice checks that the names of lookups asked for a local
// device go to Config.DeviceName and never into the table, that the
// host-name check and the negative cache apply to them as to others, and
// that without a DeviceName nothing is looked up.
func TestPTRRequestDevice(t *testing.T) {
	f := &fakeLookup{answers: map[string][]string{
		"192.168.1.23": {"Lucas-iPhone.fritz.box."},
		"192.168.1.24": {"bad name\x00'\"."},
		"192.168.1.25": {},
	}}
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
	p := New(unlimited(), Deps{Table: tab, Lookup: f.Lookup, Now: func() time.Time { return t0 },
		DeviceName: func(a netip.Addr, name string) {
			mu.Lock()
			got[a] = name
			mu.Unlock()
		}})
	for _, a := range []string{"192.168.1.23", "192.168.1.24", "::ffff:192.168.1.25"} {
		p.RequestDevice(netip.MustParseAddr(a))
	}
	runPTR(t, p)(3)

	if len(got) != 1 || got[netip.MustParseAddr("192.168.1.23")] != "lucas-iphone.fritz.box" {
		t.Errorf("device names %q, want only 192.168.1.23 = lucas-iphone.fritz.box", got)
	}
	if n := tab.Len(); n != 0 {
		t.Errorf("the table holds %d addresses; device names must not go there", n)
	}
	st := p.Stats()
	if st.OK != 1 || st.Invalid != 1 || st.NotFound != 1 {
		t.Errorf("stats %+v, want 1 ok, 1 invalid, 1 not found", st)
	}
	// The failed ones are in the negative cache: asked again, nothing is queued.
	p.RequestDevice(netip.MustParseAddr("192.168.1.24"))
	if st := p.Stats(); st.Deduped != 1 {
		t.Errorf("a failed device address asked again: %d deduped, want 1", st.Deduped)
	}

	off := New(unlimited(), Deps{Table: tab, Lookup: f.Lookup})
	off.RequestDevice(netip.MustParseAddr("192.168.1.23"))
	if st := off.Stats(); st.Queued != 0 || st.Known != 1 {
		t.Errorf("without DeviceName: %+v, want nothing queued", st)
	}
}
