package aggregate

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// Config sets how windows are cut and bounded.
type Config struct {
	// Width is the window length; windows are aligned to the Unix epoch.
	Width time.Duration
	// Lateness is how far packet time may pass a window's end before the
	// window closes, so packets that arrive slightly out of order still
	// count in their own window.
	Lateness time.Duration
	// Live closes windows by the wall clock too, so the last window of a
	// burst is written even when no later packet arrives.
	Live bool
	// MaxKeys caps the (client, remote) keys of one window. Beyond it,
	// packets count under their client's overflow row, so a flood of
	// addresses cannot grow memory without bound. Past MaxKeys−KeyReserve
	// only clients holding fewer than SmallClientKeys keys get new ones:
	// the clients that filled the window lose detail, not the others.
	MaxKeys    int
	KeyReserve int
	// MaxClientKeys caps the keys one client may hold in a window; its
	// packets beyond it count under its own overflow row (client kept,
	// domain "(overflow)"), so a flood to or from one device never takes
	// another's keys.
	MaxClientKeys int
	// MaxNewClients caps the clients of one window that are not known
	// from earlier windows (see MaxKnownClients). Packets of clients
	// beyond it count under the overflow client (OverflowClient), so that
	// a flood of spoofed local addresses cannot grow the window, nor the
	// rows it writes, without bound.
	MaxNewClients int
	// MaxKnownClients caps the clients remembered from closed windows (the
	// busiest of each, with two packets or more). A known client gets its
	// keys in a window however many new clients come.
	MaxKnownClients int
	// MaxGuesses caps how many addresses written under a guessed name
	// (PTR or the bare address) are remembered for later correction.
	MaxGuesses int
}

// DefaultConfig returns the settings netmon runs with.
func DefaultConfig() Config {
	return Config{
		Width:           10 * time.Second,
		Lateness:        2 * time.Second,
		MaxKeys:         200_000,
		KeyReserve:      20_000,
		MaxClientKeys:   4_096,
		MaxNewClients:   4_096,
		MaxKnownClients: 4_096,
		MaxGuesses:      16_384,
	}
}

// Names is what the windows need from the address table.
type Names interface {
	Lookup(client, remote netip.Addr) (source.Record, bool)
	Drain(dst []source.Record) []source.Record
}

// PTRRequester starts a background reverse lookup; it must never block.
type PTRRequester interface {
	Request(addr netip.Addr)
}

// Deps are the collaborators of Windows.
type Deps struct {
	Names Names
	PTR   PTRRequester // nil: no reverse lookups
	// Named gives the nickname of a row from its domain and the remote
	// address it was counted for (address rules), and where the nickname
	// came from; nil: the catalogue's (nickname.Named).
	Named func(domain string, remote netip.Addr) (string, nickname.Source)
	// Devices, when set, is drained at every close into Window.Devices.
	Devices DeviceSource
	// Cut, when set, says which batches mark the end of an input (a
	// replayed file) rather than carry packets: at one, every open window
	// closes, what was learned is written, an InputEnd window is sent, and
	// the windows after it belong to the next input. So each window holds
	// the packets of one file, and a file's windows are the same whatever
	// was read before it.
	Cut func(*capture.Batch) bool
	Now func() time.Time // wall clock, for live mode only
}

// DeviceSource is what the windows need from the device tracker: what
// changed about local devices since the previous close.
type DeviceSource interface {
	Drain(dst []devices.Device) []devices.Device
}

// OverflowDomain names the rows that collect packets beyond the caps on a
// window's keys: one per client that passed its cap, under that client.
const OverflowDomain = "(overflow)"

// OverflowClient is how the store writes the client of the row that
// collects the packets of clients beyond MaxNewClients (Row.Client is the
// zero address): it names no device.
const OverflowClient = "(overflow)"

