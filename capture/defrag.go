package capture

import (
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/ip6defrag"
	"github.com/gopacket/gopacket/layers"
)

// Reassembly limits. A home network rarely fragments anything but large
// DNS answers (DNSSEC, EDNS0 4096-byte buffers), so these are generous.
const (
	// fragmentSpan is one generation of pending state: an incomplete
	// datagram is discarded after two generations, so after 15 to 30 s of
	// packet time (Linux's ipfrag_time is 30 s).
	fragmentSpan = 15 * time.Second
	// DefaultMaxPendingDatagrams bounds the datagrams waiting for
	// fragments. Each holds at most 64 KiB, so the worst case is 16 MiB.
	DefaultMaxPendingDatagrams = 256
	// maxFragmentsPerDatagram refuses datagrams cut into more pieces than a
	// 64 KiB datagram needs at a 1280-byte MTU: more is an attack, and
	// tiny fragments cost far more memory than their bytes.
	maxFragmentsPerDatagram = 64
)

// fragStatus says what happened to one fragment.
type fragStatus uint8

const (
	fragHeld     fragStatus = iota // stored until the rest arrives
	fragDropped                    // refused: invalid, overlapping, or over a limit
	fragComplete                   // it completed its datagram
)

// fragKey identifies a datagram under reassembly (RFC 791 and RFC 8200:
// source, destination, identification, and for IPv4 the protocol).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 only; IPv6 keys leave it zero
}

type fragEntry struct {
	gen    uint64 // generation of its first fragment
	wire   uint64 // wire bytes of all its fragments, for the Packet
	frames uint32
	dead   bool // refused; its later fragments are dropped until expiry
}

// reassembler puts IPv4 and IPv6 fragments back together with gopacket's
// ip4defrag and ip6defrag, bounded in time (packet time, not the wall
// clock, so replays behave as live capture) and in size.
//
// ip6defrag dates its state with time.Now and neither package can forget
// one datagram, so ageing works by generations: two defragmenters of each
// kind, the current one and the previous one. A datagram stays with the
// one its first fragment went to; every fragmentSpan of packet time the
// previous pair is emptied, with whatever it still held, and becomes the
// current one. The pending map mirrors what they hold, for the cap and
// for the wire bytes of each datagram.
type reassembler struct {
	v4      [2]*ip4defrag.IPv4Defragmenter
	v6      [2]*ip6defrag.IPv6Defragmenter
	gen     uint64 // current generation; gen%2 indexes v4 and v6
	start   time.Time
	pending map[fragKey]fragEntry
	max     int

	expired uint64 // datagrams discarded by age, read by the Decoder
}

func newReassembler(maxPending int) *reassembler {
	r := &reassembler{
		pending: make(map[fragKey]fragEntry),
		max:     maxPending,
	}
	for i := range 2 {
		r.v4[i] = ip4defrag.NewIPv4Defragmenter()
		r.v6[i] = ip6defrag.NewIPv6Defragmenter()
	}
	return r
}

// farFuture makes DiscardOlderThan forget everything.
func farFuture() time.Time { return time.Unix(1<<62, 0) }

// reset forgets all pending datagrams without counting them.
func (r *reassembler) reset() {
	for i := range 2 {
		r.v4[i].DiscardOlderThan(farFuture())
		r.v6[i].DiscardOlderThan(farFuture())
	}
	clear(r.pending)
	r.start = time.Time{}
}

// advance moves the generations forward to packet time ts. It is cheap
// enough to call for every packet.
func (r *reassembler) advance(ts time.Time) {
	if r.start.IsZero() {
		r.start = ts
		return
	}
	d := ts.Sub(r.start)
	switch {
	case d < fragmentSpan && d > -2*fragmentSpan:
		return
	case d < 0:
		// Time went far backwards (a capture spliced from older data):
		// nothing pending can belong with what comes now.
		r.rotate()
		r.rotate()
	default:
		r.rotate()
		if d >= 2*fragmentSpan {
			r.rotate()
		}
	}
	r.start = ts
}

