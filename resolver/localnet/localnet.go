// Package localnet decides which addresses are local: the built-in private
// and special ranges plus the ones the user adds (--local-net).
package localnet

import (
	"fmt"
	"net/netip"
	"strings"
)

// Nets decides which end of a packet is local: traffic is counted for
// its other, remote end. It is read-only after New and safe for
// concurrent use.
type Nets struct {
	v4    []v4net // built-in IPv4 ranges as masks, checked first
	v6    []netip.Prefix
	extra []netip.Prefix
}

type v4net struct{ base, mask uint32 }

// New returns the built-in private and special ranges plus extra.
func New(extra []netip.Prefix) *Nets {
	n := &Nets{}
	// In order of how often a home network meets them.
	for _, s := range []string{
		"192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", // RFC 1918
		"100.64.0.0/10",                     // carrier-grade NAT, RFC 6598
		"224.0.0.0/4", "255.255.255.255/32", // multicast, limited broadcast
		"169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8", // link-local, loopback, "this network"
	} {
		p := netip.MustParsePrefix(s)
		a := p.Addr().As4()
		base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		n.v4 = append(n.v4, v4net{base: base, mask: ^uint32(0) << (32 - p.Bits())})
	}
	for _, s := range []string{
		"fe80::/10", "fc00::/7", "ff00::/8", // link-local, unique local, multicast
		"::1/128", "::/128", // loopback, unspecified
	} {
		n.v6 = append(n.v6, netip.MustParsePrefix(s))
	}
	for _, p := range extra {
		if p.IsValid() {
			n.extra = append(n.extra, p.Masked())
		}
	}
	return n
}

// Contains reports whether a is local. IPv4-mapped IPv6 addresses are
// judged as the IPv4 address they carry, and zones are ignored.
func (n *Nets) Contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	switch {
	case a.Is4():
		b := a.As4()
		u := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for _, v := range n.v4 {
			if u&v.mask == v.base {
				return true
			}
		}
	case a.Is6():
		for _, p := range n.v6 {
			if p.Contains(a) {
				return true
			}
		}
	default:
		return false
	}
	for _, p := range n.extra {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParsePrefixes parses a comma-separated list of prefixes, as given to
// --local-net. A bare address stands for itself alone (/32 or /128).
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("local net %q: not a prefix (want e.g. 192.168.1.0/24 or fd00::/8): %w", part, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("local net %q: not an address or prefix (want e.g. 192.168.1.0/24 or 10.0.0.5): %w", part, err)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("local net %q: zones are not allowed", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
