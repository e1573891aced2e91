// Package nickname maps domains to the services a person would call them
// (t8.dropbox.com → Dropbox): the built-in catalogue (catalogue.go and
// doh.txt, data only), the user's own rules (keyword, suffix, CIDR, and
// encrypted-DNS resolvers), and the owner of an address no name was
// learned for (--asn-db). It runs once per row per window, at close, never
// on the packet path.
package nickname

import (
	_ "embed"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Nicknames of encrypted DNS, which a user wants to see as such: those
// devices bypass the local resolver.
const (
	DoH = "DNS-over-HTTPS"
	DoT = "DNS-over-TLS"
	DoQ = "DNS-over-QUIC"
)

// Of maps a domain to the service a person would call it:
// t8.dropbox.com → Dropbox, r3---sn-x.googlevideo.com → YouTube. Keywords
// match whole labels, and the leftmost (most specific) matching label wins.
// Without a keyword the answer is the registrable name's first label with
// its first letter upper-cased (news.bbc.co.uk → Bbc). An IP literal, an
// empty name or one the Public Suffix List cannot place is returned as it
// is. The result is always valid UTF-8.
func Of(domain string) string {
	nick, _ := Named(domain)
	return nick
}

// Named is Of with where the nickname came from: the catalogue, the
// domain's label, or the name itself when it is an address, empty or
// beyond the Public Suffix List.
func Named(domain string) (string, Source) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" {
		return strings.ToValidUTF8(domain, "\uFFFD"), FromAddress
	}
	if ipLiteral(d) {
		return strings.ToValidUTF8(domain, "\uFFFD"), FromAddress
	}
	if inner, _, ok := cdnCustomer(d); ok {
		return Named(inner)
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(d)
	regStart := -1
	if err == nil {
		regStart = len(d) - len(reg)
	}
	if nick, _ := catalogue(d, regStart); nick != "" {
		return nick, FromCatalogue
	}
	if err != nil {
		return strings.ToValidUTF8(domain, "\uFFFD"), FromLabel
	}
	first, _, _ := strings.Cut(reg, ".")
	first = strings.ToValidUTF8(first, "\uFFFD")
	r, n := utf8.DecodeRuneInString(first)
	return string(unicode.ToUpper(r)) + first[n:], FromLabel
}

// dohList is the public encrypted-DNS resolvers, one name a line; a
// line starting with "." stands for every name under it.
//
//go:embed doh.txt
var dohList string

// dohHosts and dohSuffixes are dohList read once.
var dohHosts, dohSuffixes = func() (map[string]bool, map[string]bool) {
	hosts, suffixes := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(dohList, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '.':
			suffixes[line[1:]] = true
		default:
			hosts[line] = true
		}
	}
	return hosts, suffixes
}()

// encryptedDNS reports whether d names a public DNS-over-HTTPS resolver
// (doh.txt), and by which line. Traffic to it means a device resolves
// names past the local DNS, which a user wants to see as such rather than
// as "Google". The same names serve DNS over TLS on port 853; the learn
// stage nicknames those flows by their port.
func encryptedDNS(d string) (ruleRef, bool) {
	if dohHosts[d] {
		return ruleRef{ruleDoHHost, d}, true
	}
	for i := 0; i < len(d); i++ {
		if d[i] == '.' && dohSuffixes[d[i+1:]] {
			return ruleRef{ruleDoHSuffix, d[i+1:]}, true
		}
	}
	return ruleRef{}, false
}

// ipLiteral reports whether d is an IP address. The cheap test first keeps
// ParseAddr, whose errors allocate, away from ordinary names.
func ipLiteral(d string) bool {
	if !strings.Contains(d, ":") && strings.Trim(d, "0123456789.") != "" {
		return false
	}
	_, err := netip.ParseAddr(d)
	return err == nil
}
