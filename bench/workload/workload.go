// Package workload builds netmon's benchmark workload: the Ethernet captures
// of the shared corpus that pass the default filter, concatenated over and
// over and retimed to a steady packet rate, as one pcap file. It is rebuilt
// on demand and never committed (the captures are third-party data).
package workload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netmon/netmon/capture"
)

type frame struct {
	data []byte
	wire int
}

// Dir is the folder of the shared captures: $NETMON_PCAP_DIR, else rel.
func Dir(rel string) string {
	if d := os.Getenv("NETMON_PCAP_DIR"); d != "" {
		return d
	}
	return rel
}

// Build writes n packets to out, timestamped pps packets per second of
// packet time, cycling through the frames of the captures in dir.
func Build(dir, out string, n, pps int) error {
	frames, err := load(dir)
	if err != nil {
		return err
	}
	if len(frames) == 0 {
		return fmt.Errorf("no Ethernet frames on ports 53/80/443 in %s", dir)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := time.Second / time.Duration(pps)
	for i := range n {
		fr := frames[i%len(frames)]
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * step), CaptureLength: len(fr.data), Length: fr.wire}
		if err := w.WritePacket(ci, fr.data); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return nil
}

// load reads every Ethernet capture in dir, in name order, keeping the
// frames netmon's default filter passes.
func load(dir string) ([]frame, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	bpf, err := pcap.NewBPF(layers.LinkTypeEthernet, 65535, capture.DefaultFilter)
	if err != nil {
		return nil, err
	}
	var frames []frame
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		r, lt, err := reader(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if lt != layers.LinkTypeEthernet {
			continue
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break // a damaged tail: keep what came before
			}
			if ci.CaptureLength > 1514+8 || !bpf.Matches(ci, data) {
				continue // tcpreplay cannot send frames larger than the MTU
			}
			frames = append(frames, frame{data: append([]byte(nil), data...), wire: ci.Length})
		}
	}
	return frames, nil
}

type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func reader(raw []byte) (packetReader, layers.LinkType, error) {
	if len(raw) >= 4 && bytes.Equal(raw[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, 0, err
		}
		return r, r.LinkType(), nil
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, err
	}
	return r, r.LinkType(), nil
}
