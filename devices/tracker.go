package devices

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/localnet"
)

// Defaults of Config's caps. A home network has tens of devices, an office a few
// hundred; 4,096 leaves room for a guest network's churn of randomised
// MACs. A phone keeps an IPv4 address, a link-local and a few IPv6 privacy
// addresses a day: 16 holds several days of them.
//
// A window of 10 s rarely brings more than a few new devices: 256 leaves
// room for a guest network's burst of arrivals, and a router forwarding
// another subnet brings at most 32 new hosts per window. Devices refused
// in one window are tracked in a later one if they keep sending.
const (
	DefaultMaxDevices      = 4096
	DefaultMaxAddrs        = 16
	DefaultMaxNewPerWindow = 256
	DefaultMaxNewPerRouter = 32
)

// routerIPv4 is how many IPv4 addresses one MAC may show within
// routerWindow before the tracker takes it for a router forwarding
// another local subnet: every host behind it then arrives with the
// router's MAC. A device holds one IPv4 address per interface, and keeps
// a lease for hours, so four at once is already unusual. The addresses
// after that are tracked as devices of their own, identified by address
// (their real MAC is behind the router); the router keeps the ones it had.
const (
	routerIPv4   = 4
	routerWindow = int64(time.Hour)
)

// ptrRetry is how long, in packet time, a device without a name waits
// before its address is looked up again: home routers learn names from
// DHCP leases, which may come after the first lookup.
const ptrRetry = int64(30 * time.Minute)

// lruStep is how often, in packet time, a device seen again is moved to
// the front of the eviction list: moving it for every packet costs pointer
// writes on the hot path for an order that only matters at the cap.
const lruStep = int64(time.Second)

// PTRRequester looks up local addresses' PTR names in the background and
// hands the answers to Tracker.PTRName. *ptr.Resolver is one.
type PTRRequester interface {
	RequestDevice(addr netip.Addr)
}

// Deps are the tracker's collaborators.
type Deps struct {
	// Local says which addresses are local devices'; nil means the
	// built-in private ranges (localnet.New(nil)).
	Local *localnet.Nets
	// PTR, when set, is asked for the PTR name of devices that have no
	// better name; nil means no PTR lookups (--no-ptr).
	PTR PTRRequester
	// Vendors, when set, is used instead of reading Config.OUIFile in
	// ReadRegistry (tests share one registry).
	Vendors *Vendors
	// Log receives the one line about a missing registry or bad config;
	// nil discards it.
	Log *slog.Logger
}

// Stats are the tracker's counters.
type Stats struct {
	Devices      int    // devices remembered now
	Created      uint64 // devices first seen
	Evicted      uint64 // devices forgotten at MaxDevices
	AddrsDropped uint64 // addresses dropped at MaxAddrs
	// NewCapped counts packets of devices not tracked because the window
	// had MaxNewPerWindow new devices already; RouterCapped, because their
	// router's MAC had brought MaxNewPerRouter.
	NewCapped, RouterCapped uint64
	Routers                 uint64 // MACs taken for routers of another local subnet
	// Names counts host names taken, by NameSource: a new name, or a
	// better-trusted one.
	Names [NameConfig + 1]uint64
	// Messages parsed per protocol, and those that were not whole.
	DHCP, DHCPv6, MDNS, NetBIOS, Malformed uint64
	// Vendors is the number of registry assignments loaded; 0 when the
	// registry is missing.
	Vendors int
}

