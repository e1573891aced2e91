package resolver

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/dns"
	"github.com/netmon/netmon/resolver/firstbytes"
)

// Config bounds the learner's state.
type Config struct {
	// DNS bounds the reading of DNS answers: DNS-over-TCP streams, and the
	// queries UDP responses are matched to.
	DNS dns.Config

	// Flows is the most TCP and UDP flows followed for their names at
	// once; the flow idle longest goes first. Each costs about 300 bytes.
	Flows int
	// FlowIdle forgets a flow that carried nothing for this long, on
	// packet time. Its later packets, if any, count under the address's
	// name.
	FlowIdle time.Duration
	// FlowBytes bounds the first bytes read per flow, like the Decoder's
	// FlowStartBytes: a ClientHello or request head larger than this is
	// given up.
	FlowBytes int
	// FlowBuffers bounds the flows that buffer first bytes at once (those
	// whose name spans several packets), so that FlowBuffers × FlowBytes
	// bounds the memory they take.
	FlowBuffers int
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		DNS:   dns.DefaultConfig(),
		Flows: 32768, FlowIdle: 5 * time.Minute, FlowBytes: 16 << 10, FlowBuffers: 1024,
	}
}

// check reports a setting no learner can work with (the DNS settings are
// dns.New's to check).
func (c Config) check() error {
	if c.Flows <= 0 || c.FlowIdle <= 0 || c.FlowBytes <= 0 || c.FlowBuffers <= 0 {
		return fmt.Errorf("Flows %d, FlowIdle %s, FlowBytes %d, FlowBuffers %d: want all positive",
			c.Flows, c.FlowIdle, c.FlowBytes, c.FlowBuffers)
	}
	return nil
}

// Deps is what the learner is given besides its settings.
type Deps struct {
	Table *addrtable.Table // where DNS answers and flows' names go; required
}

// Stats are the learner's counters since it was made: the DNS reader's,
// and the flows'.
type Stats struct {
	dns.Stats

	// Flows followed for the names in their first bytes. Each one ends
	// named (NamesSNI + NamesHTTP + NamesQUIC), unnamed (FlowsUnnamed,
	// FlowLiterals, FlowBuffersFull), or forgotten while it waited
	// (FlowsEvicted); DNS-over-TLS flows without a name are named by port.
	Flows           uint64 // flows followed from their start (or from their first bytes)
	NamesSNI        uint64 // flows named by a TLS ClientHello
	NamesHTTP       uint64 // flows named by an HTTP request
	NamesQUIC       uint64 // flows named by a QUIC Initial (or a gQUIC CHLO)
	NamesOuter      uint64 // of those, outer names of an Encrypted ClientHello (or beside ESNI)
	NamesProxied    uint64 // of those, HTTP proxy requests: the flow is named, the proxy's address is not
	FlowsUnnamed    uint64 // flows whose first bytes held no name: no SNI, not TLS, HTTP or QUIC, too large
	FlowLiterals    uint64 // flows whose SNI or Host was an address literal or no host name
	FlowBuffersFull uint64 // flows given up because FlowBuffers flows were already buffering
	FlowsEvicted    uint64 // flows dropped at Flows while their name was still awaited
	// FlowsProtected counts flows promoted to the flow table's protected
	// segment: they named themselves and their server answered; FlowsProtectedEvicted
	// those evicted from it at Flows (only when probation was empty).
	FlowsProtected, FlowsProtectedEvicted uint64
	FlowsExpired                          uint64 // flows forgotten after FlowIdle (or after closing)
	InternResets                          uint64 // times the set of shared flow names started afresh

	QUICInitials       uint64 // Initial packets decrypted (and gQUIC CHLO packets read)
	QUICUndecryptable  uint64 // long-header packets that could not be parsed or opened
	QUICSkipped        uint64 // packets that cannot carry a ClientHello: 0-RTT, Handshake, short header, version negotiation
	QUICUnknownVersion uint64 // Initials of an unknown version that opened with version 1 keys
}

type counters struct {
	flows, namesSNI, namesHTTP, namesQUIC, namesOuter, namesProxied  atomic.Uint64
	flowsUnnamed, flowLiterals, flowBuffersFull, flowsEvicted        atomic.Uint64
	flowsExpired, flowsProtected, flowsProtectedEvicted              atomic.Uint64
	quicInitials, quicUndecryptable, quicSkipped, quicUnknownVersion atomic.Uint64
}

// Learner reads DNS responses off the wire into the address table (with
// package dns), and follows every other flow to read the name its first
// bytes give (TLS SNI, HTTP Host, QUIC Initial SNI, with package
// firstbytes) and mark the flow's packets with it. Learn must be called
// from one goroutine; Stats may be called from any.
type Learner struct {
	cfg   Config
	table *addrtable.Table
	dns   *dns.Reader

	// Flows and their names; scratch buffers of the first-bytes parsers.
	ft      flowTable
	intern  interner
	scratch []byte          // a ClientHello joined from several records
	nameBuf []byte          // a normalised name
	quic    firstbytes.QUIC // a QUIC packet's scratch

	c counters
}

// New returns a learner that writes into deps.Table. It panics on a Config
// that DefaultConfig did not come from and that no learner can work with.
func New(cfg Config, deps Deps) *Learner {
	if err := cfg.check(); err != nil {
		panic("resolver.New: " + err.Error())
	}
	if deps.Table == nil {
		panic("resolver.New: no Table")
	}
	return &Learner{cfg: cfg, table: deps.Table, dns: dns.New(cfg.DNS, dns.Deps{Table: deps.Table}), ft: newFlowTable()}
}

// Learn reads the DNS traffic in b (packets from and to port 53), and
// follows every other TCP and UDP flow: it sets Packet.Name on each packet
// of a flow that named its server, and Packet.Flow on packets of a flow
// whose name is still awaited.
func (l *Learner) Learn(b *capture.Batch) {
	for i := range b.Packets {
		p := &b.Packets[i]
		if l.dns.Packet(p) {
			continue
		}
		if p.Proto == capture.ProtoTCP || p.Proto == capture.ProtoUDP {
			l.flowPacket(p)
		}
	}
}

// Stats returns the counters.
func (l *Learner) Stats() Stats {
	c := &l.c
	return Stats{
		Stats: l.dns.Stats(),
		Flows: c.flows.Load(), NamesSNI: c.namesSNI.Load(), NamesHTTP: c.namesHTTP.Load(),
		NamesQUIC: c.namesQUIC.Load(), NamesOuter: c.namesOuter.Load(), NamesProxied: c.namesProxied.Load(),
		FlowsUnnamed: c.flowsUnnamed.Load(), FlowLiterals: c.flowLiterals.Load(),
		FlowBuffersFull: c.flowBuffersFull.Load(), FlowsEvicted: c.flowsEvicted.Load(),
		FlowsExpired: c.flowsExpired.Load(), InternResets: l.intern.resets.Load(),
		FlowsProtected: c.flowsProtected.Load(), FlowsProtectedEvicted: c.flowsProtectedEvicted.Load(),
		QUICInitials: c.quicInitials.Load(), QUICUndecryptable: c.quicUndecryptable.Load(),
		QUICSkipped: c.quicSkipped.Load(), QUICUnknownVersion: c.quicUnknownVersion.Load(),
	}
}

// TCP flag bits as capture.Packet carries them.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)
