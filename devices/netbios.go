package devices

import (
	"encoding/binary"
	"net/netip"
)

// NetBIOS name service (RFC 1002, UDP 137) opcodes, and the NB record type.
const (
	nbOpQuery        = 0
	nbOpRegistration = 5
	nbOpRefresh      = 8
	nbOpRefreshAlt   = 9 // what Windows sends for a refresh
	nbTypeNB         = 0x0020
	nbClassIN        = 0x0001
)

// parseNetBIOS appends to dst the unique names a NetBIOS name service
// message binds to addresses: the NB records of name registrations and
// refreshes (which a host broadcasts for its own names) and of positive
// name query responses. Only unique workstation (suffix 0x00) and server
// (0x20) names name a device: group names are workgroups and domains. The
// name is the first 15 bytes of the decoded NetBIOS name with the space
// padding trimmed, bytes verbatim.
func parseNetBIOS(b []byte, dst []hostAddr) []hostAddr {
	if len(b) < 12 {
		return dst
	}
	flags := binary.BigEndian.Uint16(b[2:])
	response, opcode, rcode := flags&0x8000 != 0, (flags>>11)&0xf, flags&0xf
	qd, an := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
	ns, ar := binary.BigEndian.Uint16(b[8:]), binary.BigEndian.Uint16(b[10:])
	switch {
	case !response && (opcode == nbOpRegistration || opcode == nbOpRefresh || opcode == nbOpRefreshAlt):
		// The question is the name; the additional record, usually a
		// pointer back to it, holds the address.
	case response && opcode == nbOpQuery && rcode == 0 && an > 0:
	default:
		return dst
	}
	off := 12
	var question []byte
	for range qd {
		name, next, ok := nbName(b, off)
		if !ok || next+4 > len(b) {
			return dst
		}
		question, off = name, next+4
	}
	read := 0
	for range int(an) + int(ns) + int(ar) {
		name, next, ok := nbName(b, off)
		if !ok || next+10 > len(b) {
			return dst
		}
		if name == nil {
			name = question
		}
		typ, class := binary.BigEndian.Uint16(b[next:]), binary.BigEndian.Uint16(b[next+2:])
		rdlen := int(binary.BigEndian.Uint16(b[next+8:]))
		rdata := next + 10
		if rdata+rdlen > len(b) {
			return dst
		}
		off = rdata + rdlen
		if typ != nbTypeNB || class != nbClassIN || name == nil {
			continue
		}
		host, ok := nbHost(name)
		if !ok {
			continue
		}
		// NB data: entries of two flag bytes (G bit: group) and an IPv4
		// address.
		for e := rdata; e+6 <= rdata+rdlen; e += 6 {
			if read++; read > maxRecords {
				return dst
			}
			if b[e]&0x80 != 0 {
				continue
			}
			a := netip.AddrFrom4([4]byte(b[e+2 : e+6]))
			if !a.IsUnspecified() {
				dst = append(dst, hostAddr{name: host, addr: a})
			}
		}
	}
	return dst
}

// nbName reads the name at off: a first-level encoded NetBIOS name (a
// 32-byte label) followed by scope labels, or a pointer to the question's
// name. It returns the 32 encoded bytes (nil for a pointer, meaning the
// question's) and the offset after the name.
func nbName(b []byte, off int) (name []byte, next int, ok bool) {
	if off >= len(b) {
		return nil, 0, false
	}
	if b[off]&0xc0 == 0xc0 {
		if off+2 > len(b) {
			return nil, 0, false
		}
		return nil, off + 2, true
	}
	if b[off] != 32 || off+33 > len(b) {
		return nil, 0, false
	}
	name = b[off+1 : off+33]
	off += 33
	// Scope labels (rare), up to the root label or a pointer.
	for range 64 {
		if off >= len(b) {
			return nil, 0, false
		}
		n := int(b[off])
		switch {
		case n == 0:
			return name, off + 1, true
		case n&0xc0 == 0xc0:
			if off+2 > len(b) {
				return nil, 0, false
			}
			return name, off + 2, true
		case n > 63:
			return nil, 0, false
		}
		off += 1 + n
	}
	return nil, 0, false
}

// nbHost decodes a first-level encoded name (each byte as two letters 'A'
// to 'P', RFC 1001 14.1) and returns its 15-byte name without the space
// padding, when its 16th byte is a unique-name suffix that names a host.
func nbHost(enc []byte) (string, bool) {
	var raw [16]byte
	for i := range raw {
		hi, lo := enc[2*i]-'A', enc[2*i+1]-'A'
		if hi > 15 || lo > 15 {
			return "", false
		}
		raw[i] = hi<<4 | lo
	}
	if raw[15] != 0x00 && raw[15] != 0x20 {
		return "", false
	}
	n := 15
	for n > 0 && (raw[n-1] == ' ' || raw[n-1] == 0) {
		n--
	}
	if n == 0 {
		return "", false
	}
	return string(raw[:n]), true
}
