package capture

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestMalformedFiles opens captures damaged in ways a hostile or broken
// writer may produce, and checks that each either reads the packets before
// the damage and then stops with a clear error, or refuses to open with one.
func TestMalformedFiles(t *testing.T) {
	recs := testRecords(t, 3)
	le := binary.LittleEndian
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A record claiming 2 GiB of captured bytes after two good ones.
	absurd := pcapBytes(layers.LinkTypeEthernet, recs[:2])
	absurd = le.AppendUint32(absurd, 1)
	absurd = le.AppendUint32(absurd, 0)
	absurd = le.AppendUint32(absurd, 0x7fffffff)
	absurd = le.AppendUint32(absurd, 0x7fffffff)
	absurd = append(absurd, make([]byte, 64)...)

	// pcapng whose second interface, declared after two packets, is raw IP.
	block := func(b []byte, typ uint32, body []byte) []byte {
		n := uint32(12 + len(body))
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, n)
		b = append(b, body...)
		return le.AppendUint32(b, n)
	}
	mixed := pcapngBytes(layers.LinkTypeEthernet, recs[:2])
	idb := le.AppendUint16(nil, uint16(layers.LinkTypeRaw))
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 65535)
	mixed = block(mixed, 1, idb)
	raw := recs[2].data[14:] // the same packet without its Ethernet header
	epb := le.AppendUint32(nil, 1)
	epb = le.AppendUint32(epb, 0)
	epb = le.AppendUint32(epb, 0)
	epb = le.AppendUint32(epb, uint32(len(raw)))
	epb = le.AppendUint32(epb, uint32(len(raw)))
	epb = append(epb, raw...)
	for len(epb)%4 != 0 {
		epb = append(epb, 0)
	}
	mixed = block(mixed, 6, epb)

	for _, tc := range []struct {
		name    string
		path    string
		packets int // read before the error
		says    []string
	}{
		{"absurd-caplen", write("absurd.pcap", absurd), 2, []string{"absurd.pcap", "after 2 packets", "capture length exceeds snap length"}},
		// libpcap refuses interfaces of different link types in one file;
		// what came before the second interface is kept.
		{"mixed-linktypes", write("mixed.pcapng", mixed), 2, []string{"mixed.pcapng", "after 2 packets", "different from the type of the first interface"}},
		{"unknown-linktype", write("unknown.pcap", pcapBytes(layers.LinkType(4242), recs)), 0, []string{"unsupported link type 4242"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := OpenFile(tc.path, "")
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer src.Close()
			got, _, err := collect(t, src, DefaultDecoderConfig())
			if len(got) != tc.packets {
				t.Errorf("%d packets before the damage, want %d", len(got), tc.packets)
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := oneLine(t, err)
			for _, w := range tc.says {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}
