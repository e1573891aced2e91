// Package resolver turns addresses and flows into names: it parses DNS
// answers seen on the wire (and the address hints of HTTPS/SVCB answers),
// follows every flow to the name it gives its server in its first bytes
// (read by package firstbytes: TLS SNI, HTTP Host, QUIC Initial SNI), keeps
// the bounded address → name table with each client's own view and the
// bounded flow → name table, and decides which end of a packet is local.
// Its sub-packages do one job each: firstbytes (the first-bytes parsers),
// nickname (domain → service), localnet (which addresses are local), lru
// (the tables' recency list), ptr (reverse lookups), source (where a name
// came from).
package resolver

import (
	"net/netip"
	"time"

	"github.com/netmon/netmon/resolver/source"
)

// Record is one address → name mapping, as written to dns_records.
type Record struct {
	TS     time.Time // packet time the mapping was learned (wall clock for PTR)
	Addr   netip.Addr
	Domain string
	Source source.Source
}
