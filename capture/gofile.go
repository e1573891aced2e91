package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Classic pcap files are read in Go rather than through libpcap: crossing
// into C for every record costs more than everything else netmon does with
// the packet (measured: ~60% of a replay's CPU went to pcap_next_ex through
// cgo). libpcap still compiles the filter, so its meaning is exactly what it
// is live, and runs it too (bpf_filter, as for any capture file), over a
// whole read buffer of records in one call. pcapng files and standard
// input keep going through libpcap.

// fileReadBuffer is large enough that a read syscall serves hundreds of
// records, small enough to stay in a core's cache between the kernel's copy
// and the decoder's read (1 MiB did not).
const fileReadBuffer = 256 << 10

// readBufferFor is the read buffer for a file of size bytes: fileReadBuffer,
// or the whole file and a little more when it is smaller (the reader grows
// it when a record needs more), so that a replay of thousands of small
// files does not allocate, and collect, 256 KiB for each.
func readBufferFor(size int64) int {
	if size <= 0 || size >= fileReadBuffer {
		return fileReadBuffer
	}
	return int(size) + 512 // room left to see the end of the file
}

// classicMagics are the first four bytes of the pcap formats pcapgo reads
// (micro- and nanosecond timestamps, either byte order).
var classicMagics = [...]uint32{0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1}

// openGoFile returns a Go reader for f when it is a classic pcap file whose
// filter libpcap compiles; ok is false when libpcap should read it.
func openGoFile(f *os.File, path, filter string, size int64) (src Source, ok bool, err error) {
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return nil, false, nil // let libpcap report what is wrong
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, false, nil
	}
	magic := binary.LittleEndian.Uint32(head[:])
	classic := false
	for _, m := range classicMagics {
		classic = classic || magic == m
	}
	if !classic {
		return nil, false, nil
	}
	// Whenever libpcap is to read the file after all, it must start at the
	// beginning again.
	rewind := func() (Source, bool, error) {
		_, err := f.Seek(0, io.SeekStart)
		return nil, false, err
	}
	r, err := newPcapReader(f, readBufferFor(size))
	if err != nil {
		return rewind()
	}
	s := &goFileSource{f: f, r: r, label: fileLabel(path)}
	if filter != "" {
		if err := setFilter(r, filter); err != nil {
			// libpcap opens it instead, and says precisely what is wrong
			// with a filter that does not compile.
			return rewind()
		}
	}
	return s, true, nil
}

// dltRaw is DLT_RAW as libpcap's compiler takes it on Linux; files store
// LINKTYPE_RAW (101, layers.LinkTypeRaw) instead.
const dltRaw = layers.LinkType(12)

type goFileSource struct {
	f     *os.File
	r     *pcapReader
	label string
}

func (s *goFileSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.r.ReadPacketData()
	switch {
	case err == io.EOF:
		return nil, ci, io.EOF
	case err != nil:
		return nil, ci, fmt.Errorf("%s: %w after %d packets (%s); the packets before were read",
			s.label, ErrDamaged, s.r.records, damage(err))
	}
	return data, ci, nil
}

// damage says what a read error means in the words libpcap would use.
func damage(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated dump file: the last record is cut short"
	}
	return err.Error()
}

func (s *goFileSource) LinkType() layers.LinkType { return s.r.LinkType() }

func (s *goFileSource) Stats() (Stats, error) { return Stats{}, nil }

func (s *goFileSource) Close() { s.f.Close() }

// setFilter compiles expr for r's link type and snap length and has r
// run it.
func setFilter(r *pcapReader, expr string) error {
	ins, err := compileFilter(expr, r.LinkType(), int(r.Snaplen()))
	if err != nil {
		return err
	}
	r.filter = newCFilter(ins)
	return nil
}
