package capture

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func benchFrames(b *testing.B) map[string][]byte {
	dns := []byte("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01" +
		"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x01")
	return map[string][]byte{
		"udp-dns": ether(0x0800, ipPacket(b, flow{proto: ProtoUDP, sport: 53, dport: 40000, payload: dns})),
		"tcp-443": ether(0x0800, ipPacket(b, flow{proto: ProtoTCP, sport: 40000, dport: 443, flags: 0x10,
			seq: 1, payload: make([]byte, 1400)})),
		"tcp-443-from-server": ether(0x0800, ipPacket(b, flow{proto: ProtoTCP, sport: 443, dport: 40000, back: true,
			flags: 0x10, seq: 1, payload: make([]byte, 1400)})),
		"vlan-tcp6-443": ether(0x8100, cat(tag(10, 0x86dd), ipPacket(b, flow{v6: true, proto: ProtoTCP, sport: 40000,
			dport: 443, flags: 0x10, seq: 1, payload: make([]byte, 1400)}))),
	}
}

// BenchmarkDecode measures decoding one in-memory frame into a batch,
// the per-packet work of Run without the source and the channel.
func BenchmarkDecode(b *testing.B) {
	for name, frame := range benchFrames(b) {
		b.Run(name, func(b *testing.B) {
			d := NewDecoder(DefaultDecoderConfig())
			batch := GetBatch()
			ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(frame), Length: len(frame)}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if !d.decode(linkEthernet, frame, ci, batch) {
					b.Fatal("not decoded")
				}
				if len(batch.Packets) == BatchSize {
					batch.Reset()
				}
			}
		})
	}
}

// loopSource returns the same frame n times.
type loopSource struct {
	frame []byte
	ci    gopacket.CaptureInfo
	n     int
}

func (s *loopSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if s.n == 0 {
		return nil, s.ci, io.EOF
	}
	s.n--
	return s.frame, s.ci, nil
}
func (s *loopSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (s *loopSource) Stats() (Stats, error)     { return Stats{}, nil }
func (s *loopSource) Close()                    {}

// BenchmarkRun measures Run end to end: reading, decoding, batching and
// handing batches to a consumer that releases them to the pool.
func BenchmarkRun(b *testing.B) {
	for name, frame := range benchFrames(b) {
		b.Run(name, func(b *testing.B) {
			src := &loopSource{frame: frame, ci: gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(frame), Length: len(frame)}}
			d := NewDecoder(DefaultDecoderConfig())
			out := make(chan *Batch, 8)
			done := make(chan struct{})
			go func() {
				for batch := range out {
					batch.Release()
				}
				close(done)
			}()
			// Warm the pool and the decoder, then measure.
			src.n = 100 * BatchSize
			if err := d.Run(context.Background(), src, out); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			src.n = b.N
			if err := d.Run(context.Background(), src, out); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			close(out)
			<-done
		})
	}
}

// BenchmarkFileSource measures reading a classic pcap file through
// OpenFile with the default filter: the record reader and the filter, the
// per-packet work of a replay before decoding.
func BenchmarkFileSource(b *testing.B) {
	frames := benchFrames(b)
	path := filepath.Join(b.TempDir(), "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	const records = 100_000
	names := []string{"udp-dns", "tcp-443", "tcp-443-from-server", "vlan-tcp6-443"}
	for i := range records {
		fr := frames[names[i%len(names)]]
		ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		src, err := OpenFile(path, DefaultFilter)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, _, err := src.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		src.Close()
	}
	if n != b.N*records {
		b.Fatalf("read %d records, want %d", n, b.N*records)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}