// Tracker learns the local devices from the packets the capture sees. It
// is safe for concurrent use: Observe runs in the learn stage, Drain in
// the aggregate stage, PTRName in PTR workers.
type Tracker struct {
	local   *localnet.Nets
	names   map[[6]byte]string // Config.Names by MAC
	ptr     PTRRequester
	cfg     Config // the caps are read from it
	ouiFile string // the registry ReadRegistry reads; "" once it has one
	log     *slog.Logger

	mu      sync.Mutex
	vendors *Vendors
	byMAC   map[[6]byte]*entry
	byAddr  map[netip.Addr]*entry // every address of every device
	head    *entry                // most recently seen
	tail    *entry                // least recently seen: evicted first
	n       int
	dirty   []*entry
	// New devices since the last Drain, in all and per router MAC.
	newSinceDrain int
	newByRouter   map[[6]byte]int
	// The last device looked up, and the last MAC found forwarding
	// traffic from remote addresses: packets come in runs, and a compare
	// costs less than a map lookup.
	last      *entry
	lastGW    [6]byte
	hasLastGW bool

	// Scratch kept between messages so that parsing allocates little.
	dhcp    layers.DHCPv4
	dns     dnsmessage.Parser
	records []hostAddr
	ptrAsk  []netip.Addr

	created, evicted, addrsDropped, routers atomic.Uint64
	newCapped, routerCapped                 atomic.Uint64
	nameCount                               [NameConfig + 1]atomic.Uint64
	nDHCP, nDHCPv6, nMDNS, nNetBIOS, nBad   atomic.Uint64
	nDevices, nVendors                      atomic.Int64
}

// entry is one device. Times are packet times in Unix nanoseconds.
type entry struct {
	mac    [6]byte
	hasMAC bool
	id     string // the MAC's or the address's text, made once
	macStr string
	addrs  []addrSeen
	name   string
	src    NameSource
	vendor string
	random bool
	router bool // forwards another local subnet: new IPv4 addresses are not its own
	gw     bool // forwards traffic from remote addresses: their addresses are not its own

	first, last, moved, ptrAsked int64
	dirty, evicted               bool
	prev, next                   *entry
}

type addrSeen struct {
	addr  netip.Addr
	last  int64
	dirty bool
}

