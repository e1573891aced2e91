// Package devices names the local devices behind client addresses from what
// the network already says about them: the MAC address of their frames, the
// vendor its OUI was assigned to, and the host names they announce (DHCP,
// mDNS, NetBIOS) or that the local resolver gives their address (PTR).
package devices

import (
	"net/netip"
	"time"
)

// Device is what changed about one local device since the previous drain,
// as the store writes it. The store merges it into what it already holds:
// first_seen only moves back, last_seen only forward, and a host name
// replaces the stored one only when its source is at least as trusted.
type Device struct {
	// ID is the device's identity: its MAC address when its frames carry
	// one, else its only address (text form). MAC identity is preferred: a
	// device's IPv4 address and its IPv6 privacy addresses are one device.
	ID string
	// MAC is the hardware address, lower-case aa:bb:cc:dd:ee:ff; "" when
	// the link layer carries none (raw IP captures).
	MAC string
	// Addrs are the addresses seen from this device since the previous
	// drain, each with the packet time it was last seen.
	Addrs []Addr
	// Hostname is the best name known so far and NameSource where it came
	// from; empty and NameNone when none is known.
	Hostname   string
	NameSource NameSource
	// Vendor is the organisation the IEEE assigned the MAC's OUI to; empty
	// when unknown, and always for a randomised MAC.
	Vendor string
	// Randomised marks a locally administered MAC (the "private Wi-Fi
	// address" of phones): it names no vendor and may change.
	Randomised bool
	// FirstSeen and LastSeen are packet times, UTC.
	FirstSeen, LastSeen time.Time
}

// Addr is one address of a device and when it was last seen (packet time).
type Addr struct {
	Addr     netip.Addr
	LastSeen time.Time
}

// NameSource says where a device's host name came from. Larger is more
// trusted: a name from a more trusted source replaces one from a less
// trusted source, never the reverse.
type NameSource uint8

// Name sources, least trusted first.
const (
	NameNone    NameSource = iota
	NamePTR                // the local resolver's PTR name of its address
	NameNetBIOS            // NetBIOS name service (UDP 137)
	NameMDNS               // an mDNS answer or announcement of a *.local name
	NameDHCP               // DHCP host name (option 12) or client FQDN (option 81)
	NameConfig             // the user's config file, by MAC
)

var nameSources = [...]string{"", "ptr", "netbios", "mdns", "dhcp", "config"}

// String is the source as stored in devices.name_source.
func (s NameSource) String() string {
	if int(s) < len(nameSources) {
		return nameSources[s]
	}
	return ""
}

// ParseNameSource is the inverse of String; unknown text is NameNone.
func ParseNameSource(s string) NameSource {
	for i, n := range nameSources {
		if n == s {
			return NameSource(i)
		}
	}
	return NameNone
}
