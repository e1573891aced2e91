package dns

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
	"github.com/netmon/netmon/resolver/source"
)

// cmpOpts lets go-cmp compare netip values, whose fields are unexported.
var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}

// appendRecord appends one raw answer (owner name bytes as given, type A)
// and bumps ANCOUNT, to build damage the Builder refuses to write.
func appendRecord(msg, owner []byte) []byte {
	out := append([]byte(nil), msg...)
	out = append(out, owner...)
	out = append(out, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 9, 9, 9, 9)
	binary.BigEndian.PutUint16(out[6:], binary.BigEndian.Uint16(out[6:])+1)
	return out
}

func TestLearnUDP(t *testing.T) {
	good := response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})
	threeA := response("multi.example", []dnsmessage.Resource{
		rrA("multi.example", "198.51.100.1"), rrA("multi.example", "198.51.100.2"), rrA("multi.example", "198.51.100.3"),
	})
	dnssec := response("signed.example", []dnsmessage.Resource{
		rrA("signed.example", "198.51.100.1"), rrA("signed.example", "198.51.100.2"), rrSig("signed.example", 120),
	})
	// The question is a pointer to itself.
	qLoop := []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}
	// The second answer's owner is a pointer to itself.
	aLoop := appendRecord(good, []byte{0xC0, byte(len(good))})
	// The second answer's owner points past the end.
	aPastEnd := appendRecord(good, []byte{0xC0, 0xF0})

	tests := []struct {
		name  string
		msg   []byte
		want  []source.Record
		stats Stats
	}{
		{
			name:  "A",
			msg:   good,
			want:  []source.Record{att.DNSRec(t0, "198.51.100.1", "a.example")},
			stats: Stats{Addresses: 1},
		},
		{
			name: "AAAA and A",
			msg: response("dual.example", []dnsmessage.Resource{
				rrAAAA("dual.example", "2001:db8::1"), rrA("dual.example", "198.51.100.7"),
			}),
			want: []source.Record{
				att.DNSRec(t0, "198.51.100.7", "dual.example"),
				att.DNSRec(t0, "2001:db8::1", "dual.example"),
			},
			stats: Stats{Addresses: 2},
		},
		{
			name: "CNAME chain maps to the question",
			msg: response("www.github.com", []dnsmessage.Resource{
				rrCNAME("www.github.com", "github.com"), rrA("github.com", "140.82.112.3"),
			}),
			want:  []source.Record{att.DNSRec(t0, "140.82.112.3", "www.github.com")},
			stats: Stats{Addresses: 1},
		},
		{
			name: "long chain listed backwards",
			msg: response("www.apple.com", []dnsmessage.Resource{
				rrA("e6858.dscx.akamaiedge.net", "23.1.2.3"),
				rrAAAA("e6858.dscx.akamaiedge.net", "2a02:26f0::1"),
				rrCNAME("www.apple.com.edgekey.net", "www.apple.com.edgekey.net.globalredir.akadns.net"),
				rrCNAME("www.apple.com.edgekey.net.globalredir.akadns.net", "e6858.dscx.akamaiedge.net"),
				rrCNAME("www.apple.com", "www.apple.com.edgekey.net"),
			}),
			want: []source.Record{
				att.DNSRec(t0, "23.1.2.3", "www.apple.com"),
				att.DNSRec(t0, "2a02:26f0::1", "www.apple.com"),
			},
			stats: Stats{Addresses: 2},
		},
		{
			name: "answer off the chain is not learned",
			msg: response("www.example.com", []dnsmessage.Resource{
				rrCNAME("www.example.com", "edge.example.net"), rrA("edge.example.net", "198.51.100.1"),
				rrA("unrelated.example.org", "198.51.100.9"),
			}),
			want:  []source.Record{att.DNSRec(t0, "198.51.100.1", "www.example.com")},
			stats: Stats{Addresses: 1, OffChain: 1},
		},
		{
			// A poisoner's answer: the question is its own name, the
			// record names a bank's... with the attacker's address.
			name:  "question evil.test, answer bank.example",
			msg:   response("evil.test", []dnsmessage.Resource{rrA("bank.example", "198.51.100.23")}),
			stats: Stats{OffChain: 1},
		},
		{
			// A CNAME that does not start at the question is no chain.
			name: "CNAME off the chain",
			msg: response("evil.test", []dnsmessage.Resource{
				rrCNAME("bank.example", "evil.test"), rrA("bank.example", "198.51.100.23"), rrA("evil.test", "198.51.100.24"),
			}),
			want:  []source.Record{att.DNSRec(t0, "198.51.100.24", "evil.test")},
			stats: Stats{Addresses: 1, OffChain: 1},
		},
		{
			name: "CNAME loop ends",
			msg: response("a.loop.example", []dnsmessage.Resource{
				rrCNAME("a.loop.example", "b.loop.example"), rrCNAME("b.loop.example", "a.loop.example"),
				rrA("b.loop.example", "198.51.100.4"),
			}),
			want:  []source.Record{att.DNSRec(t0, "198.51.100.4", "a.loop.example")},
			stats: Stats{Addresses: 1},
		},
		{
			name: "case folded, other bytes kept",
			msg: response("WWW.Ex\xC9ample.COM.", []dnsmessage.Resource{
				rrCNAME("www.EX\xC9AMPLE.com.", "CDN.Example.NET."), rrA("cdn.example.net.", "198.51.100.5"),
			}),
			want:  []source.Record{att.DNSRec(t0, "198.51.100.5", "www.ex\xC9ample.com")},
			stats: Stats{Addresses: 1},
		},
		{
			name:  "no question: nothing to anchor a chain",
			msg:   response("", []dnsmessage.Resource{rrA("bare.example", "198.51.100.6")}),
			stats: Stats{OffChain: 1},
		},
		{
			name:  "4-in-6 AAAA is the IPv4 address",
			msg:   response("mapped.example", []dnsmessage.Resource{rrAAAA("mapped.example", "::ffff:198.51.100.8")}),
			want:  []source.Record{att.DNSRec(t0, "198.51.100.8", "mapped.example")},
			stats: Stats{Addresses: 1},
		},
		{
			name:  "NXDOMAIN",
			msg:   response("nope.example", nil, nxdomain),
			stats: Stats{RCode: 1},
		},
		{
			name:  "SERVFAIL with an answer",
			msg:   response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")}, servfail),
			stats: Stats{RCode: 1},
		},
		{
			name:  "query from port 53",
			msg:   response("a.example", nil, query),
			stats: Stats{NotResponse: 1},
		},
		{
			name:  "NOTIFY",
			msg:   response("a.example", nil, notifyOp),
			stats: Stats{Opcode: 1},
		},
		{
			name:  "TC bit: what is there is used",
			msg:   response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")}, truncBit),
			want:  []source.Record{att.DNSRec(t0, "198.51.100.1", "a.example")},
			stats: Stats{Addresses: 1, TCBit: 1},
		},
		{
			name:  "blocker answer 0.0.0.0",
			msg:   response("ads.example", []dnsmessage.Resource{rrA("ads.example", "0.0.0.0"), rrAAAA("ads.example", "::")}),
			stats: Stats{Unspecified: 2},
		},
		{
			name: "TXT only",
			msg:  response("txt.example", []dnsmessage.Resource{rrTXT("txt.example", "v=spf1 -all")}),
		},
		{
			name: "cut inside the third A keeps two",
			msg:  threeA[:len(threeA)-2],
			want: []source.Record{
				att.DNSRec(t0, "198.51.100.1", "multi.example"),
				att.DNSRec(t0, "198.51.100.2", "multi.example"),
			},
			stats: Stats{Addresses: 2, Truncated: 1},
		},
		{
			name: "DNSSEC answer cut inside the RRSIG",
			msg:  dnssec[:len(dnssec)-60],
			want: []source.Record{
				att.DNSRec(t0, "198.51.100.1", "signed.example"),
				att.DNSRec(t0, "198.51.100.2", "signed.example"),
			},
			stats: Stats{Addresses: 2, Truncated: 1},
		},
		{
			name:  "cut inside the question",
			msg:   good[:15],
			stats: Stats{Malformed: 1},
		},
		{
			name:  "shorter than a header",
			msg:   good[:7],
			stats: Stats{Malformed: 1},
		},
		{
			name:  "question pointer loop",
			msg:   qLoop,
			stats: Stats{Malformed: 1},
		},
		{
			name:  "answer pointer loop keeps the answer before",
			msg:   aLoop,
			want:  []source.Record{att.DNSRec(t0, "198.51.100.1", "a.example")},
			stats: Stats{Addresses: 1, Truncated: 1},
		},
		{
			name:  "answer pointer past the end keeps the answer before",
			msg:   aPastEnd,
			want:  []source.Record{att.DNSRec(t0, "198.51.100.1", "a.example")},
			stats: Stats{Addresses: 1, Truncated: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := att.NewClock()
			tab := att.New(c)
			l := newReader(tab)
			l.learn(batch(udpPacket(t0, tt.msg)))
			if diff := cmp.Diff(att.Learned(tab), tt.want, cmpOpts); diff != "" {
				t.Errorf("records (-got +want):\n%s", diff)
			}
			tt.stats.Packets, tt.stats.Messages = 1, 1
			if diff := cmp.Diff(l.Stats(), tt.stats, cmpOpts); diff != "" {
				t.Errorf("stats (-got +want):\n%s", diff)
			}
		})
	}
}