// rotate starts a new generation, discarding the one before the previous.
func (r *reassembler) rotate() {
	r.gen++
	if len(r.pending) == 0 {
		return
	}
	i := r.gen % 2
	r.v4[i].DiscardOlderThan(farFuture())
	r.v6[i].DiscardOlderThan(farFuture())
	for k, e := range r.pending {
		if e.gen+2 <= r.gen {
			if !e.dead {
				r.expired++
			}
			delete(r.pending, k)
		}
	}
}

// entry returns the pending state for k, creating it when there is room.
func (r *reassembler) entry(k fragKey, wire int) (fragEntry, bool) {
	e, ok := r.pending[k]
	if !ok {
		if len(r.pending) >= r.max {
			return e, false
		}
		e.gen = r.gen
	}
	if e.dead {
		return e, false
	}
	e.frames++
	e.wire += uint64(wire)
	if e.frames > maxFragmentsPerDatagram {
		e.dead = true
		r.pending[k] = e
		return e, false
	}
	return e, true
}

// ipv4 takes one IPv4 fragment, decoded into the Decoder's reused layer
// (whose bytes belong to the source and are copied here, because the
// defragmenter keeps what it is given). On fragComplete it returns the
// datagram's header and payload, and the wire bytes of all its fragments.
func (r *reassembler) ipv4(ip *layers.IPv4, ts time.Time, wire int) (*layers.IPv4, uint64, fragStatus) {
	k := fragKey{
		src:   netip.AddrFrom4([4]byte(ip.SrcIP)),
		dst:   netip.AddrFrom4([4]byte(ip.DstIP)),
		id:    uint32(ip.Id),
		proto: uint8(ip.Protocol),
	}
	e, ok := r.entry(k, wire)
	if !ok {
		return nil, 0, fragDropped
	}
	raw := ip.Contents[:len(ip.Contents)+len(ip.Payload)] // header and payload are adjacent
	own := new(layers.IPv4)
	if err := own.DecodeFromBytes(slices.Clone(raw), gopacket.NilDecodeFeedback); err != nil {
		return nil, 0, r.drop(k, e)
	}
	out, err := r.v4[e.gen%2].DefragIPv4WithTimestamp(own, ts)
	switch {
	case err != nil:
		// ip4defrag dropped the whole datagram (overlap, bad length...).
		delete(r.pending, k)
		return nil, 0, fragDropped
	case out == nil:
		r.pending[k] = e
		return nil, 0, fragHeld
	}
	delete(r.pending, k)
	return out, e.wire, fragComplete
}

// ipv6 is ipv4 for an IPv6 fragment: ip is the IPv6 header in front of
// the Fragment extension header fh.
func (r *reassembler) ipv6(ip *layers.IPv6, fh *layers.IPv6Fragment, ts time.Time, wire int) (*layers.IPv6, uint64, fragStatus) {
	k := fragKey{
		src: netip.AddrFrom16([16]byte(ip.SrcIP)),
		dst: netip.AddrFrom16([16]byte(ip.DstIP)),
		id:  fh.Identification,
	}
	e, ok := r.entry(k, wire)
	if !ok {
		return nil, 0, fragDropped
	}
	// ip6defrag reads these fields only, and keeps both values.
	ownIP := &layers.IPv6{
		Version:      6,
		TrafficClass: ip.TrafficClass,
		FlowLabel:    ip.FlowLabel,
		NextHeader:   layers.IPProtocolIPv6Fragment,
		HopLimit:     ip.HopLimit,
		SrcIP:        slices.Clone(ip.SrcIP),
		DstIP:        slices.Clone(ip.DstIP),
	}
	ownFH := &layers.IPv6Fragment{
		NextHeader:     fh.NextHeader,
		FragmentOffset: fh.FragmentOffset,
		MoreFragments:  fh.MoreFragments,
		Identification: fh.Identification,
	}
	ownFH.Payload = slices.Clone(fh.Payload)
	out := r.v6[e.gen%2].DefragIPv6(ownIP, ownFH)
	if out == nil {
		// ip6defrag does not say whether it stored, ignored or refused
		// the fragment; a refused datagram ages out like a stalled one.
		r.pending[k] = e
		return nil, 0, fragHeld
	}
	delete(r.pending, k)
	return out, e.wire, fragComplete
}

func (r *reassembler) drop(k fragKey, e fragEntry) fragStatus {
	e.dead = true
	r.pending[k] = e
	return fragDropped
}