// New returns a tracker of the devices in the local networks deps.Local.
// It reads nothing: ReadRegistry reads the vendor registry. cfg is
// DefaultConfig() with the settings the caller changes; New panics on caps
// no tracker can run with (see Config.check), which only a caller's
// mistake makes.
func New(cfg Config, deps Deps) *Tracker {
	if err := cfg.check(); err != nil {
		panic("devices.New: " + err.Error())
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	local := deps.Local
	if local == nil {
		local = localnet.New(nil)
	}
	t := &Tracker{
		local: local, vendors: deps.Vendors, ptr: deps.PTR, cfg: cfg, log: log,
		names: make(map[[6]byte]string, len(cfg.Names)),
		byMAC: make(map[[6]byte]*entry), byAddr: make(map[netip.Addr]*entry),
		newByRouter: make(map[[6]byte]int),
	}
	t.nVendors.Store(int64(deps.Vendors.Len()))
	if deps.Vendors == nil {
		t.ouiFile = cfg.OUIFile
	}
	for k, name := range cfg.Names {
		mac, err := net.ParseMAC(k)
		if err != nil || len(mac) != 6 {
			log.Warn("device name ignored: not a MAC address", "mac", k, "name", name)
			continue
		}
		t.names[[6]byte(mac)] = name
	}
	return t
}

// ReadRegistry reads the vendor registry (Config.OUIFile; none when "")
// unless Deps.Vendors gave one, and names the vendors of
// the devices seen meanwhile. The pipeline runs it beside the stages: the
// full registry takes tens of milliseconds to read (more on a Pi), which
// capture must not wait for. A missing registry names no vendors and is
// logged once.
func (t *Tracker) ReadRegistry() {
	if t.ouiFile == "" {
		return
	}
	v, err := LoadVendors(t.ouiFile)
	if err != nil {
		t.log.Warn("device vendors unknown", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.vendors = v
	t.nVendors.Store(int64(v.Len()))
	for _, e := range t.byMAC {
		if !e.random && e.vendor == "" {
			if e.vendor = v.Lookup(e.mac); e.vendor != "" {
				t.markDirty(e)
			}
		}
	}
}

// Stats returns the counters.
func (t *Tracker) Stats() Stats {
	s := Stats{
		Devices: int(t.nDevices.Load()), Created: t.created.Load(), Evicted: t.evicted.Load(),
		AddrsDropped: t.addrsDropped.Load(), Routers: t.routers.Load(),
		NewCapped: t.newCapped.Load(), RouterCapped: t.routerCapped.Load(),
		DHCP: t.nDHCP.Load(), DHCPv6: t.nDHCPv6.Load(), MDNS: t.nMDNS.Load(), NetBIOS: t.nNetBIOS.Load(),
		Malformed: t.nBad.Load(), Vendors: int(t.nVendors.Load()),
	}
	for i := range s.Names {
		s.Names[i] = t.nameCount[i].Load()
	}
	return s
}

// Observe learns from every packet of b: which device (MAC) sent it from
// which local address, and what the device announcement protocols (DHCP,
// DHCPv6, mDNS, NetBIOS) say. It takes the payloads of those protocols'
// datagrams out of the packets (Payload becomes nil): nothing after the
// tracker reads them, and the learn stage would take them for the first
// bytes of a flow. So it runs before the learner.
//
// A packet from a device seen before costs one map lookup, none when the
// previous packet came from the same device, and no allocation.
func (t *Tracker) Observe(b *capture.Batch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range b.Packets {
		p := &b.Packets[i]
		e := t.sender(p)
		if len(p.Payload) > 0 && p.Proto == capture.ProtoUDP && (devicePort(p.SrcPort) || devicePort(p.DstPort)) {
			t.announcement(p, e)
			p.Payload = nil
		}
	}
}

// devicePort reports whether p is one of capture.DefaultDevicePorts.
func devicePort(p uint16) bool {
	switch p {
	case 67, 68, 137, 546, 547, 5353:
		return true
	}
	return false
}

// validMAC reports whether a source MAC can name a device: not zero (no
// link layer, or a loopback), not a group address.
func validMAC(m [6]byte) bool {
	return m != [6]byte{} && m[0]&0x01 == 0
}

// sender finds (or makes) the device that sent p, notes the address it
// sent from, and returns it; nil when p's source is not a local device.
func (t *Tracker) sender(p *capture.Packet) *entry {
	src := p.Src
	hasMAC := validMAC(p.SrcMAC)
	if !hasMAC && p.SrcMAC != [6]byte{} {
		return nil // a group address never sends: a forged or broken frame
	}
	if !t.local.Contains(src) {
		if hasMAC {
			t.remoteSource(p)
		}
		return nil
	}
	if src.Is4In6() {
		src = src.Unmap()
	}
	usable := usableAddr(src)
	ts := p.TS.UnixNano()
	if !hasMAC {
		if !usable {
			return nil
		}
		return t.byAddress(src, ts)
	}
	e := t.last
	if e == nil || !e.hasMAC || e.mac != p.SrcMAC || e.evicted {
		e = t.byMAC[p.SrcMAC]
		if e == nil {
			if e = t.create(p.SrcMAC, true, netip.Addr{}, ts); e == nil {
				return nil
			}
		}
		t.last = e
	}
	t.touch(e, ts)
	if usable && !t.addAddr(e, src, ts) {
		// A router's MAC bringing a host of the subnet behind it.
		return t.behind(e, src, ts)
	}
	return e
}

// behind finds or makes the device of a host at a behind router r, within
// MaxNewPerRouter new ones per window.
func (t *Tracker) behind(r *entry, a netip.Addr, ts int64) *entry {
	if e := t.byAddr[a]; e != nil {
		t.touch(e, ts)
		return e
	}
	if t.newByRouter[r.mac] >= t.cfg.MaxNewPerRouter {
		t.routerCapped.Add(1)
		return nil
	}
	e := t.byAddress(a, ts)
	if e != nil {
		t.newByRouter[r.mac]++
	}
	return e
}

// remoteSource handles a frame from a device's MAC whose source address is
// not local. A device's IPv6 global (privacy) addresses are not local
// networks unless the user declared the prefix, yet they are the device's:
// such a source belongs to the MAC's device when the frame goes to a
// server port from another port (a client's request), unless the MAC is a
// gateway: one seen forwarding packets from remote IPv4 addresses, whose
// remote-looking sources are never its own.
func (t *Tracker) remoteSource(p *capture.Packet) {
	if p.Src.Is4() || p.Src.Is4In6() {
		// A device never sends from a remote IPv4 address: this MAC
		// forwards traffic.
		if t.hasLastGW && t.lastGW == p.SrcMAC {
			return
		}
		if e := t.byMAC[p.SrcMAC]; e != nil {
			e.gw = true
		}
		t.lastGW, t.hasLastGW = p.SrcMAC, true
		return
	}
	if !p.Src.IsGlobalUnicast() || !serverPort(p.DstPort) || serverPort(p.SrcPort) {
		return
	}
	e := t.last
	if e == nil || !e.hasMAC || e.mac != p.SrcMAC || e.evicted {
		if e = t.byMAC[p.SrcMAC]; e == nil {
			return // a MAC never seen with a local address names no device yet
		}
		t.last = e
	}
	if e.gw || e.router {
		return
	}
	ts := p.TS.UnixNano()
	t.touch(e, ts)
	t.addAddr(e, p.Src, ts)
}

// serverPort is a port clients connect to: the name ports and DNS.
func serverPort(p uint16) bool {
	return p == 53 || p == 80 || p == 443 || p == 853 || p == 8080 || p == 8443
}

// usableAddr reports whether a local source address can be a device's:
// not unspecified (a DHCP client before its lease), loopback, multicast or
// broadcast.
func usableAddr(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// byAddress finds or makes the device identified by its address alone.
func (t *Tracker) byAddress(a netip.Addr, ts int64) *entry {
	e := t.byAddr[a]
	if e == nil {
		if e = t.create([6]byte{}, false, a, ts); e == nil {
			return nil
		}
		t.addAddr(e, a, ts)
	}
	t.touch(e, ts)
	return e
}

// Drain appends to dst what changed about each device since the previous
// Drain, and returns it. It also asks for the PTR names of changed devices
// that have no better name.
func (t *Tracker) Drain(dst []Device) []Device {
	t.mu.Lock()
	t.ptrAsk = t.ptrAsk[:0]
	for _, e := range t.dirty {
		d := Device{
			ID: e.id, MAC: e.macStr, Hostname: e.name, NameSource: e.src,
			Vendor: e.vendor, Randomised: e.random,
			FirstSeen: time.Unix(0, e.first).UTC(), LastSeen: time.Unix(0, e.last).UTC(),
		}
		for i := range e.addrs {
			s := &e.addrs[i]
			if s.dirty {
				d.Addrs = append(d.Addrs, Addr{Addr: s.addr, LastSeen: time.Unix(0, s.last).UTC()})
				s.dirty = false
			}
		}
		dst = append(dst, d)
		e.dirty = false
		if t.ptr != nil && !e.evicted && e.src < NamePTR && (e.ptrAsked == 0 || e.last-e.ptrAsked > ptrRetry) {
			if a, ok := ptrAddr(e); ok {
				e.ptrAsked = e.last
				t.ptrAsk = append(t.ptrAsk, a)
			}
		}
	}
	clear(t.dirty)
	t.dirty = t.dirty[:0]
	t.newSinceDrain = 0
	clear(t.newByRouter)
	ask := slices.Clone(t.ptrAsk)
	t.mu.Unlock()
	// Outside the lock: a PTR worker answering takes it in PTRName.
	for _, a := range ask {
		t.ptr.RequestDevice(a)
	}
	return dst
}

// ptrAddr picks the address of e a home router is likeliest to have a PTR
// record for: its most recent IPv4 address from DHCP, else an IPv6 address
// that is not link-local. Link-local addresses have no PTR records.
func ptrAddr(e *entry) (netip.Addr, bool) {
	var best netip.Addr
	var bestTS int64
	for _, s := range e.addrs {
		a := s.addr
		if a.IsLinkLocalUnicast() {
			continue
		}
		better := !best.IsValid() || (a.Is4() && !best.Is4()) || (a.Is4() == best.Is4() && s.last > bestTS)
		if better {
			best, bestTS = a, s.last
		}
	}
	return best, best.IsValid()
}

// PTRName takes the PTR name the local resolver gave addr. It names the
// device holding addr, unless that device has a better name already.
func (t *Tracker) PTRName(addr netip.Addr, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byAddr[addr.Unmap()]; e != nil {
		t.setName(e, name, NamePTR)
	}
}

// announcement reads the payload of a device protocol's datagram, sent by
// device e (nil when its sender is not a local device).
func (t *Tracker) announcement(p *capture.Packet, e *entry) {
	ts := p.TS.UnixNano()
	switch {
	case (p.SrcPort == 68 && p.DstPort == 67) || (p.SrcPort == 67 && p.DstPort == 68):
		t.nDHCP.Add(1)
		info, ok := parseDHCP(&t.dhcp, p.Payload)
		if !ok {
			t.nBad.Add(1)
			return
		}
		if !validMAC(info.mac) {
			return
		}
		d := t.byMAC[info.mac]
		if d == nil {
			if d = t.create(info.mac, true, netip.Addr{}, ts); d == nil {
				return
			}
		}
		t.touch(d, ts)
		if info.addr.IsValid() && t.local.Contains(info.addr) && usableAddr(info.addr) {
			t.addAddr(d, info.addr, ts)
		}
		t.setName(d, info.name, NameDHCP)
	case p.SrcPort == 546 && p.DstPort == 547:
		t.nDHCPv6.Add(1)
		if e != nil {
			t.setName(e, parseDHCPv6(p.Payload), NameDHCP)
		}
	case p.SrcPort == 5353 || p.DstPort == 5353:
		t.nMDNS.Add(1)
		var whole bool
		t.records, whole = parseMDNS(&t.dns, p.Payload, t.records[:0])
		if !whole {
			t.nBad.Add(1)
		}
		t.name(p, e, t.records, NameMDNS, ts)
	case p.SrcPort == 137 || p.DstPort == 137:
		t.nNetBIOS.Add(1)
		t.records = parseNetBIOS(p.Payload, t.records[:0])
		t.name(p, e, t.records, NameNetBIOS, ts)
	}
	// Anything else (a DHCPv6 server's reply, say) names no one.
}

// name gives each announced address's device its name. The device is the
// one holding the address; an address nobody holds yet is the sender's
// when the sender announced it under the same name as the address it
// sends from (its other interfaces' addresses, say). Anything else (a
// sleep proxy speaking for a device never seen) is skipped.
func (t *Tracker) name(p *capture.Packet, sender *entry, recs []hostAddr, src NameSource, ts int64) {
	for _, r := range recs {
		a := r.addr.Unmap()
		if !t.local.Contains(a) || !usableAddr(a) {
			continue
		}
		d := t.byAddr[a]
		if d == nil && sender != nil && t.ownName(recs, r.name, p.Src.Unmap()) {
			if t.addAddr(sender, a, ts) {
				d = sender
			}
		}
		if d != nil {
			t.setName(d, r.name, src)
		}
	}
}

// ownName reports whether recs bind name to the sender's address src.
func (t *Tracker) ownName(recs []hostAddr, name string, src netip.Addr) bool {
	for _, r := range recs {
		if r.name == name && r.addr.Unmap() == src {
			return true
		}
	}
	return false
}
