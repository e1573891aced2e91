package resolver

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/netmon/netmon/resolver/addrtable"
	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
	"github.com/netmon/netmon/resolver/lru"
)

// A flow that named itself and lives on keeps its name through a flood of
// new flows, even flows that name themselves (no server answers them):
// they stay on probation and
// evict each other; the protected flows go only when probation is empty.
func TestFlowNamedSurvivesFlood(t *testing.T) {
	const flows = 64
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.Flows = flows })
	real := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "real.example"}))
	l.Learn(batch(seg(0, dev, web, devPrt, 443, syn, 0, nil), seg(1, dev, web, devPrt, 443, ack, 1, real)))
	// Its server answers: protected.
	l.Learn(batch(seg(30, web, dev, 443, devPrt, ack, 9, nil)))
	if s := l.Stats(); s.FlowsProtected != 1 {
		t.Fatalf("FlowsProtected %d, want 1", s.FlowsProtected)
	}
	for i := range 10 * flows {
		dst := netip.AddrFrom4([4]byte{46, 0, byte(i >> 8), byte(i)})
		hello := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: fmt.Sprintf("f%d.flood.example", i)}))
		ms := 2000 + i
		l.Learn(batch(seg(ms, dev, dst, 40000, 443, syn, 0, nil), seg(ms, dev, dst, 40000, 443, ack, 1, hello)))
	}
	bt := batch(seg(60_000, web, dev, 443, devPrt, ack, 10, nil))
	l.Learn(bt)
	if n := bt.Packets[0].Name; n == nil || n.Domain != "real.example" {
		t.Errorf("the real flow's packet after the flood is named %v, want real.example", n)
	}
	if n := l.ft.index.Len(); n > flows {
		t.Errorf("%d flows held, over the cap %d", n, flows)
	}
	if s := l.Stats(); s.FlowsProtectedEvicted != 0 {
		t.Errorf("FlowsProtectedEvicted %d, want 0", s.FlowsProtectedEvicted)
	}

	// Flows that all keep sending fill the protected list; beyond its
	// share the least recently used goes back to probation, and the
	// table stays at its cap.
	for i := range 2 * flows {
		dst := netip.AddrFrom4([4]byte{47, 0, byte(i >> 8), byte(i)})
		hello := fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: fmt.Sprintf("g%d.example", i)}))
		l.Learn(batch(seg(70_000+i, dev, dst, 40001, 443, syn, 0, nil), seg(70_000+i, dev, dst, 40001, 443, ack, 1, hello)))
		l.Learn(batch(seg(72_000+i, dst, dev, 443, 40001, ack, 5, nil)))
	}
	if n, p := l.ft.index.Len(), l.ft.nProt; n > flows || p > flows*protectedShare/4 {
		t.Errorf("%d flows held, %d protected; caps %d and %d", n, p, flows, flows*protectedShare/4)
	}
	var counted int
	for _, list := range []lru.List{l.ft.lru, l.ft.prot} {
		for i := list.Head; i >= 0; i = l.ft.entries[i].Next {
			counted++
		}
	}
	if counted != l.ft.index.Len() {
		t.Errorf("the lists hold %d flows, the index %d", counted, l.ft.index.Len())
	}
}