// smallClientKeys is how many keys a client may still open in a window
// past MaxKeys−KeyReserve: enough for a device's usual traffic, so that
// the clients that filled the window are the ones that lose detail.
const smallClientKeys = 64

// Stats counts what the windows did. All fields are read atomically.
type Stats struct {
	Packets  atomic.Uint64 // packets counted into a window
	Late     atomic.Uint64 // packets whose window had already closed (written as an extra, additive batch)
	Overflow atomic.Uint64 // packets counted under OverflowDomain, for any of the reasons below
	// ClientKeysCapped counts packets counted under their client's
	// overflow row because the client held MaxClientKeys keys.
	ClientKeysCapped atomic.Uint64
	// WindowKeysCapped counts packets counted under their client's
	// overflow row because the window held MaxKeys keys (or
	// MaxKeys−KeyReserve and the client was not small).
	WindowKeysCapped atomic.Uint64
	// NewClientsCapped counts packets counted under the overflow client
	// because the window had MaxNewClients new clients already.
	NewClientsCapped atomic.Uint64
	Windows          atomic.Uint64 // windows closed
	Rows             atomic.Uint64 // rows produced
	// RowsByNickSource counts rows produced by where their nickname came
	// from, indexed by nickname.Source.
	RowsByNickSource [nickname.FromCatalogue + 1]atomic.Uint64
	Corrections      atomic.Uint64 // corrections produced
	GuessEvict       atomic.Uint64 // guessed addresses forgotten at MaxGuesses (their rows stay uncorrected)
	// FlowsUnnamedAtClose counts keys of flows still awaiting their name
	// when their window closed: counted under the address's name.
	FlowsUnnamedAtClose atomic.Uint64
}

// Key identifies what a window counts: one client talking to one remote,
// under the name the flow gave (when it gave one).
type Key struct {
	Client, Remote netip.Addr
	// Name is the flow's own name, for packets of a flow that named its
	// server in its first bytes. Packets of all flows with the same name
	// share it.
	Name *capture.FlowName
	// Flow is the learn stage's id of a flow whose name was still awaited
	// when these packets came; when the packet that brings the name passes,
	// the key becomes (or is added to) the named one (Windows.nameFlow).
	Flow uint32
}

type counter struct {
	count, bytes uint64
}

type window struct {
	start int64 // unix nanoseconds
	keys  map[Key]int
	cnts  []counter
	order []Key // insertion order, so rows come out deterministically
	// flows finds the key of a flow awaiting its name by the flow's id;
	// moreFlows holds the slots of a flow's further keys, when its packets
	// came under more than one (client, remote) (rare: a direction that
	// changed as devices were learned).
	flows     map[uint32]int
	moreFlows []int
	// dead counts the slots of cnts and order whose flow key was added to
	// its named key (count 0, zero Key); compact drops them.
	dead int
	// opened counts the keys opened in this window, those since added to
	// their named key included: the caps count openings.
	opened int
	// clients holds, per client, the keys it opened in this window.
	clients    map[netip.Addr]int
	newClients int // clients not known when they came
	// late: the window was due to close when it opened (its start had
	// been closed already, or a replay went back in time). touched: a
	// packet was counted in it since the last close attempt.
	late, touched bool
}

// closeAll is the time that closes every window, at the end of input.
const closeAll = 1 << 62

// Windows is the aggregate stage.
type Windows struct {
	cfg   Config
	deps  Deps
	stats Stats

	open      []*window // open windows, oldest first; almost always one or two
	watermark int64     // latest packet time seen
	closedTo  int64     // windows starting before this have been closed once

	guessed   map[netip.Addr]string // address → guessed domain written for it
	guessFIFO []netip.Addr          // eviction order of guessed
	drainBuf  []source.Record
	closing   []*window // scratch of closeUntil

	// known holds the busiest clients of the windows closed so far, with
	// the start of the last window they were among the busiest of; at most
	// MaxKnownClients, the least recent forgotten first.
	known map[netip.Addr]int64

	// For device changes when no window closes: the latest time of any
	// packet (counted or not), and when devices were last drained (wall
	// clock, live only).
	lastPacket  int64
	lastDevices int64
	// lastNames is the packet time names were last written at (by a
	// close or flushIdle), so that a stretch with names but no counted
	// traffic (a DNS-only capture) still writes them every window width.
	lastNames int64
	// input is the number of inputs ended so far (Deps.Cut).
	input int
}

