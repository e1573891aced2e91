package devices

// The device table: devices are created under the per-window and total
// caps, moved to the front of the recency list when seen again, given
// addresses and names, and evicted least recently seen first.

import (
	"fmt"
	"net/netip"
)

// create makes a device, evicting the least recently seen at MaxDevices.
// It returns nil, counted, when the window has had MaxNewPerWindow new
// devices already.
func (t *Tracker) create(mac [6]byte, hasMAC bool, a netip.Addr, ts int64) *entry {
	if t.newSinceDrain >= t.cfg.MaxNewPerWindow {
		t.newCapped.Add(1)
		return nil
	}
	t.newSinceDrain++
	if t.n >= t.cfg.MaxDevices && t.tail != nil {
		t.evict(t.tail)
	}
	e := &entry{mac: mac, hasMAC: hasMAC, first: ts, last: ts, moved: ts,
		addrs: make([]addrSeen, 0, min(4, t.cfg.MaxAddrs))}
	if hasMAC {
		e.macStr = formatMAC(mac)
		e.id = e.macStr
		e.random = mac[0]&0x02 != 0
		if !e.random {
			e.vendor = t.vendors.Lookup(mac)
		}
		t.byMAC[mac] = e
		if name, ok := t.names[mac]; ok {
			t.setName(e, name, NameConfig)
		}
	} else {
		e.id = a.String()
	}
	t.pushFront(e)
	t.n++
	t.nDevices.Store(int64(t.n))
	t.created.Add(1)
	t.markDirty(e)
	return e
}

func formatMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// touch notes that e was seen at ts.
func (t *Tracker) touch(e *entry, ts int64) {
	if ts > e.last {
		e.last = ts
	}
	if ts < e.first {
		e.first = ts
	}
	t.markDirty(e)
	if ts-e.moved > lruStep && t.head != e {
		e.moved = ts
		t.unlink(e)
		t.pushFront(e)
	}
}

func (t *Tracker) markDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		t.dirty = append(t.dirty, e)
	}
}

// addAddr notes that e used address a at ts. It returns false, adding
// nothing, when a is a new IPv4 address of a MAC that is, or now turns
// out to be, a router of another local subnet.
func (t *Tracker) addAddr(e *entry, a netip.Addr, ts int64) bool {
	for i := range e.addrs {
		s := &e.addrs[i]
		if s.addr == a {
			if ts > s.last {
				s.last = ts
			}
			s.dirty = true
			return true
		}
	}
	if e.hasMAC && a.Is4() {
		if e.router {
			return false
		}
		recent := 0
		for _, s := range e.addrs {
			if s.addr.Is4() && ts-s.last < routerWindow {
				recent++
			}
		}
		if recent >= routerIPv4 {
			e.router = true
			t.routers.Add(1)
			return false
		}
	}
	if other := t.byAddr[a]; other != nil && other != e {
		// The address moved to another device (a new lease, or a device
		// now seen with its MAC): it is no longer the old one's.
		other.dropAddr(a)
	}
	if len(e.addrs) >= t.cfg.MaxAddrs {
		oldest := 0
		for i, s := range e.addrs {
			if s.last < e.addrs[oldest].last {
				oldest = i
			}
		}
		delete(t.byAddr, e.addrs[oldest].addr)
		e.addrs = append(e.addrs[:oldest], e.addrs[oldest+1:]...)
		t.addrsDropped.Add(1)
	}
	e.addrs = append(e.addrs, addrSeen{addr: a, last: ts, dirty: true})
	t.byAddr[a] = e
	return true
}

func (e *entry) dropAddr(a netip.Addr) {
	for i, s := range e.addrs {
		if s.addr == a {
			e.addrs = append(e.addrs[:i], e.addrs[i+1:]...)
			return
		}
	}
}

// setName gives e a host name from src unless it has one from a more
// trusted source. Names are kept verbatim, capped at maxName bytes.
func (t *Tracker) setName(e *entry, name string, src NameSource) {
	if name == "" || src < e.src || (src == e.src && name == e.name) {
		return
	}
	if len(name) > maxName {
		name = name[:maxName]
	}
	e.name, e.src = name, src
	t.nameCount[src].Add(1)
	t.markDirty(e)
}

// evict forgets e. A change not yet drained is still drained: e stays in
// the dirty list, marked evicted.
func (t *Tracker) evict(e *entry) {
	t.unlink(e)
	if e.hasMAC {
		delete(t.byMAC, e.mac)
	}
	for _, s := range e.addrs {
		if t.byAddr[s.addr] == e {
			delete(t.byAddr, s.addr)
		}
	}
	e.evicted = true
	if t.last == e {
		t.last = nil
	}
	t.n--
	t.nDevices.Store(int64(t.n))
	t.evicted.Add(1)
}

func (t *Tracker) pushFront(e *entry) {
	e.prev, e.next = nil, t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
}

func (t *Tracker) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if t.head == e {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if t.tail == e {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
