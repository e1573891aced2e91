package flagval

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/user"
	"strconv"

	"github.com/gopacket/gopacket/layers"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/localnet"
)

// Filter reads a BPF filter expression, which libpcap must compile for
// Ethernet ("" is no filter); each source compiles it again for its own
// link type.
//
// The default is taken as it is: compiling netmon's own 2,200-character
// filter cost every command, netmon version too, 10 ms; capture's tests
// compile it.
func Filter(p *string, def string) *Value[string] {
	*p = def
	return &Value[string]{p: p, text: def, typ: "string", parse: func(s string) (string, error) {
		if s == "" {
			return "", nil
		}
		return s, capture.ValidateFilter(s, layers.LinkTypeEthernet)
	}}
}

// Prefixes reads comma-separated CIDRs (localnet.ParsePrefixes).
func Prefixes(p *[]netip.Prefix) *Value[[]netip.Prefix] {
	return New(p, "", "cidrs", localnet.ParsePrefixes)
}

// Level reads a log level: debug, info, warn or error (slog's words, with
// slog's offsets such as info+2).
func Level(p *slog.Level, def string) *Value[slog.Level] {
	return New(p, def, "level", func(s string) (slog.Level, error) {
		var l slog.Level
		if l.UnmarshalText([]byte(s)) != nil {
			return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
		}
		return l, nil
	})
}

// Listen reads a TCP address to listen on, HOST:PORT or :PORT with a port
// number up to 65535; "" is none.
func Listen(p *string, def string) *Value[string] {
	return New(p, def, "host:port", func(s string) (string, error) {
		if s == "" {
			return "", nil
		}
		_, port, err := net.SplitHostPort(s)
		if err != nil {
			return "", fmt.Errorf("%q is not an address to listen on (want e.g. 127.0.0.1:9108 or :9108)", s)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err == nil {
			return s, nil
		}
		// A service name (http) is what net.Listen takes too.
		if _, err := net.LookupPort("tcp", port); err != nil {
			return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
		}
		return s, nil
	})
}

// User reads the name of an unprivileged user of this machine ("" is none),
// so that a run --user with a typo stops before a database is made.
func User(p *string) *Value[string] {
	return New(p, "", "user", func(s string) (string, error) {
		if s == "" {
			return "", nil
		}
		u, err := user.Lookup(s)
		if err != nil {
			return "", err
		}
		if u.Uid == "0" {
			return "", fmt.Errorf("%q is root: name an unprivileged user", s)
		}
		return s, nil
	})
}

// Interface reads the name of a network interface libpcap or the system
// knows ("" is none given), so that a misspelt -i stops, with the names
// there are, before a database or a spool is made.
func Interface(p *string) *Value[string] {
	return New(p, "", "string", func(s string) (string, error) {
		if s == "" {
			return "", nil
		}
		return s, capture.CheckInterface(s)
	})
}