// New returns an inert Windows; Run starts it. cfg is DefaultConfig()
// with the settings the caller changes; New panics on settings no Windows
// can run with (see Config.check), which only a caller's mistake makes:
// the settings users give are checked where they are read.
func New(cfg Config, deps Deps) *Windows {
	if err := cfg.check(); err != nil {
		panic("aggregate.New: " + err.Error())
	}
	if deps.Named == nil {
		deps.Named = func(domain string, _ netip.Addr) (string, nickname.Source) { return nickname.Named(domain) }
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Windows{cfg: cfg, deps: deps, guessed: make(map[netip.Addr]string), known: make(map[netip.Addr]int64)}
}

// check reports a setting no Windows can run with: a window of no width,
// negative lateness, or a cap that admits nothing.
func (c Config) check() error {
	switch {
	case c.Width <= 0:
		return fmt.Errorf("Width %s: want a positive window", c.Width)
	case c.Lateness < 0:
		return fmt.Errorf("Lateness %s: want zero or more", c.Lateness)
	case c.MaxKeys <= 0 || c.MaxClientKeys <= 0 || c.MaxNewClients <= 0 || c.MaxKnownClients <= 0 || c.MaxGuesses <= 0:
		return fmt.Errorf("caps MaxKeys %d, MaxClientKeys %d, MaxNewClients %d, MaxKnownClients %d, MaxGuesses %d: want all positive",
			c.MaxKeys, c.MaxClientKeys, c.MaxNewClients, c.MaxKnownClients, c.MaxGuesses)
	case c.KeyReserve < 0 || c.KeyReserve >= c.MaxKeys:
		return fmt.Errorf("KeyReserve %d: want from 0 to below MaxKeys (%d)", c.KeyReserve, c.MaxKeys)
	}
	return nil
}

// Stats returns the live counters.
func (w *Windows) Stats() *Stats { return &w.stats }

// Run counts the packets of every batch from in and sends each closed window
// to out. When in is closed it closes every open window, then out. It
// returns early only if ctx ends while a send is blocked.
func (w *Windows) Run(ctx context.Context, in <-chan *capture.Batch, out chan<- *Window) error {
	defer close(out)
	var tick <-chan time.Time
	if w.cfg.Live {
		// A second is fine-grained enough against a 10 s window and costs nothing.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return w.Finish(ctx, out)
			}
			if err := w.Step(ctx, b, out); err != nil {
				return err
			}
		case <-tick:
			now := w.deps.Now().UnixNano()
			if err := w.closeUntil(ctx, out, now); err != nil {
				return err
			}
			if now-w.lastDevices >= int64(w.cfg.Width) {
				if err := w.flushIdle(ctx, out, now); err != nil {
					return err
				}
			}
		}
	}
}

// Step is what Run does with one batch, for a caller that runs the windows
// in its own goroutine (a replay, which has no wall clock to close them by):
// it counts b, releases it and sends the windows it closes to out.
func (w *Windows) Step(ctx context.Context, b *capture.Batch, out chan<- *Window) error {
	if w.deps.Cut != nil && w.deps.Cut(b) {
		return w.endInput(ctx, out)
	}
	w.Add(b)
	b.Release()
	if err := w.closeUntil(ctx, out, w.watermark); err != nil {
		return err
	}
	if w.lastNames == 0 {
		// Names start waiting at the first packet: those of the
		// first batch go with the first window, as ever.
		w.lastNames = w.lastPacket
	}
	if len(w.open) == 0 && w.lastPacket-w.lastNames >= int64(w.cfg.Width) {
		// Packets but no window: DNS alone, or traffic that is not
		// counted. What they taught is written all the same.
		if err := w.flushIdle(ctx, out, w.lastPacket); err != nil {
			return err
		}
	}
	return nil
}

