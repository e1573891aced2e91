package firstbytes

import "bytes"

// Request is what netmon reads from the head of an HTTP/1.x request.
type Request struct {
	Host []byte // the server's host, without port; aliases the stream
	// Proxied: the name came from the request target (absolute form, or
	// CONNECT), so the connection's server is a proxy, not that host.
	Proxied bool
}

// maxMethod bounds a request method: the longest registered ones
// (VERSION-CONTROL, BASELINE-CONTROL) are 16 bytes.
const maxMethod = 20

// HTTP reads the request line and headers at the start of an HTTP/1.x
// client stream (RFC 9112) and returns the host the request is for:
//   - CONNECT host:port → host (authority form, §3.2.3);
//   - GET http://host:port/path → host (absolute form, §3.2.2: a proxy
//     request, whose Host header the target must ignore);
//   - otherwise the Host header's host.
//
// It reads headers only as far as the Host line, so a name split from the
// rest of a long header block is found as soon as its line is whole.
func HTTP(stream []byte) (Request, Status) {
	line, rest, ok := cutLine(stream)
	if !ok {
		if len(stream) > 0 && !methodPrefix(stream) {
			return Request{}, NoName
		}
		return Request{}, NeedMore
	}
	method, target, ok := requestLine(line)
	if !ok {
		return Request{}, NoName
	}
	if string(method) == "CONNECT" {
		if h := hostOf(target); len(h) > 0 {
			return Request{Host: h, Proxied: true}, Found
		}
		return Request{}, NoName
	}
	if auth, ok := absoluteAuthority(target); ok {
		if h := hostOf(auth); len(h) > 0 {
			return Request{Host: h, Proxied: true}, Found
		}
		return Request{}, NoName
	}
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return Request{}, NeedMore
		}
		if len(line) == 0 {
			return Request{}, NoName // end of headers, no Host
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !asciiEqualFold(name, "host") {
			continue
		}
		if h := hostOf(bytes.TrimSpace(value)); len(h) > 0 {
			return Request{Host: h}, Found
		}
		return Request{}, NoName
	}
}

// cutLine splits at the first LF, dropping a CR before it (§2.2 lets a
// recipient accept a bare LF).
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	line = b[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, b[i+1:], true
}

// methodPrefix reports whether b can still become a request line: a
// method token, so that an incomplete first segment of something else is
// given up at once.
func methodPrefix(b []byte) bool {
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if i == maxMethod || !methodChar(c) {
			return false
		}
	}
	return true
}

func methodChar(c byte) bool { return 'A' <= c && c <= 'Z' || c == '-' || c == '_' }

// requestLine splits "METHOD target HTTP/1.x".
func requestLine(line []byte) (method, target []byte, ok bool) {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(method) > maxMethod || len(target) == 0 ||
		!bytes.HasPrefix(version, []byte("HTTP/1.")) {
		return nil, nil, false
	}
	for _, c := range method {
		if !methodChar(c) {
			return nil, nil, false
		}
	}
	return method, target, true
}

// absoluteAuthority returns the authority of an absolute-form target
// (http://authority/path), without any userinfo.
func absoluteAuthority(target []byte) ([]byte, bool) {
	i := bytes.Index(target, []byte("://"))
	if i <= 0 || !asciiEqualFold(target[:i], "http") && !asciiEqualFold(target[:i], "https") {
		return nil, false
	}
	auth := target[i+3:]
	if j := bytes.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	if j := bytes.LastIndexByte(auth, '@'); j >= 0 {
		auth = auth[j+1:]
	}
	return auth, true
}

// hostOf returns the host of host[:port]. An IPv6 literal keeps its
// brackets off; the caller decides what an address literal is worth.
func hostOf(hp []byte) []byte {
	if len(hp) > 0 && hp[0] == '[' {
		if i := bytes.IndexByte(hp, ']'); i > 0 {
			return hp[1:i]
		}
		return nil
	}
	if i := bytes.LastIndexByte(hp, ':'); i >= 0 {
		for _, c := range hp[i+1:] {
			if c < '0' || c > '9' {
				return hp // not a port
			}
		}
		hp = hp[:i]
	}
	return hp
}

// asciiEqualFold compares b with a lower-case ASCII word, ignoring case.
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
