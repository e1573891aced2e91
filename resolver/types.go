// Package resolver turns addresses and flows into names: it parses DNS
// answers seen on the wire (and the address hints of HTTPS/SVCB answers),
// reads the name a flow gives its server in its first bytes (TLS SNI, HTTP
// Host, QUIC Initial SNI), keeps the bounded address → name table with each
// client's own view and the bounded flow → name table, looks up PTR names in
// the background, decides which end of a packet is local, and maps domains
// to service nicknames.
package resolver

import (
	"net/netip"
	"time"
)

// Source says how a name was found. Its String form is what the database
// stores in the source columns.
type Source uint8

// Name sources, from most to least trusted where it matters.
const (
	SourceNone Source = iota
	SourceDNS         // A/AAAA answer on port 53
	SourceSVCB        // ipv4hint/ipv6hint of an HTTPS/SVCB answer
	SourceSNI         // TLS ClientHello server_name
	SourceHTTP        // HTTP/1.x Host header
	SourceQUIC        // SNI of a QUIC Initial
	SourcePTR         // reverse lookup; never definite
	SourceIP          // no name: the address literal
)

var sourceNames = [...]string{"", "dns", "svcb", "sni", "http", "quic", "ptr", "ip"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Definite reports whether names from s are definite: all but PTR and IP.
func (s Source) Definite() bool {
	return s != SourceNone && s != SourcePTR && s != SourceIP
}

// Record is one address → name mapping, as written to dns_records.
type Record struct {
	TS     time.Time // packet time the mapping was learned (wall clock for PTR)
	Addr   netip.Addr
	Domain string
	Source Source
}