// Finish is what Run does when its input ends: it closes every open window
// and sends it to out (out itself stays open: its sender closes it).
func (w *Windows) Finish(ctx context.Context, out chan<- *Window) error {
	if err := w.closeUntil(ctx, out, closeAll); err != nil {
		return err
	}
	return w.flushIdle(ctx, out, w.lastPacket)
}

// Add counts the packets of b that the resolve stage marked as countable.
func (w *Windows) Add(b *capture.Batch) {
	width := int64(w.cfg.Width)
	var cur *window
	// The last key found in its window, and its slot: packets come in
	// runs of one flow, and comparing a key costs less than hashing it.
	// Renaming a flow's keys (nameFlow) may move slots, so it forgets it;
	// no window closes during Add.
	var (
		lastWin *window
		lastKey Key
		lastIdx int
	)
	for i := range b.Packets {
		p := &b.Packets[i]
		if p.Flow != 0 && p.Name != nil {
			// This packet brought its flow's name: the flow's earlier
			// packets take it, whatever this packet's direction.
			w.nameFlow(p)
			lastWin = nil
		}
		var k Key
		switch p.Dir {
		case capture.DirRemoteDst:
			k = Key{Client: p.Src, Remote: p.Dst}
		case capture.DirRemoteSrc:
			k = Key{Client: p.Dst, Remote: p.Src}
		default:
			if ts := p.TS.UnixNano(); ts > w.lastPacket {
				w.lastPacket = ts
			}
			continue
		}
		if p.Name != nil {
			k.Name = p.Name
		} else {
			k.Flow = p.Flow
		}
		ts := p.TS.UnixNano()
		if ts > w.watermark {
			w.watermark = ts
		}
		if ts > w.lastPacket {
			w.lastPacket = ts
		}
		start := ts - mod(ts, width)
		if cur == nil || cur.start != start {
			cur = w.window(start)
		}
		idx, ok := lastIdx, cur == lastWin && k == lastKey
		if !ok {
			if idx, ok = cur.keys[k]; ok {
				lastWin, lastKey, lastIdx = cur, k, idx
			}
		}
		if !ok {
			if k, ok = w.admit(cur, k); ok {
				idx, ok = cur.keys[k]
			}
			if !ok {
				idx = len(cur.cnts)
				cur.opened++
				cur.keys[k] = idx
				if k.Flow != 0 {
					cur.noteFlowKey(k.Flow, idx)
				}
				cur.cnts = append(cur.cnts, counter{})
				cur.order = append(cur.order, k)
				w.requestPTR(k)
			}
		}
		cur.touched = true
		c := &cur.cnts[idx]
		c.count++
		c.bytes += uint64(p.WireLen)
		w.stats.Packets.Add(1)
	}
}

// window returns the open window starting at start, opening it if needed.
func (w *Windows) window(start int64) *window {
	for _, win := range w.open {
		if win.start == start {
			return win
		}
	}
	win := &window{start: start, keys: make(map[Key]int)}
	if start < w.closedTo {
		// Its window was already written: count it in a fresh one that is
		// written as an extra batch; rows add up in the store.
		w.stats.Late.Add(1)
		win.late = true
	}
	if start+int64(w.cfg.Width)+int64(w.cfg.Lateness) <= w.watermark {
		// Due as soon as it opens (a replay that went back in time).
		win.late = true
	}
	// Keep open sorted by start; new windows are nearly always the newest.
	i := len(w.open)
	for i > 0 && w.open[i-1].start > start {
		i--
	}
	w.open = append(w.open, nil)
	copy(w.open[i+1:], w.open[i:])
	w.open[i] = win
	return win
}

