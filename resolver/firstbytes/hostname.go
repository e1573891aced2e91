package firstbytes

import "net/netip"

// maxNameLen is the longest host name (RFC 1035 §2.3.4 without the final
// dot); a longer SNI or Host is not a name.
const maxNameLen = 253

// HostName normalises a name read from a flow's first bytes into dst: ASCII
// letters lower-cased, a final dot dropped. It reports false for what is
// not a host name netmon would write: empty or too long, an address
// literal (RFC 6066 forbids them in SNI; in a Host header they name no
// service, and the address's own name is better), or bytes that cannot be
// in a name (controls, spaces, non-ASCII, URL delimiters).
func HostName(dst, raw []byte) ([]byte, bool) {
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
