// Package resolver is the learn stage: its Learner hands the DNS traffic
// to package dns, which reads the answers into the address table, and
// follows every other flow to the name it gives its server in its first
// bytes, marking the flow's packets with it. Its sub-packages do one job
// each: dns (DNS answers), addrtable (the address → name table),
// firstbytes (the TLS, HTTP and QUIC first-bytes parsers), classify (which
// end of a packet is local), nickname (domain → service), localnet (which
// addresses are local), lru (the tables' recency list), ptr (reverse
// lookups), source (where a name came from, and the Record every stage
// passes on).
package resolver