// closeUntil closes, oldest first, every open window whose end plus the
// lateness is at or before t. A late window (due when it opened: packets
// for a window already written, or a replay that went back in time)
// closes once a batch passed without adding to it: the next batch may
// still hold the name of a flow its packets await.
func (w *Windows) closeUntil(ctx context.Context, out chan<- *Window, t int64) error {
	width, late := int64(w.cfg.Width), int64(w.cfg.Lateness)
	closing := w.closing[:0]
	kept := w.open[:0]
	for _, win := range w.open {
		due := win.start+width+late <= t
		if due && win.late && win.touched && t != closeAll {
			win.touched, due = false, false
		}
		if due {
			closing = append(closing, win)
		} else {
			kept = append(kept, win)
		}
	}
	clear(w.open[len(kept):])
	w.open = kept
	w.closing = closing
	if len(closing) == 0 {
		return nil
	}
	defer clear(w.closing) // let the closed windows go
	for _, win := range closing {
		if end := win.start + width; end > w.closedTo {
			w.closedTo = end
		}
		res := w.close(win)
		select {
		case out <- res:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// close names every key of win once and turns the window into rows.
func (w *Windows) close(win *window) *Window {
	res := &Window{Start: time.Unix(0, win.start).UTC(), Input: w.input}
	if w.deps.Devices != nil {
		res.Devices = w.deps.Devices.Drain(nil)
		w.lastDevices = w.deps.Now().UnixNano()
	}
	// Draining before naming this window means this window already uses
	// the new names.
	w.drainNames(res)
	w.lastNames = max(w.lastNames, win.start+int64(w.cfg.Width))

	type rowKey struct {
		client netip.Addr
		domain string
	}
	rows := make(map[rowKey]int) // far fewer than keys: most keys are flows of a few names
	type named struct {
		nick string
		src  nickname.Source
	}
	nick := make(map[string]named)
	for i, k := range win.order {
		c := win.cnts[i]
		if c.count == 0 {
			continue // added to its named key
		}
		fn := k.Name
		if fn == nil && k.Flow != 0 {
			w.stats.FlowsUnnamedAtClose.Add(1)
		}
		domain, src := w.name(k, fn)
		rk := rowKey{k.Client, domain}
		if j, ok := rows[rk]; ok {
			res.Rows[j].Count += c.count
			res.Rows[j].Bytes += c.bytes
			if src < res.Rows[j].Source {
				res.Rows[j].Source = src
			}
			if fn != nil && fn.Nickname != "" {
				res.Rows[j].Nickname = fn.Nickname // the protocol is surer than the name
				res.Rows[j].NickSource = nickname.FromCatalogue
			}
			continue
		}
		n, ok := nick[domain]
		if !ok {
			n.nick, n.src = w.deps.Named(domain, k.Remote)
			if k.Remote == (netip.Addr{}) {
				n = named{OverflowDomain, nickname.FromAddress}
			}
			nick[domain] = n
		}
		if fn != nil && fn.Nickname != "" {
			n = named{fn.Nickname, nickname.FromCatalogue}
		}
		rows[rk] = len(res.Rows)
		res.Rows = append(res.Rows, Row{
			Client: k.Client, Domain: domain, Nickname: n.nick, NickSource: n.src, Source: src,
			Count: c.count, Bytes: c.bytes,
		})
	}
	w.learnClients(win)
	w.stats.Windows.Add(1)
	w.stats.Rows.Add(uint64(len(res.Rows)))
	for i := range res.Rows {
		if s := res.Rows[i].NickSource; int(s) < len(w.stats.RowsByNickSource) {
			w.stats.RowsByNickSource[s].Add(1)
		}
	}
	w.stats.Corrections.Add(uint64(len(res.Corrections)))
	return res
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
