// Package workload builds netmon's benchmark workload: the frames of every
// capture of the shared corpus that pass the default filter, as one
// Ethernet pcap file, repeated until it holds the packets asked for and
// retimed to a steady packet rate. Each copy of a capture is its own
// traffic: the client (ephemeral) port of every TCP and UDP packet to or
// from a server port (53, 80, 443, 853) is moved, the same way in both
// directions, by an amount that differs between copies, so that the
// workload holds many distinct flows rather than the same few thousand over
// and over, as real traffic does. Frames of other link types (Linux cooked,
// raw IP) are rewrapped in an Ethernet header. It is rebuilt on demand and
// never committed (the captures are third-party data).
package workload

import (
	"bufio"
	"bytes"
	"encoding/binary"
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
	// ports is where the transport ports are (offset of the TCP or UDP
	// header) and sum where its checksum is; zero when the frame's ports
	// are left alone.
	ports, sum int
	// client says which port is the client's: 0 source, 1 destination.
	client int
}

// capFrames are the kept frames of one capture.
type capFrames struct {
	name   string
	frames []frame
}

// Dir is the folder of the shared captures: $NETMON_PCAP_DIR, else rel.
func Dir(rel string) string {
	if d := os.Getenv("NETMON_PCAP_DIR"); d != "" {
		return d
	}
	return rel
}

// Stats describes a built workload.
type Stats struct {
	Captures int // captures that gave frames
	Frames   int // distinct frames in one copy of the corpus
	Bytes    int64
}

// Build writes n packets to out, timestamped pps packets per second of
// packet time, cycling through the captures in dir.
func Build(dir, out string, n, pps int) error {
	_, err := BuildStats(dir, out, n, pps, true)
	return err
}

// BuildStats is Build, and says what went in. Unless distinct, every copy of the
// corpus keeps its ports: the same flows over and over.
func BuildStats(dir, out string, n, pps int, distinct bool) (Stats, error) {
	caps, err := load(dir)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	for _, c := range caps {
		st.Frames += len(c.frames)
	}
	st.Captures = len(caps)
	if st.Frames == 0 {
		return st, fmt.Errorf("no frames on ports 53/80/443 in %s", dir)
	}
	f, err := os.Create(out)
	if err != nil {
		return st, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return st, err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := time.Second / time.Duration(pps)
	buf := make([]byte, 0, 65536)
	i := 0
	for copyN := 0; i < n; copyN++ {
		for ci, c := range caps {
			shift := copyN*len(caps) + ci
			for _, fr := range c.frames {
				if i == n {
					break
				}
				buf = append(buf[:0], fr.data...)
				if distinct && shift > 0 && fr.ports > 0 {
					movePort(buf, fr, shift)
				}
				info := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * step), CaptureLength: len(buf), Length: fr.wire}
				if err := w.WritePacket(info, buf); err != nil {
					f.Close()
					return st, err
				}
				st.Bytes += int64(len(buf))
				i++
			}
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return st, err
	}
	return st, f.Close()
}

// serverPorts are the ports whose other end is a client port to move.
var serverPorts = map[uint16]bool{53: true, 80: true, 443: true, 853: true}

// movePort moves the client port of fr (in b) by shift steps within
// 1024-65535 less 5353 (mDNS), and mends the transport checksum (RFC 1624).
func movePort(b []byte, fr frame, shift int) {
	at := fr.ports + 2*fr.client
	old := binary.BigEndian.Uint16(b[at:])
	const span = 65536 - 1024 - 1
	idx := int(old) - 1024
	if old > 5353 {
		idx--
	}
	idx = (idx + shift*2477) % span
	p := idx + 1024
	if p >= 5353 {
		p++
	}
	binary.BigEndian.PutUint16(b[at:], uint16(p))
	if fr.sum > 0 {
		sum := binary.BigEndian.Uint16(b[fr.sum:])
		s := uint32(^sum) + uint32(^old) + uint32(p)
		for s > 0xffff {
			s = s&0xffff + s>>16
		}
		binary.BigEndian.PutUint16(b[fr.sum:], ^uint16(s))
	}
}

