package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// Source is a stream of raw frames: a live interface or a capture file.
// Both sit behind one interface so that tests replay files through the same
// Decoder that live capture uses.
type Source interface {
	// ReadPacketData returns the next frame. The bytes belong to the source
	// and are valid only until the next call (no copy per packet). It
	// returns ErrTimeout when a live interface was idle for the read
	// timeout, io.EOF at the end of a file or after Close, and any other
	// error when the source is damaged or gone.
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	// LinkType is the link-layer header type of every frame.
	LinkType() layers.LinkType
	// Stats reports libpcap's counters for a live interface; files
	// return zeros.
	Stats() (Stats, error)
	// Close releases the handle; later reads return io.EOF. It may be
	// called more than once, and from another goroutine, where it waits
	// for a read in progress: on a live interface that is at most the read
	// timeout, on a pipe until its writer sends more or closes.
	Close()
}

// Stats are libpcap's counters for a live handle (pcap_stats). Their exact
// meaning varies by platform; on Linux, Dropped counts packets the kernel
// dropped because netmon read too slowly.
type Stats struct {
	Received  uint64 // packets that passed the filter
	Dropped   uint64 // dropped for lack of buffer space
	IfDropped uint64 // dropped by the interface or its driver
}

// Errors that callers may want to tell apart with errors.Is. The messages
// that wrap them say what to do.
var (
	ErrNoSuchInterface = errors.New("no such interface")
	ErrPermission      = errors.New("permission denied")
	ErrInvalidFilter   = errors.New("invalid filter")
	ErrNotCapture      = errors.New("not a pcap or pcapng capture")
	ErrDamaged         = errors.New("truncated or damaged")
	ErrUnsupportedLink = errors.New("unsupported link type")
	ErrTimeout         = fmt.Errorf("capture read timeout: %w", pcap.NextErrorTimeoutExpired)
	errInterfaceDown   = errors.New("interface is down")
	errClosed          = errors.New("capture handle is closed")
)

// Defaults for LiveConfig, used for fields left at zero.
const (
	// DefaultSnapLen keeps whole frames: a TLS ClientHello can fill a
	// segment of 16 KiB and more when the NIC coalesces segments (GRO/LRO),
	// and the name parsers need all of it.
	DefaultSnapLen = 65535
	// DefaultBufferSize is the kernel ring size. 8 MiB absorbs about a
	// second of a busy home uplink while the pipeline is briefly slow.
	DefaultBufferSize = 8 << 20
	// DefaultTimeout bounds how long a read waits on an idle interface, so
	// that a stop request and a half-full batch are noticed promptly.
	DefaultTimeout = 100 * time.Millisecond
)

// LiveConfig configures OpenLive. Start from DefaultLiveConfig: the zero
// value is not promiscuous.
type LiveConfig struct {
	// Interface is the name of the interface to capture on, e.g. "eth0".
	Interface string
	// Filter is a BPF expression. Empty means DefaultFilter.
	Filter string
	// SnapLen is the most bytes kept per frame. Zero means DefaultSnapLen.
	SnapLen int
	// Promisc puts the interface in promiscuous mode, needed to see other
	// hosts' traffic on a mirror port or hub.
	Promisc bool
	// BufferSize is the kernel buffer in bytes. Zero means
	// DefaultBufferSize.
	BufferSize int
	// Timeout is the read timeout. Zero or negative means DefaultTimeout: a
	// read must never block forever, or a stop would go unnoticed.
	Timeout time.Duration
}

// DefaultLiveConfig returns the configuration netmon uses on iface.
func DefaultLiveConfig(iface string) LiveConfig {
	return LiveConfig{
		Interface:  iface,
		Filter:     DefaultFilter,
		SnapLen:    DefaultSnapLen,
		Promisc:    true,
		BufferSize: DefaultBufferSize,
		Timeout:    DefaultTimeout,
	}
}

