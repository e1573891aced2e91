// Package capture owns packet sources (live libpcap handles, pcap and pcapng
// files, standard input), BPF filter validation, and decoding raw frames of
// every supported link type into small Packet values that later stages use.
package capture

import (
	"net/netip"
	"sync"
	"time"

	"github.com/netmon/netmon/resolver/source"
)

// Packet is the part of one frame that later stages need. It holds no
// pointer into the capture buffer: Payload, when present, is a copy.
type Packet struct {
	// TS is the capture timestamp from the pcap record header, never the
	// wall clock, so windows are the same live and on replay.
	TS time.Time
	// WireLen is the frame's length on the wire (not the captured length).
	WireLen uint32
	// Src and Dst are the innermost IP addresses.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the TCP or UDP ports; zero for other protocols.
	SrcPort, DstPort uint16
	// Proto is the IP protocol number of the transport (6 TCP, 17 UDP).
	Proto uint8
	// TCPFlags holds FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 for TCP.
	// Other bits (URG, ECE, CWR) are cleared, so that an ECN-setup SYN still
	// compares equal to SYN.
	TCPFlags uint8
	// SrcMAC is the link-layer source address: the Ethernet source (behind
	// any VLAN tags or PPPoE header), or the Linux cooked (SLL, SLL2)
	// address when it is 6 bytes long. It is zero when the link type has
	// none (raw IP, BSD loopback, PPP). It sits here, in padding the fields
	// around it leave, so that it makes a Packet no larger.
	SrcMAC [6]byte
	// Seq is the TCP sequence number; later stages reassemble streams with it.
	Seq uint32
	// Payload is a copy of the transport payload, kept only for packets the
	// Decoder was configured to keep: DNS (port 53) both ways, UDP datagrams
	// of the protocols devices announce themselves with (DHCP, mDNS, NetBIOS
	// name service; DecoderConfig.DevicePorts) both ways, and the first
	// bytes a client sends toward a name port (DecoderConfig.NamePorts); nil
	// otherwise. It is valid until the Batch that holds it is released.
	Payload []byte
	// Name is set by the learn stage on every packet of a flow whose first
	// bytes named its server (TLS SNI, HTTP Host, QUIC Initial SNI), once
	// that name is known. It points to a value the learn stage shares
	// between all packets of that name, so setting it costs no allocation.
	Name *FlowName
	// Flow is set by the learn stage while a flow's name is still awaited
	// (the handshake before the ClientHello, say), and on the packet that
	// brings the name: later stages then count the waiting packets under the
	// name that came. Zero when the flow's name is settled either way.
	Flow uint32
	// Dir is set by the resolve stage: which end is the remote service, or
	// that the packet is not counted at all. The Decoder leaves it zero.
	Dir Dir
}

// FlowName is the name a flow gave its server in its first bytes. The
// learn stage makes one per distinct name and reuses it.
type FlowName struct {
	// Domain is the server name, lower-cased, without port or final dot.
	// It is empty for a flow that named no server but whose protocol says
	// what it is (DNS-over-TLS without SNI): the address's name is used.
	Domain string
	// Source is where the name came from (sni, http, quic).
	Source source.Source
	// Nickname, when set, is the service label for the flow whatever its
	// domain: DNS-over-TLS for port 853, for example.
	Nickname string
	// Outer marks the public (outer) name of an Encrypted ClientHello, or
	// a ClientHello that also carried an encrypted (ESNI) name: the name the
	// user really asked for is hidden.
	Outer bool
}

// Dir says which end of a packet is the remote service.
type Dir uint8

// Verdicts of the resolve stage.
const (
	DirUnknown   Dir = iota // not classified yet
	DirSkip                 // not counted: DNS itself, both ends local, no address
	DirRemoteSrc            // the source is the remote service, the destination the client
	DirRemoteDst            // the destination is the remote service, the source the client
)

// Proto numbers used across the pipeline. A Packet with another Proto only
// exists when DecoderConfig.OtherIP is set; its ports are zero.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Batch carries many packets per channel send: one send per packet costs
// several times libpcap's own read time per packet.
type Batch struct {
	Packets []Packet
	// arenas back the Payload copies of this batch's packets; arenas[cur]
	// is being filled. They stay with the batch when it is released, so
	// that a pooled batch copies payloads without allocating.
	arenas [][]byte
	cur    int
}

// BatchSize is the number of packets a Batch holds at most.
const BatchSize = 256

// arenaSize is the size of a fresh payload arena: 256 DNS messages of
// typical size fit, so a batch of DNS usually needs one.
const arenaSize = 16 << 10

// maxPooledArena caps the arena bytes a pooled batch keeps: one burst of
// large payloads must not pin that much memory in every pooled batch.
const maxPooledArena = 256 << 10

// NewBatch returns an empty batch with room for BatchSize packets.
func NewBatch() *Batch {
	return &Batch{Packets: make([]Packet, 0, BatchSize), arenas: [][]byte{make([]byte, 0, arenaSize)}}
}

// batchPool recycles batches between the Decoder and the last stage that
// reads them, so that steady-state decoding allocates nothing. A sync.Pool
// holds no state a caller can observe, which is why it may be global.
var batchPool = sync.Pool{New: func() any { return NewBatch() }}

// GetBatch returns an empty batch from the pool. Give it back with Release
// once nothing refers to its packets or their payloads any more; a batch
// that is never released is simply garbage collected.
func GetBatch() *Batch {
	return batchPool.Get().(*Batch)
}

// Release empties b and returns it to the pool. Neither b nor the Payload
// of any of its packets may be used afterwards: the next user of the batch
// overwrites them.
func (b *Batch) Release() {
	b.trim()
	b.Reset()
	batchPool.Put(b)
}

// trim drops the arenas beyond maxPooledArena bytes.
func (b *Batch) trim() {
	kept, n := 0, 0
	for _, a := range b.arenas {
		if kept+cap(a) > maxPooledArena {
			break // keep allocates fresh, normal-sized ones when needed
		}
		kept += cap(a)
		n++
	}
	clear(b.arenas[n:])
	b.arenas = b.arenas[:n]
}

// Reset empties the batch for reuse, keeping its memory.
func (b *Batch) Reset() {
	clear(b.Packets)
	b.Packets = b.Packets[:0]
	for i := range b.arenas {
		b.arenas[i] = b.arenas[i][:0]
	}
	b.cur = 0
}

// keep copies p into the batch's arenas and returns the copy. When an
// arena is full the next one is used, or a fresh one started, so earlier
// copies stay valid.
func (b *Batch) keep(p []byte) []byte {
	for b.cur < len(b.arenas) && len(b.arenas[b.cur])+len(p) > cap(b.arenas[b.cur]) {
		b.cur++
	}
	if b.cur == len(b.arenas) {
		b.arenas = append(b.arenas, make([]byte, 0, max(arenaSize, len(p))))
	}
	a := b.arenas[b.cur]
	start := len(a)
	a = append(a, p...)
	b.arenas[b.cur] = a
	return a[start:len(a):len(a)]
}
