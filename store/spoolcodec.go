package store

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// A spool file is one window:
//
//	magic "NMSPOOL1" | payload length, uint32 big-endian | CRC-32C of payload | payload
//
// The payload is a gob of spoolWindow. The file is written under a temporary
// name and renamed into place, so a torn write leaves a *.tmp file that the
// next start deletes; the checksum catches what the disk itself damaged.
const spoolMagic = "NMSPOOL1"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// spoolWindow mirrors aggregate.Window with every name source as its text:
// the numbering of source.Source may change between versions, and a
// spool written by one version is read by the next after an upgrade.
// Strings travel byte for byte, so a domain that is not valid UTF-8 comes
// back as it was. TestSpoolCoversWindow fails when aggregate.Window gains a
// field this type does not carry.
type spoolWindow struct {
	ID          [16]byte
	Start       time.Time
	Rows        []spoolRow
	Names       []spoolRecord
	Corrections []spoolCorrection
	// Devices is absent from spool files older than the devices table;
	// gob leaves it nil for them.
	Devices []spoolDevice
}

type spoolRow struct {
	Client   netip.Addr
	Domain   string
	Nickname string
	Source   string
	Count    uint64
	Bytes    uint64
	// NickSource is absent from spool files older than the column; the
	// reader then asks the catalogue.
	NickSource string
}

type spoolRecord struct {
	TS     time.Time
	Addr   netip.Addr
	Domain string
	Source string
}

type spoolCorrection struct {
	Addr          netip.Addr
	Old           string
	New           string
	NewNickname   string
	NewSource     string
	NewNickSource string
}

// spoolDevice mirrors devices.Device with its name source as text, for the
// same reason as the row sources.
type spoolDevice struct {
	ID         string
	MAC        string
	Addrs      []spoolAddr
	Hostname   string
	NameSource string
	Vendor     string
	Randomised bool
	FirstSeen  time.Time
	LastSeen   time.Time
}

type spoolAddr struct {
	Addr     netip.Addr
	LastSeen time.Time
}

// errCorrupt marks a spool file that cannot be read back.
var errCorrupt = errors.New("damaged spool file")

func encodeWindow(w *aggregate.Window) ([]byte, error) {
	sw := spoolWindow{ID: w.ID, Start: w.Start}
	sw.Rows = make([]spoolRow, len(w.Rows))
	for i, r := range w.Rows {
		sw.Rows[i] = spoolRow{r.Client, r.Domain, r.Nickname, r.Source.String(), r.Count, r.Bytes, r.NickSource.String()}
	}
	sw.Names = make([]spoolRecord, len(w.Names))
	for i, n := range w.Names {
		sw.Names[i] = spoolRecord{n.TS, n.Addr, n.Domain, n.Source.String()}
	}
	sw.Corrections = make([]spoolCorrection, len(w.Corrections))
	for i, c := range w.Corrections {
		sw.Corrections[i] = spoolCorrection{c.Addr, c.Old, c.New, c.NewNickname, c.NewSource.String(), c.NewNickSource.String()}
	}
	if len(w.Devices) > 0 {
		sw.Devices = make([]spoolDevice, len(w.Devices))
	}
	for i, d := range w.Devices {
		sd := spoolDevice{ID: d.ID, MAC: d.MAC, Hostname: d.Hostname, NameSource: d.NameSource.String(),
			Vendor: d.Vendor, Randomised: d.Randomised, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen}
		if len(d.Addrs) > 0 {
			sd.Addrs = make([]spoolAddr, len(d.Addrs))
		}
		for j, a := range d.Addrs {
			sd.Addrs[j] = spoolAddr{a.Addr, a.LastSeen}
		}
		sw.Devices[i] = sd
	}
	var buf bytes.Buffer
	buf.WriteString(spoolMagic)
	buf.Write(make([]byte, 8)) // length and checksum, filled in below
	if err := gob.NewEncoder(&buf).Encode(&sw); err != nil {
		return nil, fmt.Errorf("encode window %s: %w", w.Start.UTC().Format(time.RFC3339), err)
	}
	b := buf.Bytes()
	payload := b[len(spoolMagic)+8:]
	binary.BigEndian.PutUint32(b[len(spoolMagic):], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[len(spoolMagic)+4:], crc32.Checksum(payload, crcTable))
	return b, nil
}

