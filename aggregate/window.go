// Package aggregate counts packets in tumbling windows on packet time and,
// when a window closes, names each (client, remote, flow name) key once and
// turns it into rows for the store.
package aggregate

import (
	"net/netip"
	"time"

	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// Window is one closed window, ready to be written.
type Window struct {
	// ID names this batch of counts, so that writing it twice counts it
	// once: the store records the ID in the same transaction as the rows
	// and skips a window whose ID it already holds. Two windows with the
	// same Start (a late batch) have different IDs and add up. Zero until
	// the store's writer assigns one, before the window's first durable copy.
	ID [16]byte
	// Start is the window's start in UTC: t − t mod width.
	Start time.Time
	// Rows has one entry per (client, domain) seen in the window.
	Rows []Row
	// Names are the address → name mappings learned or changed since the
	// previous window, for dns_records.
	Names []source.Record
	// Corrections rename rows already written under a guess (a PTR name or
	// the address literal) once a definite name for that address is known.
	Corrections []Correction
	// Devices are what changed about local devices since the previous
	// window, for the devices table.
	Devices []devices.Device
	// Input counts the inputs ended before this window's packets were read
	// (Deps.Cut): the replay file they came from. Windows never
	// span two inputs.
	Input int
	// InputEnd marks the empty window that follows the last window of
	// input Input; it is never written.
	InputEnd bool
	// Rereadable says that the input can make this window again if it is
	// lost: a replayed file, marked finished only once all its windows
	// are in the database, is read again by the next replay. The store's
	// writer then holds it in memory instead of fsyncing it into its
	// spool, unless the database fails.
	Rereadable bool
}

// Row is one tcpdump_records row.
type Row struct {
	Client   netip.Addr
	Domain   string
	Nickname string
	// NickSource says where Nickname came from (catalogue, rule, asn,
	// label, address).
	NickSource nickname.Source
	Source     source.Source
	Count      uint64 // packets, both directions
	Bytes      uint64 // wire bytes, both directions
}

// Correction says: rows of this agent whose domain is Old and whose name was
// a guess (source ptr or ip) now belong to New.
type Correction struct {
	Addr        netip.Addr
	Old         string
	New         string
	NewNickname string
	// NewNickSource says where NewNickname came from.
	NewNickSource nickname.Source
	NewSource     source.Source
}