func TestLearnSkipsOtherPackets(t *testing.T) {
	tab := att.New(att.NewClock())
	l := newReader(tab)
	msg := response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})
	toServer := udpPacket(t0, msg)
	toServer.SrcPort, toServer.DstPort = 50000, 53
	empty := udpPacket(t0, nil)
	other := udpPacket(t0, msg)
	other.Proto = 1
	l.learn(batch(toServer, empty, other))
	if got := att.Learned(tab); len(got) != 0 {
		t.Errorf("learned %v from packets that are not responses", got)
	}
	if diff := cmp.Diff(l.Stats(), Stats{Packets: 1, NoPayload: 1}, cmpOpts); diff != "" {
		t.Errorf("stats (-got +want):\n%s", diff)
	}
}

// TestLearnRepeat checks that an answer seen again refreshes the entry
// without telling Drain, and that a changed answer does tell it.
func TestLearnRepeat(t *testing.T) {
	c := att.NewClock()
	tab := att.New(c)
	l := newReader(tab)
	msg := response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})
	l.learn(batch(udpPacket(t0, msg)))
	l.learn(batch(udpPacket(t0.Add(time.Second), msg)))
	if diff := cmp.Diff(att.Learned(tab), []source.Record{att.DNSRec(t0, "198.51.100.1", "a.example")}, cmpOpts); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
	if s := l.Stats(); s.Addresses != 2 || s.Known != 1 {
		t.Errorf("Addresses, Known = %d, %d; want 2, 1", s.Addresses, s.Known)
	}
	moved := response("b.example", []dnsmessage.Resource{rrA("b.example", "198.51.100.1")})
	l.learn(batch(udpPacket(t0.Add(2*time.Second), moved)))
	if diff := cmp.Diff(att.Learned(tab), []source.Record{att.DNSRec(t0.Add(2*time.Second), "198.51.100.1", "b.example")}, cmpOpts); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
}

