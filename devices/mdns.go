package devices

import (
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"
)

// hostAddr is one name a device was given for one of its addresses.
type hostAddr struct {
	name string
	addr netip.Addr
}

// maxRecords bounds the records read from one announcement: a device
// announces a handful of addresses, and a crafted message must not make
// the tracker loop over thousands.
const maxRecords = 64

// parseMDNS appends to dst the A and AAAA records of a multicast DNS
// response (RFC 6762) whose owner is a *.local name: announcements and
// answers alike, from the answer and additional sections. The name is the
// owner without ".local", bytes verbatim. Records with TTL 0 say the name
// is going away and are skipped; the class's top bit is the cache-flush
// flag, not part of the class. It returns what it read before any damage,
// and whether the message was whole.
func parseMDNS(p *dnsmessage.Parser, msg []byte, dst []hostAddr) ([]hostAddr, bool) {
	h, err := p.Start(msg)
	if err != nil {
		return dst, false
	}
	if !h.Response {
		return dst, true // queries (and their known answers) name no one
	}
	if err := p.SkipAllQuestions(); err != nil {
		return dst, false
	}
	read := 0
	for _, section := range [...]int{sectionAnswers, sectionAdditionals} {
		if section == sectionAdditionals {
			if err := p.SkipAllAuthorities(); err != nil {
				return dst, false
			}
		}
		for {
			rh, err := nextHeader(p, section)
			if err == dnsmessage.ErrSectionDone {
				break
			}
			if err != nil {
				return dst, false
			}
			if read++; read > maxRecords {
				return dst, true
			}
			if rh.Class&0x7fff != dnsmessage.ClassINET || rh.TTL == 0 ||
				(rh.Type != dnsmessage.TypeA && rh.Type != dnsmessage.TypeAAAA) {
				if err := skipResource(p, section); err != nil {
					return dst, false
				}
				continue
			}
			var a netip.Addr
			if rh.Type == dnsmessage.TypeA {
				r, err := p.AResource()
				if err != nil {
					return dst, false
				}
				a = netip.AddrFrom4(r.A)
			} else {
				r, err := p.AAAAResource()
				if err != nil {
					return dst, false
				}
				a = netip.AddrFrom16(r.AAAA)
			}
			if name, ok := localName(rh.Name); ok {
				dst = append(dst, hostAddr{name: name, addr: a})
			}
		}
	}
	return dst, true
}

// The sections parseMDNS reads.
const (
	sectionAnswers = iota
	sectionAdditionals
)

func nextHeader(p *dnsmessage.Parser, section int) (dnsmessage.ResourceHeader, error) {
	if section == sectionAnswers {
		return p.AnswerHeader()
	}
	return p.AdditionalHeader()
}

func skipResource(p *dnsmessage.Parser, section int) error {
	if section == sectionAnswers {
		return p.SkipAnswer()
	}
	return p.SkipAdditional()
}

// localName returns n without its ".local." suffix (any case), when it has
// one and something before it.
func localName(n dnsmessage.Name) (string, bool) {
	b := n.Data[:n.Length]
	const suffix = ".local."
	if len(b) <= len(suffix) {
		return "", false
	}
	tail := b[len(b)-len(suffix):]
	for i := range suffix {
		c := tail[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return "", false
		}
	}
	return string(b[:len(b)-len(suffix)]), true
}
