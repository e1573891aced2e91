package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// The reader hands out records where they lie in its buffer: records that
// straddle a read, a buffer smaller than one record (it grows), and a
// filter run over a whole buffer at once must give what a large buffer
// gives, record for record.
func TestPcapReaderBufferSizes(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(pcapDir(t), "*.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range names {
		for _, filter := range []string{"", DefaultFilter} {
			want := readAll(t, name, filter, fileReadBuffer)
			if want == nil {
				continue // not classic pcap
			}
			for _, size := range []int{64, 1000, 4096} {
				got := readAll(t, name, filter, size)
				if len(got) != len(want) {
					t.Fatalf("%s buffer %d: %d records, want %d", filepath.Base(name), size, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s buffer %d record %d differs", filepath.Base(name), size, i)
					}
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d classic pcap files checked", checked)
	}
}

// readAll returns each record of a classic pcap file as a string of its
// time, lengths and bytes, read with a buffer of size; nil for other files.
func readAll(t *testing.T, name, filter string, size int) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := newPcapReader(f, size)
	if err != nil {
		return nil
	}
	if filter != "" {
		if err := setFilter(r, filter); err != nil {
			t.Fatal(err)
		}
	}
	out := []string{}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			out = append(out, "error: "+err.Error())
			return out
		}
		out = append(out, ci.Timestamp.String()+" "+strconv.Itoa(ci.CaptureLength)+" "+strconv.Itoa(ci.Length)+" "+string(data))
	}
}

// A record cut short at the end of the file is damage, whatever the
// buffer size; one whose length exceeds the snap length too.
func TestPcapReaderDamage(t *testing.T) {
	var file bytes.Buffer
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	file.Write(hdr)
	rec := func(capLen, wire uint32, data []byte) {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[8:], capLen)
		binary.LittleEndian.PutUint32(h[12:], wire)
		file.Write(h[:])
		file.Write(data)
	}
	rec(60, 60, make([]byte, 60))
	rec(60, 60, make([]byte, 60))
	whole := bytes.Clone(file.Bytes())
	rec(100, 100, make([]byte, 40)) // cut short
	for _, size := range []int{32, 100, 1 << 16} {
		r, err := newPcapReader(bytes.NewReader(file.Bytes()), size)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, _, err := r.ReadPacketData(); err != nil {
				t.Fatalf("buffer %d record %d: %v", size, i, err)
			}
		}
		if _, _, err := r.ReadPacketData(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("buffer %d: cut record gave %v, want io.ErrUnexpectedEOF", size, err)
		}
		if r.records != 2 {
			t.Fatalf("buffer %d: %d records counted, want 2", size, r.records)
		}
	}
	absurd := bytes.Clone(whole)
	var h [16]byte
	binary.LittleEndian.PutUint32(h[8:], 1<<30)
	binary.LittleEndian.PutUint32(h[12:], 1<<30)
	absurd = append(absurd, h[:]...)
	r, err := newPcapReader(bytes.NewReader(absurd), 64)
	if err != nil {
		t.Fatal(err)
	}
	r.ReadPacketData()
	r.ReadPacketData()
	if _, _, err := r.ReadPacketData(); err == nil || !strings.Contains(err.Error(), "exceeds snap length") {
		t.Fatalf("absurd length gave %v", err)
	}
	if len(r.buf) > 1<<10 {
		t.Fatalf("absurd length grew the buffer to %d bytes", len(r.buf))
	}
}
