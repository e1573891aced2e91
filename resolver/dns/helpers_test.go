package dns

import (
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
)

// t0 is the packet and wall time tests start at.
var t0 = att.T0

// mustName makes a wire name; the Builder wants the root dot.
func mustName(s string) dnsmessage.Name {
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	n, err := dnsmessage.NewName(s)
	if err != nil {
		panic(err)
	}
	return n
}

func hdr(name string, typ dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: mustName(name), Type: typ, Class: dnsmessage.ClassINET, TTL: ttl}
}

func rrA(name, ip string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeA, 300), Body: &dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()}}
}

func rrAAAA(name, ip string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeAAAA, 300), Body: &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(ip).As16()}}
}

func rrCNAME(name, target string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeCNAME, 300), Body: &dnsmessage.CNAMEResource{CNAME: mustName(target)}}
}

func rrTXT(name, txt string) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeTXT, 300), Body: &dnsmessage.TXTResource{TXT: []string{txt}}}
}

// rrSig stands in for an RRSIG: an unknown type with a long body, as in
// DNSSEC answers that snaplen cuts short.
func rrSig(name string, n int) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, 46, 300), Body: &dnsmessage.UnknownResource{Type: 46, Data: make([]byte, n)}}
}

type msgOpt func(*dnsmessage.Header)

func query(h *dnsmessage.Header)    { h.Response = false }
func nxdomain(h *dnsmessage.Header) { h.RCode = dnsmessage.RCodeNameError }
func truncBit(h *dnsmessage.Header) { h.Truncated = true }
func notifyOp(h *dnsmessage.Header) { h.OpCode = 4 }
func servfail(h *dnsmessage.Header) { h.RCode = dnsmessage.RCodeServerFailure }

// response builds a DNS response to a question for q (none when q is "")
// holding answers, compressed as servers send them.
func response(q string, answers []dnsmessage.Resource, opts ...msgOpt) []byte {
	h := dnsmessage.Header{ID: 0x1234, Response: true, RecursionDesired: true, RecursionAvailable: true}
	for _, o := range opts {
		o(&h)
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		panic(err)
	}
	if q != "" {
		if err := b.Question(dnsmessage.Question{Name: mustName(q), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}); err != nil {
			panic(err)
		}
	}
	if err := b.StartAnswers(); err != nil {
		panic(err)
	}
	for _, r := range answers {
		var err error
		switch body := r.Body.(type) {
		case *dnsmessage.AResource:
			err = b.AResource(r.Header, *body)
		case *dnsmessage.AAAAResource:
			err = b.AAAAResource(r.Header, *body)
		case *dnsmessage.CNAMEResource:
			err = b.CNAMEResource(r.Header, *body)
		case *dnsmessage.TXTResource:
			err = b.TXTResource(r.Header, *body)
		case *dnsmessage.UnknownResource:
			err = b.UnknownResource(r.Header, *body)
		default:
			panic("unsupported resource in test")
		}
		if err != nil {
			panic(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		panic(err)
	}
	return msg
}

var (
	server = netip.MustParseAddr("192.168.1.1")
	client = netip.MustParseAddr("192.168.1.23")
)

func udpPacket(ts time.Time, payload []byte) capture.Packet {
	return capture.Packet{TS: ts, WireLen: uint32(42 + len(payload)), Src: server, Dst: client,
		SrcPort: 53, DstPort: 50000, Proto: capture.ProtoUDP, Payload: payload}
}

func batch(ps ...capture.Packet) *capture.Batch {
	b := capture.NewBatch()
	b.Packets = append(b.Packets, ps...)
	return b
}

// newTableWith is an address table with the default settings changed by set.
func newTableWith(set func(*addrtable.Config), deps addrtable.Deps) *addrtable.Table {
	cfg := addrtable.DefaultConfig()
	set(&cfg)
	return addrtable.New(cfg, deps)
}

// Endpoints of the flows built in these tests.
var ()

// seg builds a TCP packet; ms is packet time in milliseconds after t0.
func seg(ms int, src, dst netip.Addr, sport, dport uint16, flags uint8, seq uint32, payload []byte) capture.Packet {
	return capture.Packet{TS: t0.Add(time.Duration(ms) * time.Millisecond), WireLen: uint32(54 + len(payload)),
		Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: capture.ProtoTCP, TCPFlags: flags, Seq: seq,
		Payload: payload}
}

// newReader is a reader over tab with the default settings changed by set.
func newReader(tab *addrtable.Table, set ...func(*Config)) *Reader {
	cfg := DefaultConfig()
	for _, s := range set {
		s(&cfg)
	}
	return New(cfg, Deps{Table: tab})
}

// learn hands the reader every packet of b, as the learner does.
func (rd *Reader) learn(b *capture.Batch) {
	for i := range b.Packets {
		rd.Packet(&b.Packets[i])
	}
}
