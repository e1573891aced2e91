package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// DecoderConfig configures a Decoder.
type DecoderConfig struct {
	// KeepPayloadPorts lists the ports whose transport payload is copied
	// into Packet.Payload when either the source or the destination port
	// matches: {53} by default, as DNS answers are what the resolver reads;
	// empty copies none.
	KeepPayloadPorts []uint16
	// NamePorts are the server ports whose flows name their server in
	// their first bytes: TLS ClientHello, HTTP request, QUIC Initial. The
	// payload a client sends to one of them is copied while it lies within
	// the connection's first FlowStartBytes (TCP), or when it starts with a
	// QUIC long header (UDP). A TCP connection whose SYN was seen is
	// watched whatever its port. Empty copies no first bytes at all.
	NamePorts []uint16
	// FlowStartBytes is how much of a TCP connection's client → server
	// stream is copied: a ClientHello with post-quantum key shares is a
	// few KiB, headers of an HTTP request rarely more.
	FlowStartBytes int
	// DevicePorts lists the UDP ports whose datagrams are copied into
	// Packet.Payload in both directions, for the device tracker: the
	// protocols devices name themselves with. Empty copies none.
	DevicePorts []uint16
	// MaxFlowStarts bounds the TCP connections whose first bytes are
	// watched at once; beyond it some are forgotten (counted in
	// DecoderStats.NameFlowsEvicted).
	MaxFlowStarts int
	// OtherIP emits IP packets that are neither TCP nor UDP (ICMP, ESP,
	// GRE...) with Proto set and zero ports. They are counted in
	// DecoderStats.OtherIP either way; by default they are skipped.
	OtherIP bool
	// MaxPendingDatagrams bounds the IP datagrams waiting for missing
	// fragments.
	MaxPendingDatagrams int
}

// check refuses settings no Decoder can work with.
func (c DecoderConfig) check() error {
	switch {
	case len(c.NamePorts) > 0 && c.FlowStartBytes <= 0:
		return fmt.Errorf("FlowStartBytes %d: first bytes are copied from NamePorts, so it must be above 0", c.FlowStartBytes)
	case len(c.NamePorts) > 0 && c.MaxFlowStarts <= 0:
		return fmt.Errorf("MaxFlowStarts %d: first bytes are copied from NamePorts, so it must be above 0", c.MaxFlowStarts)
	case c.MaxPendingDatagrams <= 0:
		return fmt.Errorf("MaxPendingDatagrams %d: must be above 0", c.MaxPendingDatagrams)
	}
	return nil
}

// DefaultDecoderConfig returns the configuration netmon uses.
func DefaultDecoderConfig() DecoderConfig {
	return DecoderConfig{
		KeepPayloadPorts:    []uint16{53},
		NamePorts:           []uint16{80, 443, 853},
		FlowStartBytes:      DefaultFlowStartBytes,
		DevicePorts:         DefaultDevicePorts(),
		MaxFlowStarts:       DefaultMaxFlowStarts,
		MaxPendingDatagrams: DefaultMaxPendingDatagrams,
	}
}

// DefaultDevicePorts are the UDP ports of the protocols devices announce
// their names and addresses with: DHCP (67, 68), DHCPv6 (546, 547), NetBIOS
// name service (137) and multicast DNS (5353). They are a trickle next to
// the traffic netmon counts, so copying them costs nothing measurable.
func DefaultDevicePorts() []uint16 { return []uint16{67, 68, 137, 546, 547, 5353} }

