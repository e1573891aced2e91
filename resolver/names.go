package resolver

import (
	"net/netip"
	"sync/atomic"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/source"
)

// maxNameLen is the longest host name (RFC 1035 §2.3.4 without the final
// dot); a longer SNI or Host is not a name.
const maxNameLen = 253

// flowHostName normalises a name read from a flow's first bytes into dst: ASCII
// letters lower-cased, a final dot dropped. It reports false for what is
// not a host name netmon would write: empty or too long, an address
// literal (RFC 6066 forbids them in SNI; in a Host header they name no
// service, and the address's own name is better), or bytes that cannot be
// in a name (controls, spaces, non-ASCII, URL delimiters).
func flowHostName(dst, raw []byte) ([]byte, bool) {
	if n := len(raw); n > 0 && raw[n-1] == '.' {
		raw = raw[:n-1]
	}
	if len(raw) == 0 || len(raw) > maxNameLen || raw[len(raw)-1] == '.' {
		// Empty, too long, or still ending in a dot: an empty last label.
		return dst, false
	}
	dst = dst[:0]
	v4 := true // only digits and dots so far
	for i, c := range raw {
		if c == '.' && (i == 0 || raw[i-1] == '.') {
			// An empty label (".", "..x", "a..b") makes no host name.
			return dst, false
		}
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c <= ' ' || c >= 0x7f || c == ':' || c == '/' || c == '\\' || c == '@' || c == '[' || c == ']' ||
			c == '?' || c == '#' || c == '"' || c == '<' || c == '>':
			// A colon is an IPv6 literal or a stray port: no name either way.
			return dst, false
		}
		if !('0' <= c && c <= '9' || c == '.') {
			v4 = false
		}
		dst = append(dst, c)
	}
	if v4 {
		if _, err := netip.ParseAddr(string(dst)); err == nil {
			return dst, false
		}
	}
	return dst, true
}

// nameVariant is what, besides the domain, makes two flow names differ.
type nameVariant struct {
	src   source.Source
	nick  string
	outer bool
}

// maxInterned bounds the distinct flow names kept for reuse. Beyond it the
// set starts afresh: names still in use keep their values, new flows of
// the same name get a new one, which costs a little aggregation, nothing
// more.
const maxInterned = 8192

// interner gives every distinct flow name one shared capture.FlowName, so
// that setting Packet.Name costs nothing and later stages can compare
// names by pointer.
type interner struct {
	m      map[string][]*capture.FlowName
	resets atomic.Uint64
}

// get returns the FlowName for domain and v. Looking up with string(b)
// does not allocate; only a name seen for the first time does.
func (in *interner) get(domain []byte, v nameVariant) *capture.FlowName {
	for _, n := range in.m[string(domain)] {
		if n.Source == v.src && n.Nickname == v.nick && n.Outer == v.outer {
			return n
		}
	}
	if in.m == nil || len(in.m) >= maxInterned {
		if in.m != nil {
			in.resets.Add(1)
		}
		in.m = make(map[string][]*capture.FlowName)
	}
	d := string(domain)
	if vs := in.m[d]; len(vs) > 0 {
		d = vs[0].Domain // share the string
	}
	n := &capture.FlowName{Domain: d, Source: v.src, Nickname: v.nick, Outer: v.outer}
	in.m[d] = append(in.m[d], n)
	return n
}