func TestLearnTooManyAnswers(t *testing.T) {
	var rs []dnsmessage.Resource
	for i := range maxAnswers + 10 {
		rs = append(rs, rrA("many.example", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()))
	}
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
	l := newReader(tab)
	l.learn(batch(udpPacket(t0, response("many.example", rs))))
	if s := l.Stats(); s.Addresses != maxAnswers || s.TooMany != 1 {
		t.Errorf("Addresses, TooMany = %d, %d; want %d, 1", s.Addresses, s.TooMany, maxAnswers)
	}
}

func FuzzDNS(f *testing.F) {
	f.Add(response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")}))
	f.Add(response("www.github.com", []dnsmessage.Resource{rrCNAME("www.github.com", "github.com"), rrA("github.com", "140.82.112.3")}))
	f.Add(response("dual.example", []dnsmessage.Resource{rrAAAA("dual.example", "2001:db8::1"), rrSig("dual.example", 40)}))
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1})
	for _, p := range fbt.SharedPayloads(f, 300, func(p *capture.Packet) bool { return p.Proto == capture.ProtoUDP && p.SrcPort == 53 }) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
		l := newReader(tab)
		l.learn(batch(udpPacket(t0, msg)))
		for _, r := range tab.Drain(nil) {
			if r.Domain == "" || !r.Addr.IsValid() || r.Addr.IsUnspecified() {
				t.Errorf("learned a bad record %+v", r)
			}
		}
		if s := l.Stats(); len(msg) > 0 && s.Messages != 1 {
			t.Errorf("Messages = %d, want 1", s.Messages)
		}
	})
}