// withDefaults fills in the sizes. An empty Filter stays empty and means
// no filter, as it does for OpenFile: DefaultLiveConfig sets DefaultFilter.
func (c LiveConfig) withDefaults() LiveConfig {
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// permissionHint is what a user has to do when capture is not allowed.
const permissionHint = "run as root or give the binary cap_net_raw,cap_net_admin: " +
	"sudo setcap cap_net_raw,cap_net_admin=eip $(which netmon)"

// OpenLive opens a live capture on cfg.Interface with cfg.Filter applied in
// the kernel.
func OpenLive(cfg LiveConfig) (Source, error) {
	cfg = cfg.withDefaults()
	name := cfg.Interface
	// An interface that does not exist is reported before anything else:
	// libpcap would say "permission denied" to a user without rights even
	// for a misspelt name, and the list of names is the useful answer.
	if err := CheckInterface(name); err != nil {
		return nil, err
	}
	ih, err := pcap.NewInactiveHandle(name)
	if err != nil {
		return nil, fmt.Errorf("capture on %q: %w", name, err)
	}
	defer ih.CleanUp() // a no-op once Activate has taken the handle over
	for _, set := range []func() error{
		func() error { return ih.SetSnapLen(cfg.SnapLen) },
		func() error { return ih.SetPromisc(cfg.Promisc) },
		func() error { return ih.SetTimeout(cfg.Timeout) },
		func() error { return ih.SetBufferSize(cfg.BufferSize) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("capture on %q: set up handle: %w", name, err)
		}
	}
	h, err := ih.Activate()
	if err != nil {
		return nil, activateError(name, err)
	}
	if _, err := linkFor(h.LinkType()); err != nil {
		h.Close()
		return nil, fmt.Errorf("capture on %q: %w", name, err)
	}
	filter := filterFor(cfg.Filter, h.LinkType())
	if err := h.SetBPFFilter(filter); err != nil {
		h.Close()
		return nil, invalidFilter(cfg.Filter, err)
	}
	return &liveSource{h: h, name: name}, nil
}

// activateError turns pcap_activate's status into one line that says what
// to do. gopacket does not export the status type, so its text is matched.
func activateError(name string, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "not permitted"):
		return fmt.Errorf("capture on %q: %w; %s (%w)", name, ErrPermission, permissionHint, err)
	case strings.Contains(msg, "no such device"):
		devs, _ := pcap.FindAllDevs()
		return fmt.Errorf("%w (%w)", unknownInterface(name, devs), err)
	case strings.Contains(msg, "not up"):
		return fmt.Errorf("capture on %q: %w; bring it up with: sudo ip link set %s up (%w)",
			name, errInterfaceDown, name, err)
	}
	return fmt.Errorf("capture on %q: %w", name, err)
}

// CheckInterface reports, with the names there are, an interface that
// neither libpcap nor the system knows ("any" is libpcap's every
// interface); nil when it exists, or when libpcap cannot list interfaces
// (opening it then says why). netmon run checks -i with it before it
// creates anything.
func CheckInterface(name string) error {
	devs, err := pcap.FindAllDevs()
	if err != nil || name == "any" || slices.ContainsFunc(devs, func(d pcap.Interface) bool { return d.Name == name }) {
		return nil
	}
	if _, err := net.InterfaceByName(name); err == nil {
		return nil
	}
	return unknownInterface(name, devs)
}

func unknownInterface(name string, devs []pcap.Interface) error {
	names := make([]string, 0, len(devs))
	for _, d := range devs {
		names = append(names, d.Name)
	}
	avail := "none found; is libpcap allowed to list interfaces?"
	if len(names) > 0 {
		avail = strings.Join(names, ", ")
	}
	return fmt.Errorf("capture on %q: %w; pick one of: %s", name, ErrNoSuchInterface, avail)
}

func invalidFilter(expr string, err error) error {
	return fmt.Errorf("%w %q: %w", ErrInvalidFilter, expr, err)
}

// ValidateFilter compiles expr for link type lt without opening anything,
// so that a bad filter is reported at start-up, before capture begins.
// An empty expr is valid and means no filter.
func ValidateFilter(expr string, lt layers.LinkType) error {
	if expr == "" {
		return nil
	}
	_, err := compileFilter(expr, lt, DefaultSnapLen)
	return err
}

