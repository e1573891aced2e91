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

	"github.com/netmon/netmon/resolver/source"
)

// Source says how a name was found; it lives in the leaf package
// resolver/source so capture.FlowName can carry it typed. The names below
// are the same values.
type Source = source.Source

// Name sources, from most to least trusted where it matters.
const (
	SourceNone = source.None
	SourceDNS  = source.DNS  // A/AAAA answer on port 53
	SourceSVCB = source.SVCB // ipv4hint/ipv6hint of an HTTPS/SVCB answer
	SourceSNI  = source.SNI  // TLS ClientHello server_name
	SourceHTTP = source.HTTP // HTTP/1.x Host header
	SourceQUIC = source.QUIC // SNI of a QUIC Initial
	SourcePTR  = source.PTR  // reverse lookup; never definite
	SourceIP   = source.IP   // no name: the address literal
)

// Record is one address → name mapping, as written to dns_records.
type Record struct {
	TS     time.Time // packet time the mapping was learned (wall clock for PTR)
	Addr   netip.Addr
	Domain string
	Source Source
}
