package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

// TestFirstBytesKept checks which payloads the Decoder copies for the name
// parsers: a client's first FlowStartBytes on a TCP connection, whatever
// order its segments come in, and client datagrams with a QUIC long
// header; never what a server sends, nor bytes past the limit, nor a
// stream that does not start like TLS or HTTP.
func TestFirstBytesKept(t *testing.T) {
	hello := append([]byte{0x16, 3, 1, 0x10, 0}, bytes.Repeat([]byte{1}, 1000)...)
	tcp := func(sport, dport uint16, flags uint8, seq uint32, payload []byte) flow {
		f := flow{proto: ProtoTCP, sport: sport, dport: dport, flags: flags, seq: seq, payload: payload}
		if dport == 40000 || dport == 40001 {
			f.back = true
		}
		return f
	}
	udp := func(sport, dport uint16, payload []byte) flow {
		f := flow{proto: ProtoUDP, sport: sport, dport: dport, payload: payload}
		f.back = dport == 40000
		return f
	}
	const isn = 5000
	tests := []struct {
		name  string
		cfg   DecoderConfig
		flows []flow
		kept  []bool
		stats DecoderStats
	}{
		{"TLS after the handshake", DefaultDecoderConfig(), []flow{
			tcp(40000, 443, 0x02, isn, nil),
			tcp(443, 40000, 0x12, 9000, nil),
			tcp(40000, 443, 0x10, isn+1, nil),
			tcp(40000, 443, 0x18, isn+1, hello[:600]),
			tcp(443, 40000, 0x18, 9001, hello), // the server: never
			tcp(40000, 443, 0x18, isn+601, hello[600:]),
			tcp(40000, 443, 0x18, isn+1+DefaultFlowStartBytes-10, hello[:100]), // straddles the limit: still first bytes
			tcp(40000, 443, 0x18, isn+1+DefaultFlowStartBytes, hello[:100]),    // past it
			tcp(40000, 443, 0x18, isn+1, hello[:600]),                          // a retransmission: the limit is passed
		}, []bool{false, false, false, true, false, true, true, false, false},
			DecoderStats{NameFlows: 1, NamePayloads: 3}},
		{"out of order, no SYN", DefaultDecoderConfig(), []flow{
			tcp(40001, 80, 0x18, 700, []byte("Host: x\r\n\r\n")),
			tcp(40001, 80, 0x18, 600, []byte("GET / HTTP/1.1\r\n")), // earlier bytes: the stream starts here
			tcp(40001, 80, 0x18, 800, []byte("next request")),
		}, []bool{true, true, true}, DecoderStats{NameFlows: 1, NamePayloads: 3}},
		{"not TLS or HTTP", DefaultDecoderConfig(), []flow{
			tcp(40000, 443, 0x02, isn, nil),
			tcp(40000, 443, 0x18, isn+1, []byte{0, 0, 0, 1}),
			tcp(40000, 443, 0x18, isn+5, hello),
		}, []bool{false, false, false}, DecoderStats{NameFlows: 1}},
		{"TCP Fast Open", DefaultDecoderConfig(), []flow{tcp(40000, 443, 0x02, isn, hello)}, []bool{true},
			DecoderStats{NameFlows: 1, NamePayloads: 1}},
		{"any port after a SYN", DefaultDecoderConfig(), []flow{
			tcp(40000, 8443, 0x02, isn, nil),
			tcp(40000, 8443, 0x18, isn+1, hello),
			tcp(40001, 8443, 0x18, isn+1, hello), // no SYN, not a name port
		}, []bool{false, true, false}, DecoderStats{NameFlows: 1, NamePayloads: 1}},
		{"QUIC", DefaultDecoderConfig(), []flow{
			udp(40000, 443, []byte{0xc3, 0, 0, 0, 1}),
			udp(40000, 443, []byte{0x43, 1, 2, 3}), // short header
			udp(443, 40000, []byte{0xc3, 0, 0, 0, 1}),
			udp(40000, 853, []byte{0xc3, 0, 0, 0, 1}),
			udp(40000, 443, []byte("\x0d\x01\x02\x03\x04\x05\x06\x07\x08Q043\x01")), // gQUIC public header
		}, []bool{true, false, false, true, true}, DecoderStats{NamePayloads: 3}},
		{"turned off", with(func(c *DecoderConfig) { c.NamePorts = nil }), []flow{
			tcp(40000, 443, 0x02, isn, nil), tcp(40000, 443, 0x18, isn+1, hello), udp(40000, 443, []byte{0xc3}),
		}, []bool{false, false, false}, DecoderStats{}},
		{"FIN ends the watch", DefaultDecoderConfig(), []flow{
			tcp(40000, 80, 0x02, isn, nil), tcp(40000, 80, 0x11, isn+1, nil), tcp(40000, 80, 0x18, isn+1, []byte("GET")),
		}, []bool{false, false, true}, DecoderStats{NameFlows: 2, NamePayloads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []record
			for i, f := range tt.flows {
				recs = append(recs, rec(t0.Add(time.Duration(i)*time.Millisecond), ether(0x0800, ipPacket(t, f))))
			}
			got, st, err := collect(t, &memSource{lt: layers.LinkTypeEthernet, recs: recs}, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var kept []bool
			for i, p := range got {
				kept = append(kept, p.Payload != nil)
				if p.Payload != nil && !bytes.Equal(p.Payload, tt.flows[i].payload) {
					t.Errorf("packet %d: payload differs from the frame's", i)
				}
			}
			if d := cmp.Diff(tt.kept, kept); d != "" {
				t.Errorf("kept (-want +got):\n%s", d)
			}
			st.Read, st.Decoded, st.Batches = 0, 0, 0
			if d := cmp.Diff(tt.stats, st); d != "" {
				t.Errorf("stats (-want +got):\n%s", d)
			}
		})
	}
}

// TestFirstBytesBounded fills the table past MaxFlowStarts: it stays
// bounded, and forgetting connections that still wait for their first
// bytes is counted.
func TestFirstBytesBounded(t *testing.T) {
	d := NewDecoder(with(func(c *DecoderConfig) { c.MaxFlowStarts = 64 }))
	b := GetBatch()
	defer b.Release()
	for i := range 1000 {
		p := Packet{TS: t0, Src: client4, Dst: server4, SrcPort: uint16(10000 + i), DstPort: 443, Proto: ProtoTCP, TCPFlags: 0x02}
		d.keepStart(&p, nil)
		if n := len(d.starts.m); n > 64 {
			t.Fatalf("%d connections watched, cap 64", n)
		}
	}
	if st := d.Stats(); st.NameFlows != 1000 || st.NameFlowsEvicted == 0 || st.NameFlowsEvicted > 1000-64 {
		t.Errorf("stats %+v: want 1000 watched and up to 936 evicted", st)
	}
	// Idle connections are swept without counting as evictions.
	p := Packet{TS: t0.Add(10 * time.Minute), Src: client4, Dst: server4, SrcPort: 1, DstPort: 443, Proto: ProtoTCP, TCPFlags: 0x02}
	d.keepStart(&p, nil)
	if n := len(d.starts.m); n != 1 {
		t.Errorf("%d connections left after the idle sweep, want 1", n)
	}
}
