package store

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/netmon/netmon/aggregate"
)

// DefaultPartItems is how many rows, names, corrections and devices one
// transaction writes at most. 20,000 rows commit in about a second on
// MariaDB, far inside the write timeout, even on a Pi's SD card; a window
// of a busy home network holds a few hundred.
const DefaultPartItems = 20_000

func partItems(cfg Config) int {
	if cfg.PartItems > 0 {
		return cfg.PartItems
	}
	return DefaultPartItems
}

// PartID is the ID of part k (from 0) of the window whose ID is id: the
// first 16 bytes of SHA-256 over a label, id and k. It depends on nothing
// else, so a retry, after a crash too, gives each part the ID it had. A
// zero id (a window written without one) gives zero: not recorded.
func PartID(id [16]byte, k int) [16]byte {
	if id == ([16]byte{}) {
		return id
	}
	h := sha256.New()
	h.Write([]byte("netmon window part\x00"))
	h.Write(id[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(k))
	h.Write(n[:])
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// splitWindow cuts w into parts of at most max items: its rows, then its
// names, corrections and devices, in that order, so that every part but
// the last is full. A window that fits is returned whole, as the only part.
func splitWindow(w *aggregate.Window, max int) []*aggregate.Window {
	total := len(w.Rows) + len(w.Names) + len(w.Corrections) + len(w.Devices)
	if total <= max {
		return []*aggregate.Window{w}
	}
	var parts []*aggregate.Window
	cur := &aggregate.Window{Start: w.Start}
	room := max
	next := func() {
		if room == max {
			return
		}
		parts = append(parts, cur)
		cur, room = &aggregate.Window{Start: w.Start}, max
	}
	for rows := w.Rows; len(rows) > 0; {
		n := min(room, len(rows))
		cur.Rows, rows, room = rows[:n:n], rows[n:], room-n
		if room == 0 {
			next()
		}
	}
	for names := w.Names; len(names) > 0; {
		n := min(room, len(names))
		cur.Names, names, room = names[:n:n], names[n:], room-n
		if room == 0 {
			next()
		}
	}
	for cs := w.Corrections; len(cs) > 0; {
		n := min(room, len(cs))
		cur.Corrections, cs, room = cs[:n:n], cs[n:], room-n
		if room == 0 {
			next()
		}
	}
	for ds := w.Devices; len(ds) > 0; {
		n := min(room, len(ds))
		cur.Devices, ds, room = ds[:n:n], ds[n:], room-n
		if room == 0 {
			next()
		}
	}
	next()
	for k, p := range parts {
		p.ID = PartID(w.ID, k)
	}
	return parts
}