// readSpoolFile reads a spool file whole once its size (at most max),
// magic and header say it is one: a large file that is not is refused
// after 16 bytes.
func readSpoolFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h := int64(len(spoolMagic) + 8)
	switch size := st.Size(); {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w: not a regular file", errCorrupt)
	case size > max:
		return nil, fmt.Errorf("%w: %d bytes, more than the %d MiB a spool file may hold", errCorrupt, size, max>>20)
	case size < h:
		return nil, fmt.Errorf("%w: not a netmon spool file", errCorrupt)
	}
	var head [len(spoolMagic) + 8]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return nil, err
	}
	if string(head[:len(spoolMagic)]) != spoolMagic {
		return nil, fmt.Errorf("%w: not a netmon spool file", errCorrupt)
	}
	if n := int64(binary.BigEndian.Uint32(head[len(spoolMagic):])); n != st.Size()-h {
		return nil, fmt.Errorf("%w: %d bytes of payload, the header says %d", errCorrupt, st.Size()-h, n)
	}
	b := make([]byte, st.Size())
	copy(b, head[:])
	if _, err := io.ReadFull(f, b[h:]); err != nil {
		return nil, err
	}
	return b, nil
}

func decodeWindow(b []byte) (*aggregate.Window, error) {
	h := len(spoolMagic) + 8
	if len(b) < h || string(b[:len(spoolMagic)]) != spoolMagic {
		return nil, fmt.Errorf("%w: not a netmon spool file", errCorrupt)
	}
	n := binary.BigEndian.Uint32(b[len(spoolMagic):])
	payload := b[h:]
	if uint64(len(payload)) != uint64(n) {
		return nil, fmt.Errorf("%w: %d bytes of payload, the header says %d", errCorrupt, len(payload), n)
	}
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(b[len(spoolMagic)+4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	var sw spoolWindow
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&sw); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	w := &aggregate.Window{ID: sw.ID, Start: sw.Start}
	var err error
	if len(sw.Rows) > 0 {
		w.Rows = make([]aggregate.Row, len(sw.Rows))
	}
	for i, r := range sw.Rows {
		w.Rows[i] = aggregate.Row{Client: r.Client, Domain: r.Domain, Nickname: r.Nickname, Count: r.Count, Bytes: r.Bytes}
		if w.Rows[i].Source, err = parseSource(r.Source); err != nil {
			return nil, err
		}
		if w.Rows[i].NickSource, err = parseNickSource(r.NickSource, r.Domain); err != nil {
			return nil, err
		}
	}
	if len(sw.Names) > 0 {
		w.Names = make([]source.Record, len(sw.Names))
	}
	for i, n := range sw.Names {
		w.Names[i] = source.Record{TS: n.TS, Addr: n.Addr, Domain: n.Domain}
		if w.Names[i].Source, err = parseSource(n.Source); err != nil {
			return nil, err
		}
	}
	if len(sw.Corrections) > 0 {
		w.Corrections = make([]aggregate.Correction, len(sw.Corrections))
	}
	for i, c := range sw.Corrections {
		w.Corrections[i] = aggregate.Correction{Addr: c.Addr, Old: c.Old, New: c.New, NewNickname: c.NewNickname}
		if w.Corrections[i].NewSource, err = parseSource(c.NewSource); err != nil {
			return nil, err
		}
		if w.Corrections[i].NewNickSource, err = parseNickSource(c.NewNickSource, c.New); err != nil {
			return nil, err
		}
	}
	if len(sw.Devices) > 0 {
		w.Devices = make([]devices.Device, len(sw.Devices))
	}
	for i, d := range sw.Devices {
		src := devices.ParseNameSource(d.NameSource)
		if src == devices.NameNone && d.NameSource != "" {
			return nil, fmt.Errorf("%w: unknown host name source %q (written by a newer netmon?)", errCorrupt, d.NameSource)
		}
		w.Devices[i] = devices.Device{ID: d.ID, MAC: d.MAC, Hostname: d.Hostname, NameSource: src,
			Vendor: d.Vendor, Randomised: d.Randomised, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen}
		if len(d.Addrs) > 0 {
			w.Devices[i].Addrs = make([]devices.Addr, len(d.Addrs))
		}
		for j, a := range d.Addrs {
			w.Devices[i].Addrs[j] = devices.Addr{Addr: a.Addr, LastSeen: a.LastSeen}
		}
	}
	return w, nil
}

// parseSource is the inverse of source.Source.String. The sources are
// few, so a scan costs less than keeping a table in step with resolver.
func parseSource(s string) (source.Source, error) {
	for src := source.Source(0); ; src++ {
		name := src.String()
		if name == s && name != "unknown" {
			return src, nil
		}
		if name == "unknown" || src == 255 {
			return 0, fmt.Errorf("%w: unknown name source %q (written by a newer netmon?)", errCorrupt, s)
		}
	}
}

// parseNickSource reads a nickname source back; a spool file written before
// it was kept has none, and the catalogue's word for the domain stands in.
func parseNickSource(s, domain string) (nickname.Source, error) {
	if s == "" {
		_, src := nickname.Named(domain)
		return src, nil
	}
	src, err := nickname.ParseSource(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return src, nil
}