// FuzzDNSTCP cuts the input into segments at the sizes its first bytes
// give and delivers them with some reordering.
func FuzzDNSTCP(f *testing.F) {
	m := response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})
	f.Add(append([]byte{3, 5, 1}, frame(m, m)...))
	for _, p := range fbt.SharedPayloads(f, 50, func(p *capture.Packet) bool { return p.Proto == capture.ProtoTCP && p.SrcPort == 53 }) {
		f.Add(append([]byte{255, 100, 7}, p...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		sizes, stream := data[:3], data[3:]
		tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
		l := newReader(tab, func(c *Config) { c.TCPFlowBytes = 4096 })
		var ps []capture.Packet
		seq := uint32(1 << 31)
		for i := 0; len(stream) > 0; i++ {
			n := min(len(stream), int(sizes[i%3])+1)
			ps = append(ps, tcpPacket(t0, 0, seq, stream[:n]))
			seq += uint32(n)
			stream = stream[n:]
		}
		for i := 1; i < len(ps); i += 3 {
			ps[i-1], ps[i] = ps[i], ps[i-1]
		}
		l.learn(batch(ps...))
		for _, r := range tab.Drain(nil) {
			if r.Domain == "" {
				t.Errorf("learned an empty name for %v", r.Addr)
			}
		}
	})
}

// BenchmarkLearnKnown measures the common case: an answer whose mapping the
// table already holds. It must not allocate.
func BenchmarkLearnKnown(b *testing.B) {
	for _, bc := range []struct {
		name string
		msg  []byte
	}{
		{"A", response("a.example", []dnsmessage.Resource{rrA("a.example", "198.51.100.1")})},
		{"CNAME+4A", response("www.github.com", []dnsmessage.Resource{
			rrCNAME("www.github.com", "github.com"),
			rrA("github.com", "140.82.112.3"), rrA("github.com", "140.82.112.4"),
			rrA("github.com", "140.82.113.3"), rrA("github.com", "140.82.113.4"),
		})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
			l := newReader(tab)
			bt := batch(udpPacket(t0, bc.msg))
			l.learn(bt)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				l.learn(bt)
			}
		})
	}
}

func TestLearnKnownDoesNotAllocate(t *testing.T) {
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
	l := newReader(tab)
	bt := batch(udpPacket(t0, response("www.github.com", []dnsmessage.Resource{
		rrCNAME("www.github.com", "github.com"), rrA("github.com", "140.82.112.3"), rrAAAA("github.com", "2001:db8::3"),
	})))
	l.learn(bt)
	if n := testing.AllocsPerRun(100, func() { l.learn(bt) }); n != 0 {
		t.Errorf("Learn of a known answer: %v allocations, want 0", n)
	}
}

// HTTPS/SVCB answers: their address hints name the addresses like A/AAAA.
func TestLearnSVCBHints(t *testing.T) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, Response: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: mustName("www.example.com"), Type: dnsmessage.TypeHTTPS, Class: dnsmessage.ClassINET})
	_ = b.StartAnswers()
	_ = b.CNAMEResource(hdr("www.example.com", dnsmessage.TypeCNAME, 300), dnsmessage.CNAMEResource{CNAME: mustName("cdn.example.net")})
	r := dnsmessage.SVCBResource{Priority: 1, Target: mustName(".")}
	r.SetParam(dnsmessage.SVCParamALPN, []byte("\x02h3"))
	r.SetParam(dnsmessage.SVCParamIPv4Hint, []byte{198, 51, 100, 1, 198, 51, 100, 2})
	r.SetParam(dnsmessage.SVCParamIPv6Hint, netip.MustParseAddr("2001:db8::1").AsSlice())
	if err := b.HTTPSResource(hdr("cdn.example.net", dnsmessage.TypeHTTPS, 300), dnsmessage.HTTPSResource{SVCBResource: r}); err != nil {
		t.Fatal(err)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{})
	l := newReader(tab)
	l.learn(batch(udpPacket(t0, msg)))
	svcb := func(a string) source.Record {
		return source.Record{TS: t0, Addr: netip.MustParseAddr(a), Domain: "www.example.com", Source: source.SVCB}
	}
	want := []source.Record{svcb("198.51.100.1"), svcb("198.51.100.2"), svcb("2001:db8::1")}
	if d := cmp.Diff(want, att.Learned(tab), cmpOpts); d != "" {
		t.Errorf("learned (-want +got):\n%s", d)
	}
	if s := l.Stats(); s.SVCBHints != 3 || s.Addresses != 3 {
		t.Errorf("stats %+v, want 3 hints", s)
	}
}