// load reads every capture in dir, in name order, keeping the frames
// netmon's default filter passes, as Ethernet frames.
func load(dir string) ([]capFrames, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	bpf, err := pcap.NewBPF(layers.LinkTypeEthernet, 65535, capture.DefaultFilter)
	if err != nil {
		return nil, err
	}
	var caps []capFrames
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		r, lt, err := reader(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c := capFrames{name: filepath.Base(name)}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break // a damaged tail: keep what came before
			}
			eth, ok := toEthernet(lt, data)
			if !ok {
				continue
			}
			wire := ci.Length + len(eth) - len(data)
			ci.CaptureLength, ci.Length = len(eth), wire
			if len(eth) > 1514+8 || !bpf.Matches(ci, eth) {
				continue // tcpreplay cannot send frames larger than the MTU
			}
			fr := frame{data: append([]byte(nil), eth...), wire: wire}
			locate(&fr)
			c.frames = append(c.frames, fr)
		}
		if len(c.frames) > 0 {
			caps = append(caps, c)
		}
	}
	return caps, nil
}

// toEthernet returns data as an Ethernet frame: as it is for Ethernet,
// rewrapped for Linux cooked and raw IP; false for other link types.
func toEthernet(lt layers.LinkType, data []byte) ([]byte, bool) {
	var etype uint16
	var payload []byte
	src := []byte{0x02, 0, 0, 0, 0, 0x01}
	switch lt {
	case layers.LinkTypeEthernet:
		return data, true
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return nil, false
		}
		if binary.BigEndian.Uint16(data[4:]) == 6 {
			src = data[6:12]
		}
		etype, payload = binary.BigEndian.Uint16(data[14:]), data[16:]
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return nil, false
		}
		if data[11] == 6 {
			src = data[12:18]
		}
		etype, payload = binary.BigEndian.Uint16(data[0:]), data[20:]
	case layers.LinkTypeRaw, 12, 14:
		if len(data) < 1 {
			return nil, false
		}
		switch data[0] >> 4 {
		case 4:
			etype = 0x0800
		case 6:
			etype = 0x86dd
		default:
			return nil, false
		}
		payload = data
	default:
		return nil, false
	}
	eth := make([]byte, 14, 14+len(payload))
	copy(eth, []byte{0x02, 0, 0, 0, 0, 0x02})
	copy(eth[6:], src)
	binary.BigEndian.PutUint16(eth[12:], etype)
	return append(eth, payload...), true
}

// locate finds the ports of a plain Ethernet/VLAN → IPv4/IPv6 → TCP/UDP
// frame with one server port and one client port; other frames keep theirs.
func locate(fr *frame) {
	b := fr.data
	off, etype := 14, binary.BigEndian.Uint16(b[12:])
	for (etype == 0x8100 || etype == 0x88a8) && len(b) >= off+4 {
		etype = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	var proto byte
	switch {
	case etype == 0x0800 && len(b) >= off+20:
		if binary.BigEndian.Uint16(b[off+6:])&0x1fff != 0 {
			return // a later fragment: no ports
		}
		proto = b[off+9]
		off += int(b[off]&0xf) * 4
	case etype == 0x86dd && len(b) >= off+40:
		proto = b[off+6]
		off += 40
	default:
		return
	}
	var sumAt int
	switch proto {
	case 6:
		sumAt = 16
	case 17:
		sumAt = 6
	default:
		return
	}
	if len(b) < off+sumAt+2 {
		return
	}
	sp, dp := binary.BigEndian.Uint16(b[off:]), binary.BigEndian.Uint16(b[off+2:])
	switch {
	case serverPorts[sp] && !serverPorts[dp] && dp >= 1024 && dp != 5353:
		fr.client = 1
	case serverPorts[dp] && !serverPorts[sp] && sp >= 1024 && sp != 5353:
		fr.client = 0
	default:
		return
	}
	fr.ports, fr.sum = off, off+sumAt
	if proto == 17 && etype == 0x0800 && binary.BigEndian.Uint16(b[off+6:]) == 0 {
		fr.sum = 0 // UDP over IPv4 without a checksum keeps none
	}
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
