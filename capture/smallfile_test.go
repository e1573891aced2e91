package capture

import (
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
