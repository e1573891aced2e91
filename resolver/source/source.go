// Package source names where a name came from: the DNS answer, the flow's
// own first bytes (TLS SNI, HTTP Host, QUIC Initial), a PTR lookup or
// nothing but the address; and holds Record, one address → name mapping
// with its source, as the address table hands it to the windows and the
// store. It is a leaf package so every stage — the decoder's
// capture.FlowName, the resolver, the windows and the store — shares one
// typed value without importing each other.
package source

import (
	"net/netip"
	"time"
)

// Record is one address → name mapping, as written to dns_records.
type Record struct {
	TS     time.Time // packet time the mapping was learned (wall clock for PTR)
	Addr   netip.Addr
	Domain string
	Source Source
}

// Source says how a name was found. Its String form is what the database
// stores in the source columns.
type Source uint8

// Name sources, from most to least trusted where it matters.
const (
	None Source = iota
	DNS         // A/AAAA answer on port 53
	SVCB        // ipv4hint/ipv6hint of an HTTPS/SVCB answer
	SNI         // TLS ClientHello server_name
	HTTP        // HTTP/1.x Host header
	QUIC        // SNI of a QUIC Initial
	PTR         // reverse lookup; never definite
	IP          // no name: the address literal
)

var names = [...]string{"", "dns", "svcb", "sni", "http", "quic", "ptr", "ip"}

func (s Source) String() string {
	if int(s) < len(names) {
		return names[s]
	}
	return "unknown"
}

// Definite reports whether names from s are definite: all but PTR and IP.
func (s Source) Definite() bool {
	return s != None && s != PTR && s != IP
}