// The packet times netmon represents: windows, the spool and the database
// hold times as nanoseconds since 1970 in an int64, which ends on
// 2262-04-11. MaxTime stops well short of that, so that the end of a
// window (at most a day long) is representable too. A pcapng timestamp is
// 64 bits of any unit, and reaches far past both ends.
var (
	MinTime = time.Unix(0, 0)
	MaxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Representable reports whether netmon can count a packet of time ts.
func Representable(ts time.Time) bool {
	return !ts.Before(MinTime) && ts.Before(MaxTime)
}

// maxBatchAge is how much packet time one batch may span. A batch is sent
// when it is full, when it would span more, when a live source is idle for
// its read timeout, and at the end.
const maxBatchAge = 100 * time.Millisecond

// stopGrace is how long Run waits, after its context ended, for the
// consumer to take the last batch. A consumer that still drains its input
// takes it at once; one that has stopped must not keep Run from returning.
const stopGrace = 2 * time.Second

// maxLinkSteps bounds the link-layer headers Run will open in one frame
// (tags, PPPoE): more is a crafted frame, not a network.
const maxLinkSteps = 6

// DecoderStats counts what the Decoder did with the frames it read. Each
// frame read lands in exactly one of Decoded, NotIP, OtherIP (when not
// emitted), Truncated, Malformed, UnsupportedEncap, BadTimestamp,
// FragmentsHeld and FragmentsDropped; the other counters give detail.
type DecoderStats struct {
	Read    uint64 // frames read from the source
	Decoded uint64 // Packets emitted; a reassembled datagram counts once
	// NotIP counts frames that carry no IP: ARP, LLDP, STP, PPP control
	// and PPPoE discovery, IPX...
	NotIP uint64
	// OtherIP counts IP packets whose transport is neither TCP nor UDP.
	// With DecoderConfig.OtherIP they are also in Decoded.
	OtherIP uint64
	// Truncated counts frames that end inside a header, cut by the snap
	// length or damaged.
	Truncated uint64
	// Malformed counts frames with impossible header values.
	Malformed uint64
	// UnsupportedEncap counts frames inside an encapsulation netmon does
	// not open: MPLS, 802.1ah, more than a few stacked headers.
	UnsupportedEncap uint64
	// BadTimestamp counts frames whose time netmon cannot represent
	// (before MinTime or from MaxTime on: a damaged or crafted file); they
	// are skipped, never wrapped into another time.
	BadTimestamp uint64
	// FragmentsHeld counts fragments stored until their datagram is whole.
	FragmentsHeld uint64
	// FragmentsDropped counts fragments refused: overlapping or oversized
	// ones, pieces of datagrams cut too small, and any while
	// MaxPendingDatagrams datagrams are already waiting.
	FragmentsDropped uint64
	// FragmentsExpired counts datagrams abandoned incomplete after 15 to
	// 30 s of packet time.
	FragmentsExpired uint64
	// Reassembled counts datagrams made whole; their Packets are in
	// Decoded, with the wire bytes of all their fragments.
	Reassembled uint64
	// PartialPayload counts emitted Packets whose payload the snap length
	// cut short. Their headers, and so their counts, are right.
	PartialPayload uint64
	// NameFlows counts TCP connections whose first client bytes were
	// watched for a server name.
	NameFlows uint64
	// NameFlowsEvicted counts watched connections forgotten at
	// MaxFlowStarts before their first bytes were all seen.
	NameFlowsEvicted uint64
	// NameFlowsStartedEvicted counts, of those, connections whose first
	// bytes had begun (a ClientHello or request in several segments):
	// evicted only when no connection without bytes yet was left.
	NameFlowsStartedEvicted uint64
	// NamePayloads counts packets whose payload was copied for the name
	// parsers (first bytes of TCP connections, QUIC long headers).
	NamePayloads uint64
	// Batches counts batches sent.
	Batches uint64
	// DroppedAtStop counts packets of the last batch that no consumer took
	// within the grace period after the context ended.
	DroppedAtStop uint64
}

type decoderCounters struct {
	read, decoded, notIP, otherIP, truncated, malformed, unsupported atomic.Uint64
	badTimestamp                                                     atomic.Uint64
	fragHeld, fragDropped, fragExpired, reassembled, partial         atomic.Uint64
	batches, droppedAtStop                                           atomic.Uint64
	nameFlows, nameFlowsEvicted, namePayloads                        atomic.Uint64
	nameFlowsStartedEvicted                                          atomic.Uint64
}

// Decoder turns raw frames into Packets. It is not safe for concurrent
// Runs; Stats may be called at any time.
type Decoder struct {
	cfg      DecoderConfig
	keepPort [65536 / 64]uint64 // bit set of KeepPayloadPorts
	nameBits [65536 / 64]uint64 // bit set of NamePorts
	devBits  [65536 / 64]uint64 // bit set of DevicePorts
	// mac is the link-layer source of the frame being decoded; zero when
	// its link type carries none.
	mac    [6]byte
	starts *flowStarts // nil when NamePorts is empty
	stats  decoderCounters

	// Layers are allocated once and reused for every frame; a
	// DecodingLayerParser per starting layer shares them.
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	ext     layers.IPv6ExtensionSkipper // routing and destination options
	frag    layers.IPv6Fragment
	tcp     layers.TCP
	udp     layers.UDP
	parsers [numParsers]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	reasm   *reassembler
	grace   time.Duration // stopGrace; tests shorten it
	noFast  bool          // tests: every frame through gopacket's layers
}

// NewDecoder returns a Decoder. It starts nothing. Callers start from
// DefaultDecoderConfig and change what they need; a configuration no
// Decoder can work with (a table bound of nothing) is a programming error,
// and NewDecoder panics naming the setting.
func NewDecoder(cfg DecoderConfig) *Decoder {
	if err := cfg.check(); err != nil {
		panic("capture.NewDecoder: " + err.Error())
	}
	d := &Decoder{
		cfg:     cfg,
		decoded: make([]gopacket.LayerType, 0, 16),
		reasm:   newReassembler(cfg.MaxPendingDatagrams),
		grace:   stopGrace,
	}
	for _, p := range cfg.KeepPayloadPorts {
		d.keepPort[p/64] |= 1 << (p % 64)
	}
	for _, p := range cfg.NamePorts {
		d.nameBits[p/64] |= 1 << (p % 64)
	}
	for _, p := range cfg.DevicePorts {
		d.devBits[p/64] |= 1 << (p % 64)
	}
	if len(cfg.NamePorts) > 0 {
		d.starts = newFlowStarts(cfg.FlowStartBytes, cfg.MaxFlowStarts)
	}
	// The skipper claims every IPv6 extension type; the fragment layer,
	// put after it, takes its own type back.
	var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range []gopacket.DecodingLayer{
		&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop,
		&d.ip4, &d.ip6, &d.ext, &d.frag, &d.tcp, &d.udp,
	} {
		dlc = dlc.Put(l)
	}
	for i, first := range [numParsers]gopacket.LayerType{
		linkEthernet: layers.LayerTypeEthernet,
		linkDot1Q:    layers.LayerTypeDot1Q,
		linkSLL:      layers.LayerTypeLinuxSLL,
		linkSLL2:     layers.LayerTypeLinuxSLL2,
		linkLoopback: layers.LayerTypeLoopback,
		linkIPv4:     layers.LayerTypeIPv4,
		linkIPv6:     layers.LayerTypeIPv6,
	} {
		p := gopacket.NewDecodingLayerParser(first)
		p.SetDecodingLayerContainer(dlc)
		// Stop quietly at the first layer without a decoder (DNS, TLS,
		// PPPoE...): what was decoded up to there is what we need.
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// Stats returns the counters so far, summed over all Runs.
func (d *Decoder) Stats() DecoderStats {
	c := &d.stats
	return DecoderStats{
		Read:                    c.read.Load(),
		Decoded:                 c.decoded.Load(),
		NotIP:                   c.notIP.Load(),
		OtherIP:                 c.otherIP.Load(),
		Truncated:               c.truncated.Load(),
		Malformed:               c.malformed.Load(),
		UnsupportedEncap:        c.unsupported.Load(),
		BadTimestamp:            c.badTimestamp.Load(),
		FragmentsHeld:           c.fragHeld.Load(),
		FragmentsDropped:        c.fragDropped.Load(),
		FragmentsExpired:        c.fragExpired.Load(),
		Reassembled:             c.reassembled.Load(),
		PartialPayload:          c.partial.Load(),
		NameFlows:               c.nameFlows.Load(),
		NameFlowsEvicted:        c.nameFlowsEvicted.Load(),
		NameFlowsStartedEvicted: c.nameFlowsStartedEvicted.Load(),
		NamePayloads:            c.namePayloads.Load(),
		Batches:                 c.batches.Load(),
		DroppedAtStop:           c.droppedAtStop.Load(),
	}
}

// Run reads src until its end (returns nil), until ctx ends (returns nil),
// or until a read fails (returns the error), and sends the decoded
// Packets to out in batches from GetBatch. In every case it first sends
// the batch in hand. It neither closes src nor out: the caller owns both.
func (d *Decoder) Run(ctx context.Context, src Source, out chan<- *Batch) error {
	lk, err := linkFor(src.LinkType())
	if err != nil {
		return err
	}
	d.reasm.reset()
	defer d.publishExpired()

	b := GetBatch()
	done := ctx.Done()
	// send hands b over and starts a new one; false means ctx ended first.
	send := func() bool {
		if len(b.Packets) == 0 {
			return true
		}
		select {
		case out <- b:
			d.stats.batches.Add(1)
			b = GetBatch()
			return true
		case <-done:
			return false
		}
	}
	for {
		select {
		case <-done:
			d.finish(ctx, b, out)
			return nil
		default:
		}
		data, ci, err := src.ReadPacketData()
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				// The interface is idle: deliver what we have now.
				if !send() {
					d.finish(ctx, b, out)
					return nil
				}
				continue
			}
			d.finish(ctx, b, out)
			if err == io.EOF {
				return nil
			}
			return err
		}
		d.stats.read.Add(1)
		if !Representable(ci.Timestamp) {
			d.stats.badTimestamp.Add(1)
			continue
		}
		// Decide on the batch's age before decoding: the payload of this
		// frame is copied into the batch it will travel in.
		if len(b.Packets) > 0 && ci.Timestamp.Sub(b.Packets[0].TS) > maxBatchAge && !send() {
			d.finish(ctx, b, out)
			return nil
		}
		d.decode(lk, data, ci, b)
		if len(b.Packets) >= BatchSize && !send() {
			d.finish(ctx, b, out)
			return nil
		}
	}
}

// finish sends the last batch and returns an empty one to the pool. It
// waits for the consumer as long as ctx lives, and at most stopGrace once
// ctx has ended.
func (d *Decoder) finish(ctx context.Context, b *Batch, out chan<- *Batch) {
	if len(b.Packets) == 0 {
		b.Release()
		return
	}
	select {
	case out <- b:
		d.stats.batches.Add(1)
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(d.grace)
	defer t.Stop()
	select {
	case out <- b:
		d.stats.batches.Add(1)
	case <-t.C:
		d.stats.droppedAtStop.Add(uint64(len(b.Packets)))
		b.Release()
	}
}

func (d *Decoder) publishExpired() {
	if n := d.reasm.expired; n > 0 {
		d.stats.fragExpired.Add(n)
		d.reasm.expired = 0
	}
}

// decode appends the Packet in one frame to b, or counts why there is
// none. It must never panic, whatever the bytes.
func (d *Decoder) decode(lk link, data []byte, ci gopacket.CaptureInfo, b *Batch) bool {
	if len(d.reasm.pending) > 0 {
		d.reasm.advance(ci.Timestamp)
		d.publishExpired()
	}
	// gopacket reports a frame shorter than its link header as an error
	// like any other; it is a cut frame.
	if len(data) < minLinkLen(lk) {
		d.stats.truncated.Add(1)
		return false
	}
	if lk == linkEthernet && !d.noFast && d.fast(data, ci, b) {
		return true
	}
	d.mac = [6]byte{}
	var ok bool
	switch lk {
	case linkRawIP:
		lk, ok = d.rawIP(data)
	case linkPPP:
		lk, data, ok = d.ppp(data)
	default:
		ok = true
	}
	if !ok {
		return false
	}
	for step := 0; ; step++ {
		p := d.parsers[lk]
		if err := p.DecodeLayers(data, &d.decoded); err != nil {
			d.countError(p, ci)
			return false
		}
		if step == 0 {
			d.sourceMAC(lk)
		}
		if ipAt := d.lastIP(); ipAt >= 0 {
			return d.fromIP(ipAt, p.Truncated, ci, b)
		}
		if step == maxLinkSteps {
			d.stats.unsupported.Add(1)
			return false
		}
		// The parser stopped in the link layers: see whether what
		// follows is something opened by hand.
		next, rest, known := d.linkPayload()
		if !known {
			d.stats.notIP.Add(1)
			return false
		}
		switch next {
		case 0x8100, 0x88a8, 0x9100:
			// 0x9100 is an old QinQ tag type gopacket does not know.
			lk, data = linkDot1Q, rest
		case layers.EthernetTypePPPoESession:
			if lk, data, ok = d.pppoe(rest); !ok {
				return false
			}
		case layers.EthernetTypeIPv4:
			lk, data = linkIPv4, rest // only reached with an empty payload
		case layers.EthernetTypeIPv6:
			lk, data = linkIPv6, rest
		case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast, 0x88e7:
			d.stats.unsupported.Add(1)
			return false
		default:
			d.stats.notIP.Add(1)
			return false
		}
	}
}

// countError files a frame the parser failed on under a reason: cut short
// (by the snap length or damage) or impossible.
func (d *Decoder) countError(p *gopacket.DecodingLayerParser, ci gopacket.CaptureInfo) {
	if p.Truncated || ci.CaptureLength < ci.Length {
		d.stats.truncated.Add(1)
	} else {
		d.stats.malformed.Add(1)
	}
}

// lastIP returns the index in d.decoded of the innermost IP header, or -1.
// Tunnels (IP in IP, 6in4) decode into the same layer, so the last one is
// the one the layer now holds.
func (d *Decoder) lastIP() int {
	for i := len(d.decoded) - 1; i >= 0; i-- {
		if t := d.decoded[i]; t == layers.LayerTypeIPv4 || t == layers.LayerTypeIPv6 {
			return i
		}
	}
	return -1
}

// fromIP builds the Packet from the layers decoded from index ipAt on.
func (d *Decoder) fromIP(ipAt int, snapped bool, ci gopacket.CaptureInfo, b *Batch) bool {
	p := Packet{TS: ci.Timestamp, WireLen: wireLen(ci)}
	var proto layers.IPProtocol
	v6 := d.decoded[ipAt] == layers.LayerTypeIPv6
	if v6 {
		p.Src = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
		p.Dst = netip.AddrFrom16([16]byte(d.ip6.DstIP))
		proto = d.ip6.NextHeader
		if d.ip6.HopByHop != nil {
			proto = d.ip6.HopByHop.NextHeader
		}
	} else {
		p.Src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
		p.Dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
		proto = d.ip4.Protocol
		if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
			if snapped {
				return d.snappedFragment(&p, d.ip4.FragOffset == 0, proto, d.ip4.Payload, b)
			}
			return d.fragment4(ci, b)
		}
	}
	for _, t := range d.decoded[ipAt+1:] {
		switch t {
		case layers.LayerTypeTCP, layers.LayerTypeUDP:
			return d.transport(&p, t, snapped, b)
		case layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6HopByHop:
			proto = d.ext.NextHeader
		case layers.LayerTypeIPv6Fragment:
			if d.frag.FragmentOffset != 0 || d.frag.MoreFragments {
				if snapped {
					return d.snappedFragment(&p, d.frag.FragmentOffset == 0, d.frag.NextHeader, d.frag.Payload, b)
				}
				return d.fragment6(ci, b)
			}
			proto = d.frag.NextHeader // an atomic fragment is whole
		}
	}
	if proto == layers.IPProtocolTCP || proto == layers.IPProtocolUDP {
		// The header says TCP or UDP but the frame ends before it.
		d.stats.truncated.Add(1)
		return false
	}
	return d.other(&p, proto, b)
}

// other handles an IP packet that carries neither TCP nor UDP.
func (d *Decoder) other(p *Packet, proto layers.IPProtocol, b *Batch) bool {
	d.stats.otherIP.Add(1)
	if !d.cfg.OtherIP {
		return false
	}
	p.Proto = uint8(proto)
	return d.emit(p, b)
}

// transport completes p from the TCP or UDP layer just decoded.
func (d *Decoder) transport(p *Packet, t gopacket.LayerType, snapped bool, b *Batch) bool {
	var payload []byte
	if t == layers.LayerTypeTCP {
		p.Proto = ProtoTCP
		p.SrcPort, p.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
		p.TCPFlags = d.tcp.Contents[13] & 0x1f
		p.Seq = d.tcp.Seq
		payload = d.tcp.Payload
	} else {
		p.Proto = ProtoUDP
		p.SrcPort, p.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		payload = d.udp.Payload
	}
	return d.finishTransport(p, payload, snapped, b)
}

// finishTransport copies the payload of p, whose transport fields are set,
// when a rule keeps it, and emits p.
func (d *Decoder) finishTransport(p *Packet, payload []byte, snapped bool, b *Batch) bool {
	switch {
	case len(payload) > 0 && (d.keeps(p.SrcPort) || d.keeps(p.DstPort)):
		p.Payload = b.keep(payload)
	case len(payload) > 0 && p.Proto == ProtoUDP && (d.devicePort(p.SrcPort) || d.devicePort(p.DstPort)):
		p.Payload = b.keep(payload)
	case d.keepStart(p, payload):
		p.Payload = b.keep(payload)
		d.stats.namePayloads.Add(1)
	}
	if snapped {
		d.stats.partial.Add(1)
	}
	return d.emit(p, b)
}

func (d *Decoder) emit(p *Packet, b *Batch) bool {
	p.SrcMAC = d.mac
	b.Packets = append(b.Packets, *p)
	d.stats.decoded.Add(1)
	return true
}

func (d *Decoder) keeps(port uint16) bool {
	return d.keepPort[port/64]&(1<<(port%64)) != 0
}

func (d *Decoder) devicePort(port uint16) bool {
	return d.devBits[port/64]&(1<<(port%64)) != 0
}
