package nickname

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/netmon/netmon/asn"
)

func TestNicknamerOwners(t *testing.T) {
	p := filepath.Join(t.TempDir(), "asn-ipv4.csv")
	csv := "23.246.0.0,23.246.63.255,2906,Netflix Streaming Services Inc.\n5.9.0.0,5.9.255.255,24940,Hetzner Online GmbH\n"
	if err := os.WriteFile(p, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := asn.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := NewRule(RuleCIDR, "5.9.1.0/24", "My server")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		n              *Namer
		domain, remote string
		want           string
	}{
		{New(DefaultConfig(), Deps{Owners: db}), "", "23.246.11.141", "Netflix"},
		{New(DefaultConfig(), Deps{Owners: db}), "5.9.2.2", "5.9.2.2", "Hetzner Online"},
		// A name wins over the owner: the address is a CDN's, the name the service's.
		{New(DefaultConfig(), Deps{Owners: db}), "www.example.com", "23.246.11.141", "Example"},
		// The user's rules win over the owner.
		{New(Config{Rules: []Rule{rule}}, Deps{Owners: db}), "5.9.1.7", "5.9.1.7", "My server"},
		{New(Config{Rules: []Rule{rule}}, Deps{Owners: db}), "5.9.2.7", "5.9.2.7", "Hetzner Online"},
		// No owner known: the address stays.
		{New(DefaultConfig(), Deps{Owners: db}), "192.0.2.1", "192.0.2.1", "192.0.2.1"},
		// Without ASN data, the address stays.
		{New(DefaultConfig(), Deps{}), "23.246.11.141", "23.246.11.141", "23.246.11.141"},
	} {
		if got := tt.n.Nickname(tt.domain, netip.MustParseAddr(tt.remote)); got != tt.want {
			t.Errorf("Nickname(%q, %s) = %q, want %q", tt.domain, tt.remote, got, tt.want)
		}
	}
}

func TestNamedSource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "asn-ipv4.csv")
	if err := os.WriteFile(p, []byte("23.246.0.0,23.246.63.255,2906,Netflix Streaming Services Inc.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := asn.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := NewRule(RuleSuffix, "example.com", "Mine")
	if err != nil {
		t.Fatal(err)
	}
	n := New(Config{Rules: []Rule{rule}}, Deps{Owners: db})
	remote := netip.MustParseAddr("23.246.11.141")
	for _, tt := range []struct {
		domain, nick string
		src          Source
	}{
		{"www.netflix.com", "Netflix", FromCatalogue},
		{"dns.google", DoH, FromCatalogue},
		{"www.example.com", "Mine", FromRule},
		{"news.bbc.co.uk", "Bbc", FromLabel},
		{"localhost", "localhost", FromLabel},
		{"23.246.11.141", "Netflix", FromASN},
		{"192.0.2.1", "192.0.2.1", FromAddress},
	} {
		a := remote
		if tt.domain == "192.0.2.1" {
			a = netip.MustParseAddr(tt.domain)
		}
		nick, src := n.Named(tt.domain, a)
		if nick != tt.nick || src != tt.src {
			t.Errorf("Named(%q) = %q %s, want %q %s", tt.domain, nick, src, tt.nick, tt.src)
		}
	}
	for s, want := range map[Source]string{FromAddress: "address", FromLabel: "label", FromASN: "asn", FromRule: "rule", FromCatalogue: "catalogue"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}
