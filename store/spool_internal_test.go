package store

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"hash/crc32"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/source"
)

var spoolT0 = time.Date(2024, 3, 31, 0, 59, 50, 0, time.UTC)

func sampleWindow(i int) *aggregate.Window {
	return &aggregate.Window{
		ID:    [16]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		Start: spoolT0.Add(time.Duration(i) * 10 * time.Second),
		Rows: []aggregate.Row{
			{Client: netip.MustParseAddr("192.168.1.10"), Domain: "www.example.com", Nickname: "Example", Source: source.DNS, Count: uint64(i + 1), Bytes: 1500},
			{Client: netip.MustParseAddr("fd00::1"), Domain: "bad\xff\xfe-utf8", Nickname: "Bad", Source: source.SNI, Count: 2, Bytes: 3},
			{Domain: aggregate.OverflowDomain, Nickname: aggregate.OverflowDomain, Source: source.IP, Count: 1 << 40, Bytes: 1<<63 + 5},
		},
		Names: []source.Record{
			{TS: spoolT0.Add(3 * time.Second), Addr: netip.MustParseAddr("203.0.113.7"), Domain: "www.example.com", Source: source.DNS},
			{Addr: netip.MustParseAddr("2001:db8::1"), Domain: "host.ptr.example", Source: source.PTR},
		},
		Corrections: []aggregate.Correction{
			{Addr: netip.MustParseAddr("203.0.113.9"), Old: "203.0.113.9", New: "cdn.example", NewNickname: "Example", NewSource: source.QUIC},
		},
		Devices: []devices.Device{
			{
				ID: "3c:22:fb:12:34:56", MAC: "3c:22:fb:12:34:56",
				Addrs: []devices.Addr{
					{Addr: netip.MustParseAddr("192.168.1.10"), LastSeen: spoolT0.Add(2 * time.Second)},
					{Addr: netip.MustParseAddr("2001:db8::1c:3aff"), LastSeen: spoolT0.Add(4 * time.Second)},
				},
				Hostname: "laptop\x00'; DROP TABLE devices; --\xff", NameSource: devices.NameDHCP,
				Vendor: "Apple, Inc.", FirstSeen: spoolT0.Add(-time.Hour), LastSeen: spoolT0.Add(4 * time.Second),
			},
			{ID: "da:a1:19:00:00:01", MAC: "da:a1:19:00:00:01", Randomised: true, NameSource: devices.NameNone},
			{ID: "10.0.0.9", Addrs: []devices.Addr{{Addr: netip.MustParseAddr("10.0.0.9")}}, Hostname: "nas.lan", NameSource: devices.NamePTR},
		},
	}
}

func TestSpoolCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for src := source.Source(0); src.String() != "unknown"; src++ {
		w := sampleWindow(1)
		w.Rows[0].Source = src
		b, err := encodeWindow(w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeWindow(b)
		if err != nil {
			t.Fatalf("source %q: %v", src, err)
		}
		if d := cmp.Diff(w, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
			t.Errorf("round trip with source %q (-want +got):\n%s", src, d)
		}
	}
}

// Devices travel whole, every host name source as its text, and a source
// this netmon does not know marks the file damaged rather than losing the
// name's trust.
func TestSpoolCodecDevices(t *testing.T) {
	t.Parallel()
	addrCmp := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	for src := devices.NameNone; src.String() != "" || src == devices.NameNone; src++ {
		w := sampleWindow(3)
		w.Devices[0].NameSource = src
		b, err := encodeWindow(w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeWindow(b)
		if err != nil {
			t.Fatalf("name source %q: %v", src, err)
		}
		if d := cmp.Diff(w.Devices, got.Devices, addrCmp); d != "" {
			t.Errorf("devices with name source %q (-want +got):\n%s", src, d)
		}
	}
	// A window without devices, as every spool file written before the
	// devices table, comes back without them.
	w := sampleWindow(4)
	w.Devices = nil
	b, err := encodeWindow(w)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeWindow(b); err != nil || got.Devices != nil {
		t.Errorf("decode of a window without devices = %v, %v", got, err)
	}

	sw := spoolWindow{ID: [16]byte{1}, Start: spoolT0, Devices: []spoolDevice{{ID: "x", NameSource: "telepathy"}}}
	var buf bytes.Buffer
	buf.WriteString(spoolMagic)
	buf.Write(make([]byte, 8))
	if err := gob.NewEncoder(&buf).Encode(&sw); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	payload := raw[len(spoolMagic)+8:]
	binary.BigEndian.PutUint32(raw[len(spoolMagic):], uint32(len(payload)))
	binary.BigEndian.PutUint32(raw[len(spoolMagic)+4:], crc32.Checksum(payload, crcTable))
	if _, err := decodeWindow(raw); !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), `"telepathy"`) {
		t.Errorf("unknown name source: decode = %v, want errCorrupt naming it", err)
	}
}

func TestSpoolCodecDamage(t *testing.T) {
	t.Parallel()
	b, err := encodeWindow(sampleWindow(2))
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(b)
	flipped[len(flipped)-3] ^= 0x40
	for name, data := range map[string][]byte{
		"flipped bit": flipped,
		"cut short":   b[:len(b)-10],
		"empty":       nil,
		"not ours":    []byte("hello, world, this is not a spool file"),
	} {
		if _, err := decodeWindow(data); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: decode = %v, want errCorrupt", name, err)
		}
	}
}

