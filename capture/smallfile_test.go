package capture

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// A small capture file is read through a buffer of its own size, not the
// 256 KiB one a large file gets (replays of many small files allocated
// that for each), and every record still comes out.
func TestSmallFileBuffer(t *testing.T) {
	t.Parallel()
	for _, sizes := range [][]int{{60}, {60, 1500, 60}, {9000}} {
		path := filepath.Join(t.TempDir(), "small.pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, n := range sizes {
			data := make([]byte, n)
			data[0] = byte(i + 1)
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Second), CaptureLength: n, Length: n}, data); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		src, err := OpenFile(path, "")
		if err != nil {
			t.Fatal(err)
		}
		gs, ok := src.(*goFileSource)
		if !ok {
			t.Fatalf("%T, want the Go reader", src)
		}
		if got := len(gs.r.buf); got >= fileReadBuffer || int64(got) < st.Size() {
			t.Errorf("a %d-byte file reads through %d bytes of buffer; want the file's size and a little", st.Size(), got)
		}
		for i, n := range sizes {
			data, ci, err := src.ReadPacketData()
			if err != nil || len(data) != n || data[0] != byte(i+1) || ci.Length != n {
				t.Fatalf("record %d: %d bytes (first %v), %v; want %d", i, len(data), data[:min(1, len(data))], err, n)
			}
		}
		if _, _, err := src.ReadPacketData(); err != io.EOF {
			t.Errorf("after the last record: %v, want EOF", err)
		}
		src.Close()
	}
}

// ClassicHeader says yes exactly to the headers OpenFile takes as classic
// pcap: both byte orders, micro- and nanoseconds, version 2.4 only.
func TestClassicHeader(t *testing.T) {
	t.Parallel()
	header := func(magic uint32, big bool, major, minor uint16) []byte {
		h := make([]byte, 24)
		var order binary.ByteOrder = binary.LittleEndian
		if big {
			order = binary.BigEndian
		}
		order.PutUint32(h[0:4], magic)
		order.PutUint16(h[4:6], major)
		order.PutUint16(h[6:8], minor)
		order.PutUint32(h[16:20], 65535)
		order.PutUint32(h[20:24], uint32(layers.LinkTypeEthernet))
		return h
	}
	for _, c := range []struct {
		name string
		head []byte
		want bool
	}{
		{"little-endian µs", header(0xa1b2c3d4, false, 2, 4), true},
		{"big-endian µs", header(0xa1b2c3d4, true, 2, 4), true},
		{"little-endian ns", header(0xa1b23c4d, false, 2, 4), true},
		{"big-endian ns", header(0xa1b23c4d, true, 2, 4), true},
		{"version 2.3", header(0xa1b2c3d4, false, 2, 3), false},
		{"version 3.4", header(0xa1b2c3d4, false, 3, 4), false},
		{"pcapng", append([]byte{0x0a, 0x0d, 0x0d, 0x0a}, make([]byte, 28)...), false},
		{"truncated", header(0xa1b2c3d4, false, 2, 4)[:20], false},
		{"text", []byte("this is not a capture file at all"), false},
	} {
		got := ClassicHeader(c.head)
		// OpenFile agrees: classic when ClassicHeader says so, else it
		// is read by libpcap or refused.
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, c.head, 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := OpenFile(path, "")
		_, classic := src.(*goFileSource)
		if err == nil {
			src.Close()
		}
		if got != c.want || classic != c.want {
			t.Errorf("%s: ClassicHeader %v, OpenFile's Go reader %v (err %v); want %v", c.name, got, classic, err, c.want)
		}
	}
}