type liveSource struct {
	h    *pcap.Handle
	name string
	// mu orders Stats and Close: gopacket would hand libpcap a freed
	// handle if Stats ran after Close. Reads are ordered by gopacket.
	mu     sync.Mutex
	closed bool
}

func (s *liveSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.h.ZeroCopyReadPacketData()
	switch {
	case err == nil, err == io.EOF:
		return data, ci, err
	case errors.Is(err, pcap.NextErrorTimeoutExpired):
		return nil, ci, ErrTimeout
	}
	return nil, ci, fmt.Errorf("capture on %q: %w", s.name, err)
}

func (s *liveSource) LinkType() layers.LinkType { return s.h.LinkType() }

func (s *liveSource) Stats() (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Stats{}, fmt.Errorf("capture on %q: stats: %w", s.name, errClosed)
	}
	st, err := s.h.Stats()
	if err != nil {
		return Stats{}, fmt.Errorf("capture on %q: stats: %w", s.name, err)
	}
	return Stats{
		Received:  uint64(uint32(st.PacketsReceived)), // libpcap counts in u_int
		Dropped:   uint64(uint32(st.PacketsDropped)),
		IfDropped: uint64(uint32(st.PacketsIfDropped)),
	}, nil
}

func (s *liveSource) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.h.Close()
}

// OpenFile opens a pcap or pcapng file; "-" reads standard input, which
// may be a pipe. A non-empty filter is applied as it would be live.
func OpenFile(path string, filter string) (Source, error) {
	if path == "-" {
		return openStream(os.Stdin, "-", filter)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read capture file: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("cannot read capture file: %w", err)
	case st.IsDir():
		f.Close()
		return nil, fmt.Errorf("%s: %w (it is a directory)", fileLabel(path), ErrNotCapture)
	case st.Mode().IsRegular() && st.Size() == 0:
		f.Close()
		return nil, fmt.Errorf("%s: %w (the file is empty)", fileLabel(path), ErrNotCapture)
	}
	if st.Mode().IsRegular() {
		src, ok, err := openGoFile(f, path, filter, st.Size())
		if ok || err != nil {
			if err != nil {
				f.Close()
			}
			return src, err
		}
	}
	defer f.Close() // libpcap reads from a duplicate of the descriptor
	return openStream(f, path, filter)
}

// fileLabel names a capture in errors.
func fileLabel(path string) string {
	if path == "-" {
		return "capture on standard input"
	}
	return fmt.Sprintf("capture file %q", path)
}

// openStream reads a capture from an open file or pipe; path is what the
// user named it.
func openStream(f *os.File, path, filter string) (Source, error) {
	h, err := pcap.OpenOfflineFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (libpcap: %w)", fileLabel(path), ErrNotCapture, err)
	}
	if filter != "" {
		ins, err := compileFilter(filter, h.LinkType(), h.SnapLen())
		if err == nil {
			err = h.SetBPFInstructionFilter(ins)
		}
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("%s: %w", fileLabel(path), err)
		}
	}
	return &fileSource{h: h, label: fileLabel(path)}, nil
}

type fileSource struct {
	h     *pcap.Handle
	label string
	n     uint64 // records returned so far, for the damage report
}

func (s *fileSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.h.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		s.n++
		return data, ci, nil
	case err == io.EOF:
		return nil, ci, io.EOF
	}
	// libpcap reports a short record as a read error, and its reason
	// ("truncated dump file; tried to read 1514 captured bytes, only got
	// 200") through pcap_geterr; gopacket's error only says "Read Error".
	return nil, ci, fmt.Errorf("%s: %w after %d packets (libpcap: %s); the packets before were read",
		s.label, ErrDamaged, s.n, s.h.Error())
}

func (s *fileSource) LinkType() layers.LinkType { return s.h.LinkType() }

func (s *fileSource) Stats() (Stats, error) { return Stats{}, nil }

func (s *fileSource) Close() { s.h.Close() }
