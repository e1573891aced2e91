package localnet

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLocalNets(t *testing.T) {
	n := New([]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:1::/48")})
	tests := []struct {
		addr string
		want bool
	}{
		{"192.168.1.10", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"172.32.0.1", false},
		{"100.64.0.1", true},
		{"100.128.0.1", false},
		{"127.0.0.1", true},
		{"169.254.1.1", true},
		{"224.0.0.251", true},
		{"239.255.255.250", true},
		{"255.255.255.255", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"8.8.8.8", false},
		{"140.82.112.3", false},
		{"203.0.113.7", true}, // extra
		{"203.0.114.7", false},
		{"::1", true},
		{"::", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fd12:3456::1", true},
		{"fc00::1", true},
		{"ff02::fb", true},
		{"2001:db8:1::5", true}, // extra
		{"2001:db8:2::5", false},
		{"2606:4700::1111", false},
		{"::ffff:192.168.1.1", true},
		{"::ffff:8.8.8.8", false},
	}
	for _, tt := range tests {
		if got := n.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if n.Contains(netip.Addr{}) {
		t.Error("Contains(zero Addr) = true")
	}
	addrs := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2606:4700::1111")}
	if a := testing.AllocsPerRun(100, func() {
		for _, x := range addrs {
			n.Contains(x)
		}
	}); a != 0 {
		t.Errorf("Contains allocates %v times", a)
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    []netip.Prefix
		wantErr string
	}{
		{in: ""},
		{in: " , "},
		{in: "192.168.1.0/24", want: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}},
		{in: "10.1.2.3/8, 10.0.0.5 ,fd00::/8,2001:db8::1", want: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.5/32"),
			netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("2001:db8::1/128"),
		}},
		{in: "::ffff:192.0.2.1", want: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}},
		{in: "10.0.0.300", wantErr: `local net "10.0.0.300": not an address or prefix`},
		{in: "192.168.1.0/24,lan", wantErr: `local net "lan": not an address or prefix`},
		{in: "1.2.3.4/33", wantErr: `local net "1.2.3.4/33": not a prefix`},
		{in: "fe80::1%eth0", wantErr: `local net "fe80::1%eth0": zones are not allowed`},
	}
	for _, tt := range tests {
		got, err := ParsePrefixes(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePrefixes(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePrefixes(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(got, tt.want, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
			t.Errorf("ParsePrefixes(%q) (-got +want):\n%s", tt.in, diff)
		}
	}
}

func BenchmarkLocalContains(b *testing.B) {
	n := New(nil)
	a4, a6 := netip.MustParseAddr("140.82.112.3"), netip.MustParseAddr("2606:4700::1111")
	b.ReportAllocs()
	for b.Loop() {
		n.Contains(a4)
		n.Contains(a6)
	}
}