// The spool must carry every field of a window: a field added to
// aggregate.Window (or what it holds) and not to spoolWindow would vanish
// silently whenever a window waits in the spool.
func TestSpoolCoversWindow(t *testing.T) {
	t.Parallel()
	known := map[reflect.Type][]string{
		reflect.TypeFor[aggregate.Window]():     {"ID", "Start", "Rows", "Names", "Corrections", "Devices"},
		reflect.TypeFor[devices.Device]():       {"ID", "MAC", "Addrs", "Hostname", "NameSource", "Vendor", "Randomised", "FirstSeen", "LastSeen"},
		reflect.TypeFor[devices.Addr]():         {"Addr", "LastSeen"},
		reflect.TypeFor[aggregate.Row]():        {"Client", "Domain", "Nickname", "NickSource", "Source", "Count", "Bytes"},
		reflect.TypeFor[source.Record]():        {"TS", "Addr", "Domain", "Source"},
		reflect.TypeFor[aggregate.Correction](): {"Addr", "Old", "New", "NewNickname", "NewNickSource", "NewSource"},
	}
	for typ, want := range known {
		var got []string
		for i := range typ.NumField() {
			name := typ.Field(i).Name
			if typ == reflect.TypeFor[aggregate.Window]() && (name == "Input" || name == "InputEnd" || name == "Rereadable") {
				// The pipeline's own: which replayed file a window came
				// from, used before the window reaches the writer (its
				// ID carries the file's identity into the spool); and
				// whether the writer may hold it instead of spooling it,
				// which a spooled window no longer is.
				continue
			}
			got = append(got, name)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s has fields the spool does not carry, or lost some; update spoolcodec.go (-spooled +now):\n%s", typ, d)
		}
	}
}

func TestSpoolOrderReopenLock(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if rep, err := s.append(sampleWindow(i)); err != nil || rep.diskErr != nil || rep.dropped != 0 {
			t.Fatalf("append %d: %+v, %v", i, rep, err)
		}
	}
	if _, err := openSpool(dir, 1<<20); !errors.Is(err, errSpoolBusy) {
		t.Errorf("second open of a held spool = %v, want errSpoolBusy", err)
	}
	// What a crash in the middle of an append leaves behind.
	if err := os.WriteFile(filepath.Join(dir, spoolName(99, spoolT0)+spoolTmp), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.close()

	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := os.Stat(filepath.Join(dir, spoolName(99, spoolT0)+spoolTmp)); !os.IsNotExist(err) {
		t.Errorf("unfinished append still there after open: %v", err)
	}
	if _, err := s.append(sampleWindow(5)); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		e := s.head()
		if e == nil {
			t.Fatalf("spool empty at %d, want 6 windows", i)
		}
		w, err := s.load(e)
		if err != nil {
			t.Fatal(err)
		}
		if w.ID[0] != byte(i) || w.Rows[0].Count != uint64(i+1) {
			t.Errorf("window %d out of order: ID %x, count %d", i, w.ID, w.Rows[0].Count)
		}
		s.remove(e)
	}
	if n, size, _ := s.pending(); n != 0 || size != 0 {
		t.Errorf("after removing all: %d windows, %d bytes", n, size)
	}
}

func TestSpoolCap(t *testing.T) {
	t.Parallel()
	s, err := openSpool(t.TempDir(), 3*blockSize+blockSize/2) // room for three small windows
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := s.append(sampleWindow(0)); err != nil {
		t.Fatal(err)
	}
	head := s.head() // the writer holds window 0: it must survive the cap
	dropped := 0
	for i := 1; i < 10; i++ {
		rep, err := s.append(sampleWindow(i))
		if err != nil {
			t.Fatal(err)
		}
		dropped += rep.dropped
	}
	var starts []int
	s.mu.Lock()
	for _, e := range s.entries {
		starts = append(starts, int(e.start.Sub(spoolT0)/(10*time.Second)))
	}
	s.mu.Unlock()
	if want := []int{0, 8, 9}; !slices.Equal(starts, want) {
		t.Errorf("windows kept = %v, want %v (the held one and the newest)", starts, want)
	}
	if dropped != 7 {
		t.Errorf("dropped %d, want 7", dropped)
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "*"+spoolExt))
	if len(files) != 3 {
		t.Errorf("%d files on disk, want 3", len(files))
	}
	s.remove(head)
}

// When the spool cannot be written, windows wait in memory and are still
// written in order.
func TestSpoolDiskFailure(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := s.append(sampleWindow(0)); err != nil {
		t.Fatal(err)
	}
	// Root ignores permissions, so take the directory away instead.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	rep, err := s.append(sampleWindow(1))
	if err != nil || rep.diskErr == nil {
		t.Fatalf("append to a vanished directory: %+v, %v; want a disk error", rep, err)
	}
	if s.memoryOnly() != 1 {
		t.Errorf("memoryOnly = %d, want 1", s.memoryOnly())
	}
	e := s.head()
	if _, err := s.load(e); err == nil {
		t.Error("loading window 0, whose file is gone, succeeded")
	}
	s.remove(e)
	e = s.head()
	w, err := s.load(e)
	if err != nil || w.ID[0] != 1 {
		t.Fatalf("memory-only window: %v, %v", w, err)
	}
}

func TestEscapeAgent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"pi-4_lab": "pi-4_lab", "..": "%2E%2E", "a/b": "a%2Fb", "": "%", "héhé": "h%C3%A9h%C3%A9", "sensor.local": "sensor%2Elocal",
	} {
		if got := escapeAgent(in); got != want {
			t.Errorf("escapeAgent(%q) = %q, want %q", in, got, want)
		}
	}
}
