package nickname

import (
	"net/netip"
	"strings"
	"testing"
)

func mustRule(t *testing.T, kind, value, nick string) Rule {
	t.Helper()
	r, err := NewRule(kind, value, nick)
	if err != nil {
		t.Fatalf("NewRule(%q, %q, %q): %v", kind, value, nick, err)
	}
	return r
}

func mustDoH(t *testing.T, value string) Rule {
	t.Helper()
	r, err := EncryptedDNSRule(value)
	if err != nil {
		t.Fatalf("EncryptedDNSRule(%q): %v", value, err)
	}
	return r
}

func TestNicknamerRules(t *testing.T) {
	n := New(Config{Rules: []Rule{
		mustDoH(t, "doh.example.net"),
		mustDoH(t, "192.0.2.53"),
		mustRule(t, RuleCIDR, "104.244.40.0/21", "Twitter"),
		mustRule(t, RuleKeyword, "Plex", "Plex"),
		mustRule(t, RuleSuffix, ".Example.COM.", "Example Corp"),
		mustRule(t, RuleSuffix, "example.com", "Never"), // the rule above matches first
		mustRule(t, RuleCIDR, "2001:db8:1::/48", "Lab"),
		mustRule(t, RuleKeyword, "googlevideo", "Video"), // before the built-in YouTube
	}}, Deps{})
	twitter := netip.MustParseAddr("104.244.42.65")
	none := netip.Addr{}
	tests := []struct {
		domain string
		remote netip.Addr
		want   string
	}{
		// cidr: the remote address, whatever the name; or a literal name in it.
		{"104.244.42.65", twitter, "Twitter"},
		{"104.244.42.65", none, "Twitter"},
		{"104.244.47.255", none, "Twitter"},
		{"104.244.48.1", none, "104.244.48.1"}, // just past the /21
		{"pbs.twimg.com", twitter, "Twitter"},
		{"edge.example.org", twitter, "Twitter"},
		{"104.244.42.65", netip.MustParseAddr("::ffff:104.244.42.65"), "Twitter"},
		{"2001:db8:1::7", none, "Lab"},
		{"2001:db8:2::7", none, "2001:db8:2::7"},
		// keyword: a whole label, case-insensitively.
		{"media.plex.direct", none, "Plex"},
		{"PLEX.tv", none, "Plex"},
		{"complex.com", none, "Complex"},
		{"plexx.tv", none, "Plexx"},
		{"r3---sn-x.googlevideo.com", none, "Video"},
		// suffix: the name and the names under it, never a longer label.
		{"example.com", none, "Example Corp"},
		{"www.Example.com.", none, "Example Corp"},
		{"notexample.com", none, "Notexample"},
		{"example.com.evil.net", none, "Evil"},
		// encrypted DNS the user named: a name and its subdomains, an address.
		{"doh.example.net", none, DoH},
		{"eu.doh.example.net", none, DoH},
		{"xdoh.example.net", none, "Example"},
		{"resolver.example.org", netip.MustParseAddr("192.0.2.53"), DoH},
		// no rule: the built-in table.
		{"t8.dropbox.com", none, "Dropbox"},
		{"dns.google", none, DoH},
		{"", none, ""},
	}
	for _, tt := range tests {
		if got := n.Nickname(tt.domain, tt.remote); got != tt.want {
			t.Errorf("Nickname(%q, %v) = %q, want %q", tt.domain, tt.remote, got, tt.want)
		}
	}
}

func TestNicknamerNoRulesIsBuiltIn(t *testing.T) {
	n := New(DefaultConfig(), Deps{})
	for _, d := range []string{"t8.dropbox.com", "104.244.42.65", "news.bbc.co.uk", "cloudflare-dns.com", ""} {
		if got, want := n.Nickname(d, netip.MustParseAddr("104.244.42.65")), Of(d); got != want {
			t.Errorf("Of(%q) = %q, want the built-in %q", d, got, want)
		}
	}
}

func TestNewNicknameRuleErrors(t *testing.T) {
	tests := []struct {
		kind, value, nick string
		want              string
	}{
		{RuleCIDR, "104.244.40.0/33", "Twitter", "not a CIDR"},
		{RuleCIDR, "104.244.400.0/21", "Twitter", "not a CIDR"},
		{RuleCIDR, "twitter.com", "Twitter", "not an address or CIDR"},
		{RuleCIDR, "fe80::1%eth0", "Link", "not an address or CIDR"},
		{RuleKeyword, "plex.tv", "Plex", "not one label"},
		{RuleKeyword, "", "Plex", "not one label"},
		{RuleSuffix, "", "X", "empty name"},
		{RuleSuffix, "a..b", "X", "not a host name"},
		{RuleSuffix, "exa mple.com", "X", "not a host name"},
		{RuleSuffix, "192.0.2.1", "X", "use cidr:"},
		{RuleSuffix, strings.Repeat("a.", 130) + "com", "X", "longer than a name"},
		{RuleSuffix, "example.com", "", "empty nickname"},
		{RuleSuffix, "example.com", "Bad\x00", "control character"},
		{RuleSuffix, "example.com", "\xff", "not valid UTF-8"},
		{RuleSuffix, "example.com", strings.Repeat("é", 256), "longer than 255"},
		{"regex", "x", "X", "unknown kind"},
	}
	for _, tt := range tests {
		_, err := NewRule(tt.kind, tt.value, tt.nick)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewRule(%q, %q, %q) = %v, want an error containing %q", tt.kind, tt.value, tt.nick, err, tt.want)
		}
	}
}

func TestEncryptedDNSRule(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
		want    Rule
	}{
		{in: "DoH.Example.net", want: Rule{Suffix: "doh.example.net", Nickname: DoH}},
		{in: "192.0.2.53", want: Rule{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Nickname: DoH}},
		{in: "2001:db8::/32", want: Rule{Prefix: netip.MustParsePrefix("2001:db8::/32"), Nickname: DoH}},
		{in: "192.0.2.0/33", wantErr: "not a CIDR"},
		{in: "192.0.2.300", wantErr: "not an address or CIDR"},
		{in: "doh example", wantErr: "neither a host name nor an address"},
	}
	for _, tt := range tests {
		got, err := EncryptedDNSRule(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("EncryptedDNSRule(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("EncryptedDNSRule(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}
