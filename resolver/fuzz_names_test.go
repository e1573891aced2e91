package resolver

import (
	"testing"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/firstbytes"
	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
)

// fuzzFlow feeds stream to a Learner as the first bytes of a TCP
// connection, cut into segments at the sizes cuts gives and with every
// other pair swapped, and checks what the learner made of it.
func fuzzFlow(t *testing.T, stream, cuts []byte) {
	l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.FlowBytes = 4096; c.FlowBuffers = 4 })
	// Beyond FlowBytes and maxPendingPackets the learner reads nothing
	// more; a larger input would only slow the fuzzer down.
	stream = stream[:min(len(stream), 8192)]
	ps := []capture.Packet{seg(0, dev, web, devPrt, 443, syn, 0, nil)}
	seq := uint32(1)
	for i := 0; len(stream) > 0; i++ {
		n := len(stream)
		if len(cuts) > 0 && i < 2*maxPendingPackets {
			n = min(n, int(cuts[i%len(cuts)])+1)
		}
		ps = append(ps, seg(1+i, dev, web, devPrt, 443, ack, seq, stream[:n]))
		seq += uint32(n)
		stream = stream[n:]
	}
	for i := 2; i < len(ps); i += 3 {
		ps[i-1], ps[i] = ps[i], ps[i-1]
	}
	ps = append(ps, seg(len(ps)+1, web, dev, 443, devPrt, ack, 1, nil))
	bt := batch(ps...)
	l.Learn(bt)
	for _, p := range bt.Packets {
		if p.Name == nil {
			continue
		}
		if n, ok := firstbytes.HostName(nil, []byte(p.Name.Domain)); !ok || string(n) != p.Name.Domain {
			t.Errorf("flow named %q, not a normalised host name", p.Name.Domain)
		}
	}
	if l.ft.buffering < 0 || l.ft.buffering > 4 {
		t.Errorf("%d flows buffering, bound 4", l.ft.buffering)
	}
	for _, f := range l.ft.entries {
		if f.first != nil && f.first.stream.Held() > 4096 {
			t.Errorf("%d bytes buffered, bound 4096", f.first.stream.Held())
		}
	}
}

// FuzzFlowTCP feeds arbitrary bytes to a Learner as a TCP client's first
// bytes, in segments out of order (FuzzTLS and FuzzHTTP in package
// firstbytes fuzz the parsers alone).
func FuzzFlowTCP(f *testing.F) {
	f.Add(fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "www.example.com"})), []byte{7})
	f.Add(fbt.Records(fbt.ClientHello(fbt.HelloOpts{SNI: "ech.example", ECH: true}), 10, 100), []byte{3, 200})
	f.Add(fbt.GoClientHello(f, "go.example"), []byte{})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n"), []byte{5})
	f.Add([]byte("CONNECT apache.org:443 HTTP/1.1\r\n\r\n"), []byte{})
	f.Add([]byte("GET http://u@h.example/p HTTP/1.0\n\n"), []byte{1, 2})
	for _, p := range fbt.SharedPayloads(f, 300, func(p *capture.Packet) bool {
		return p.Proto == capture.ProtoTCP && (p.Payload[0] == 0x16 || 'A' <= p.Payload[0] && p.Payload[0] <= 'Z')
	}) {
		f.Add(p, []byte{255})
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		fuzzFlow(t, stream, cuts)
	})
}

// FuzzFlowQUIC feeds two arbitrary datagrams to a Learner as a QUIC
// client's first ones.
func FuzzFlowQUIC(f *testing.F) {
	for _, seed := range fbt.QUICSeeds(f) {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		bt := batch(dgram(0, dev, web, devPrt, 443, a), dgram(1, dev, web, devPrt, 443, b))
		l := newLearner(addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{}), func(c *Config) { c.FlowBuffers = 4 })
		l.Learn(bt)
		for _, f := range l.ft.entries {
			if f.first != nil && f.first.quic.Crypto().Held() > l.cfg.FlowBytes {
				t.Errorf("%d CRYPTO bytes held, bound %d", f.first.quic.Crypto().Held(), l.cfg.FlowBytes)
			}
		}
	})
}
