package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The Go reader of classic pcap files must hand the decoder exactly what
// libpcap hands it: the same records, timestamps and lengths, and the same
// verdicts of the same filter.
func TestGoFileMatchesLibpcap(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(pcapDir(t), "*.pcap*"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range names {
		for _, filter := range []string{"", DefaultFilter} {
			goSrc, viaGo := openBoth(t, name, filter)
			if !viaGo {
				continue // pcapng: libpcap reads it either way
			}
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			cSrc, err := openStream(f, name, filter)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				gd, gci, gerr := goSrc.ReadPacketData()
				cd, cci, cerr := cSrc.ReadPacketData()
				if (gerr == nil) != (cerr == nil) || (errors.Is(gerr, io.EOF) != errors.Is(cerr, io.EOF)) {
					t.Fatalf("%s filter=%v record %d: go err %v, libpcap err %v", filepath.Base(name), filter != "", n, gerr, cerr)
				}
				if gerr != nil {
					break
				}
				if !bytes.Equal(gd, cd) || !gci.Timestamp.Equal(cci.Timestamp) || gci.Length != cci.Length || gci.CaptureLength != cci.CaptureLength {
					t.Fatalf("%s filter=%v record %d differs: go %v/%d/%d, libpcap %v/%d/%d", filepath.Base(name), filter != "", n,
						gci.Timestamp, gci.CaptureLength, gci.Length, cci.Timestamp, cci.CaptureLength, cci.Length)
				}
				n++
			}
			goSrc.Close()
			cSrc.Close()
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d classic pcap files went through the Go reader", checked)
	}
	t.Logf("%d file/filter pairs read identically by Go and libpcap", checked)
}

func openBoth(t *testing.T, name, filter string) (Source, bool) {
	t.Helper()
	src, err := OpenFile(name, filter)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	_, viaGo := src.(*goFileSource)
	if !viaGo {
		src.Close()
	}
	return src, viaGo
}
