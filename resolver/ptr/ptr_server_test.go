package ptr

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/resolver/addrtable"
)

// ptrServer is a DNS server on 127.0.0.1 that answers PTR questions from
// names (the reverse name → the PTR target) and NXDOMAIN otherwise, the
// way a home router answers for its DHCP clients.
func ptrServer(t *testing.T, names map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
			target, ok := names[q.Name.String()]
			if !ok || q.Type != dnsmessage.TypePTR {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			if ok && q.Type == dnsmessage.TypePTR {
				_ = b.StartAnswers()
				_ = b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(target)})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// TestPTRDeviceOverDNS asks a real DNS server, over UDP through Go's own
// resolver, for the PTR names of local device addresses: the router's
// answer names the device, an NXDOMAIN names none.
func TestPTRDeviceOverDNS(t *testing.T) {
	server := ptrServer(t, map[string]string{
		"23.1.168.192.in-addr.arpa.": "Lucas-iPhone.fritz.box.",
	})
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	p := New(unlimited(), Deps{Table: addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), Lookup: res.LookupAddr, DeviceName: func(a netip.Addr, name string) {
		mu.Lock()
		got[a] = name
		mu.Unlock()
	}})
	p.RequestDevice(netip.MustParseAddr("192.168.1.23"))
	p.RequestDevice(netip.MustParseAddr("192.168.1.24"))
	runPTR(t, p)(2)

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[netip.MustParseAddr("192.168.1.23")] != "lucas-iphone.fritz.box" {
		t.Errorf("device names %q, want only 192.168.1.23 = lucas-iphone.fritz.box", got)
	}
	if st := p.Stats(); st.OK != 1 || st.NotFound != 1 {
		t.Errorf("stats %+v, want 1 ok and 1 not found", st)
	}
}
