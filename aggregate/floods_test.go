package aggregate

import (
	"net/netip"
	"testing"

	"github.com/netmon/netmon/capture"
)

// remote returns the i-th address of a flood of remote addresses.
func remote(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)})
}

// local returns the i-th address of a flood of local source addresses.
func local(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// rowsBy sums a window's rows per (client, domain), the client as the
// store writes it.
func rowsBy(w *Window) map[[2]string]uint64 {
	m := map[[2]string]uint64{}
	for _, r := range w.Rows {
		c := OverflowClient
		if r.Client.IsValid() {
			c = r.Client.String()
		}
		m[[2]string{c, r.Domain}] += r.Count
	}
	return m
}

// A flood of remote addresses to one client fills that client's keys and
// then its own overflow row; another client's packets, before and after,
// keep their rows.
func TestWindowsClientKeyCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxClientKeys = 100
	w := New(cfg, Deps{Names: newFakeNames()})
	b := capture.NewBatch()
	b.Packets = append(b.Packets, out(client2, github, 1, 10))
	for i := range 1000 {
		b.Packets = append(b.Packets, in(client, remote(i), 2, 10))
	}
	b.Packets = append(b.Packets, out(client2, dropbox, 3, 10), out(client2, github, 3, 10))
	got := collect(t, w, b)
	if len(got) != 1 {
		t.Fatalf("%d windows, want 1", len(got))
	}
	m := rowsBy(got[0])
	if n := m[[2]string{client.String(), OverflowDomain}]; n != 900 {
		t.Errorf("%s's overflow row: %d packets, want 900", client, n)
	}
	if m[[2]string{client2.String(), github.String()}] != 2 || m[[2]string{client2.String(), dropbox.String()}] != 1 {
		t.Errorf("the other client's rows: %v", m)
	}
	for k := range m {
		if k[1] == OverflowDomain && k[0] != client.String() {
			t.Errorf("an overflow row of %s", k[0])
		}
	}
	if s := w.Stats(); s.ClientKeysCapped.Load() != 900 || s.Overflow.Load() != 900 || s.NewClientsCapped.Load() != 0 {
		t.Errorf("counters: client keys %d, overflow %d, new clients %d; want 900, 900, 0",
			s.ClientKeysCapped.Load(), s.Overflow.Load(), s.NewClientsCapped.Load())
	}
	if len(got[0].Rows) > 100+3 {
		t.Errorf("%d rows", len(got[0].Rows))
	}
}

// A flood of local source addresses: beyond MaxNewClients new clients
// count under the overflow client; a client known from an earlier window
// keeps its rows even when it comes after the flood.
func TestWindowsNewClientCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxNewClients = 50
	w := New(cfg, Deps{Names: newFakeNames()})
	first := batch(out(client, github, 1, 10), out(client, github, 2, 10), out(client, dropbox, 3, 10))
	flood := capture.NewBatch()
	for i := range 1000 {
		flood.Packets = append(flood.Packets, out(local(i), github, 13, 10))
	}
	flood.Packets = append(flood.Packets, out(client, github, 14, 10), out(client2, github, 14, 10))
	// The first window closes (lateness 2 s) before the flood comes.
	got := collect(t, w, first, batch(out(client2, dropbox, 12.5, 10)), flood)
	if len(got) != 2 {
		t.Fatalf("%d windows, want 2", len(got))
	}
	m := rowsBy(got[1])
	if m[[2]string{client.String(), github.String()}] != 1 {
		t.Errorf("the known client lost its row: %v", m[[2]string{client.String(), github.String()}])
	}
	if n := m[[2]string{OverflowClient, OverflowDomain}]; n != 951 {
		t.Errorf("overflow client: %d packets, want 951: the flood's addresses after the first 49 new clients", n)
	}
	var total uint64
	for _, n := range m {
		total += n
	}
	if total != 1003 {
		t.Errorf("%d packets in the window, want all 1003", total)
	}
	if len(got[1].Rows) != 49+2+1+1 {
		t.Errorf("%d rows, want 53: 49 flood addresses, the new client's 2 (it came first), the known one's, the overflow client's", len(got[1].Rows))
	}
	if s := w.Stats(); s.NewClientsCapped.Load() != 951 {
		t.Errorf("NewClientsCapped %d, want 951", s.NewClientsCapped.Load())
	}
}

// Near the window's cap, the clients holding many keys go to their
// overflow rows while a client with few still gets new keys; at the cap
// every client does.
func TestWindowsKeyReserve(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxKeys, cfg.KeyReserve, cfg.MaxClientKeys = 1000, 200, 4096
	w := New(cfg, Deps{Names: newFakeNames()})
	b := capture.NewBatch()
	for i := range 2000 {
		b.Packets = append(b.Packets, in(client, remote(i), 1, 10))
	}
	for i := range 10 {
		b.Packets = append(b.Packets, out(client2, remote(10000+i), 2, 10))
	}
	got := collect(t, w, b)
	m := rowsBy(got[0])
	if n := m[[2]string{client.String(), OverflowDomain}]; n != 1200 {
		t.Errorf("%s's overflow row: %d packets, want 1200 (it got the 800 keys before the reserve)", client, n)
	}
	if n := m[[2]string{client2.String(), OverflowDomain}]; n != 0 {
		t.Errorf("%s, a small client, has %d packets in an overflow row", client2, n)
	}
	if s := w.Stats(); s.WindowKeysCapped.Load() != 1200 {
		t.Errorf("WindowKeysCapped %d, want 1200", s.WindowKeysCapped.Load())
	}
}

// One client's flood of flows that name themselves cannot take the room of
// another client's flows: a flow's key counts as one of its client's keys
// (MaxClientKeys), and when the flow names itself the key becomes the named
// one, so the window holds no key per flow once the flows are named.
func TestWindowsFlowNamesPerClient(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxClientKeys = 50
	w := New(cfg, Deps{Names: newFakeNames()})
	named := func(p capture.Packet, flow uint32, name *capture.FlowName) capture.Packet {
		p.Flow, p.Name = flow, name
		return p
	}
	b := capture.NewBatch()
	for i := range 200 {
		n := &capture.FlowName{Domain: "flood.example", Source: 3}
		b.Packets = append(b.Packets, named(out(client, remote(i), 1, 10), uint32(i+1), nil), named(out(client, remote(i), 1, 10), uint32(i+1), n))
	}
	real := &capture.FlowName{Domain: "real.example", Source: 3}
	b.Packets = append(b.Packets, named(out(client2, github, 2, 10), 1000, nil), named(out(client2, github, 2, 10), 1000, real))
	w.Add(b)
	if n := len(w.open[0].keys); n != 52 {
		t.Errorf("%d keys in the window, want 52 (50 named flows of the flooding client, its overflow row, 1 of the other client)", n)
	}
	got := collect(t, w)
	m := rowsBy(got[0])
	if n := m[[2]string{client2.String(), "real.example"}]; n != 2 {
		t.Errorf("the other client's flow: %d packets under its name, want both (%v)", n, m)
	}
	if n, o := m[[2]string{client.String(), "flood.example"}], m[[2]string{client.String(), OverflowDomain}]; n != 100 || o != 300 {
		t.Errorf("flooding client: %d packets under the name, %d in its overflow row; want 100 and 300 (%v)", n, o, m)
	}
	if c := w.Stats().ClientKeysCapped.Load(); c != 300 {
		t.Errorf("ClientKeysCapped %d, want 300", c)
	}
}
