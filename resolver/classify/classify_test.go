package classify

import (
	"net/netip"
	"testing"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/localnet"
)

func TestClassify(t *testing.T) {
	home := netip.MustParseAddr("192.168.1.23")
	home2 := netip.MustParseAddr("192.168.1.24")
	ours := netip.MustParseAddr("203.0.113.5") // public, but declared local below
	web := netip.MustParseAddr("198.51.100.7")
	web2 := netip.MustParseAddr("198.51.100.8")
	pkt := func(src, dst netip.Addr, sport, dport uint16) capture.Packet {
		return capture.Packet{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: capture.ProtoTCP}
	}
	tests := []struct {
		name string
		p    capture.Packet
		want capture.Dir
	}{
		{"to a server", pkt(home, web, 50000, 443), capture.DirRemoteDst},
		{"from a server", pkt(web, home, 443, 50000), capture.DirRemoteSrc},
		{"declared local network", pkt(ours, web, 50000, 443), capture.DirRemoteDst},
		{"both local", pkt(home, home2, 50000, 8080), capture.DirSkip},
		{"DNS itself", pkt(home, web, 50000, 53), capture.DirSkip},
		{"no addresses", capture.Packet{}, capture.DirSkip},
		{"transit: the service port is the server's", pkt(web, web2, 443, 40000), capture.DirRemoteSrc},
		{"transit: no service port, the lower port", pkt(web, web2, 40000, 3000), capture.DirRemoteDst},
	}
	local, err := localnet.ParsePrefixes("203.0.113.0/24")
	if err != nil {
		t.Fatal(err)
	}
	c := New(Deps{Local: localnet.New(local)})
	b := capture.NewBatch()
	for _, tt := range tests {
		b.Packets = append(b.Packets, tt.p)
	}
	c.Classify(b)
	for i, tt := range tests {
		if got := b.Packets[i].Dir; got != tt.want {
			t.Errorf("%s: Dir %d, want %d", tt.name, got, tt.want)
		}
	}
	s := c.Stats()
	if s.Counted.Load() != 5 || s.DNS.Load() != 1 || s.BothLocal.Load() != 1 || s.Transit.Load() != 2 || s.NoAddr.Load() != 1 {
		t.Errorf("counted %d, dns %d, both local %d, transit %d, no addr %d; want 5, 1, 1, 2, 1",
			s.Counted.Load(), s.DNS.Load(), s.BothLocal.Load(), s.Transit.Load(), s.NoAddr.Load())
	}
}
