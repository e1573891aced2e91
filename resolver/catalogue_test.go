package resolver

import (
	"strings"
	"testing"
)

// TestCatalogueRules gives every rule of the catalogue a case: each
// registrable name, parent-company suffix and brand TLD, and every
// resolver of doh.txt.
func TestCatalogueRules(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		if got := Nickname(in); got != want {
			t.Errorf("Nickname(%q) = %q, want %q", in, got, want)
		}
	}
	for name, nick := range registrable {
		check(name, nick)
		check("www."+name, nick)
	}
	for suffix, nick := range underParent {
		check("dl.stickershop."+suffix, nick)
	}
	for tld, nick := range map[string]string{
		"google": "Google", "android": "Google", "chrome": "Google", "gmail": "Google", "goog": "Google", "gle": "Google",
		"youtube": "YouTube", "amazon": "Amazon", "prime": "Amazon", "kindle": "Amazon", "audible": "Amazon", "alexa": "Amazon",
		"aws": "AWS", "apple": "Apple", "itunes": "Apple", "microsoft": "Microsoft", "windows": "Microsoft", "xbox": "Microsoft",
		"bing": "Microsoft", "office": "Microsoft", "skype": "Microsoft", "azure": "Microsoft", "hotmail": "Microsoft",
		"netflix": "Netflix", "playstation": "PlayStation", "sony": "PlayStation",
	} {
		check("blog."+tld, nick)
		if got := brandTLD(tld); got != nick {
			t.Errorf("brandTLD(%q) = %q, want %q", tld, got, nick)
		}
	}
	seen := map[string]bool{}
	n := 0
	for _, line := range strings.Split(dohList, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if seen[line] {
			t.Errorf("doh.txt lists %q twice", line)
		}
		seen[line] = true
		n++
		if line != strings.ToLower(line) || strings.ContainsAny(line, " /:") {
			t.Errorf("doh.txt line %q is not a lower-case host name", line)
		}
		if line[0] == '.' {
			check("abc123"+line, NickDoH)
			continue
		}
		check(line, NickDoH)
		check(strings.ToUpper(line)+".", NickDoH)
	}
	if n < 100 {
		t.Errorf("doh.txt has %d resolvers, want the small operators too (100 or more)", n)
	}
}

// TestCatalogueIssueCases are the wrong or weak names issue 18 saw.
func TestCatalogueIssueCases(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"t.me", "Telegram"},                           // not Twitter: "t" is t.co's
		{"t.co", "Twitter"},                            // still Twitter
		{"android.yingshi.tcclick.1kxun.com", "1kxun"}, // "android" deep in a name is not Google
		{"www.android.com", "Google"},
		{"android.clients.google.com", "Google"},
		{"blog.google", "Google"}, // the service's own TLD
		{"about.netflix", "Netflix"},
		{"dl.stickershop.line.naver.jp", "LINE"}, // the messaging app's downloads on its parent's domain
		{"www.naver.jp", "Naver"},
		{"about.me", "About"},
		{"me.com", "Apple"},
		{"p03-mailws.me.com", "Apple"},
		{"doh.ffmuc.net", NickDoH}, // a small DoH operator
		{"ffmuc.net", "Ffmuc"},
		{"doh.li", NickDoH},
		{"example.app", "Example"}, // Google runs .app for everyone
		{"x.com", "Twitter"},
		// Big services the shared captures showed under a bare label.
		{"euno-1.api.microsoftstream.com", "Microsoft"},
		{"gate.hockeyapp.net", "Microsoft"},
		{"mads.amazon-adsystem.com", "Amazon"},
		{"cloudflare-quic.com", "Cloudflare"},
		{"x.example.com", "Example"},
	} {
		if got := Nickname(tt.in); got != tt.want {
			t.Errorf("Nickname(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
