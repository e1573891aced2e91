// Keys under the caps: which key a packet may take in a window (per-client
// and per-window budgets, new clients), and how a flow's key becomes its
// named key once the flow names itself.

package aggregate

import (
	"net/netip"

	"github.com/netmon/netmon/capture"
)

// admit decides whether k, a key new to win, may have a key of its own.
// It returns k and false when it may (the caller adds it), else the
// overflow key the packet counts under and true: its client's overflow
// row, or, for a client beyond MaxNewClients, the overflow client's.
func (w *Windows) admit(win *window, k Key) (Key, bool) {
	held, seen := win.clients[k.Client]
	if !seen {
		if _, ok := w.known[k.Client]; !ok {
			if win.newClients >= w.cfg.MaxNewClients {
				w.stats.Overflow.Add(1)
				w.stats.NewClientsCapped.Add(1)
				return Key{}, true
			}
			win.newClients++
		}
		if win.clients == nil {
			win.clients = make(map[netip.Addr]int)
		}
		win.clients[k.Client] = 0
	}
	switch n := win.opened; {
	case held >= w.cfg.MaxClientKeys:
		w.stats.ClientKeysCapped.Add(1)
	case n >= w.cfg.MaxKeys, n >= w.cfg.MaxKeys-w.cfg.KeyReserve && held >= smallClientKeys:
		w.stats.WindowKeysCapped.Add(1)
	default:
		win.clients[k.Client] = held + 1
		return k, false
	}
	w.stats.Overflow.Add(1)
	return Key{Client: k.Client}, true
}

// nameFlow gives the name p brought to its flow's earlier packets: in
// every open window, the flow's key (client, remote, flow id) becomes the
// named key (client, remote, name) in its place, or is added to the named
// key when the window has it already. So a window holds a key per flow
// only while the flow's name is awaited, not one per flow it ever saw.
func (w *Windows) nameFlow(p *capture.Packet) {
	for _, win := range w.open {
		i, ok := win.flows[p.Flow]
		if !ok {
			continue
		}
		delete(win.flows, p.Flow)
		w.fold(win, i, p.Name)
		if len(win.moreFlows) == 0 {
			continue
		}
		more := win.moreFlows[:0]
		for _, j := range win.moreFlows {
			if win.order[j].Flow == p.Flow {
				w.fold(win, j, p.Name)
			} else {
				more = append(more, j)
			}
		}
		win.moreFlows = more
	}
}

// noteFlowKey indexes slot i, the key of flow id.
func (win *window) noteFlowKey(id uint32, i int) {
	if win.flows == nil {
		win.flows = make(map[uint32]int)
	}
	if _, ok := win.flows[id]; ok {
		win.moreFlows = append(win.moreFlows, i)
		return
	}
	win.flows[id] = i
}

// fold makes the flow key in slot i of win the key named fn, or adds its
// counts to that key when win has it already.
func (w *Windows) fold(win *window, i int, fn *capture.FlowName) {
	fk := win.order[i]
	delete(win.keys, fk)
	nk := Key{Client: fk.Client, Remote: fk.Remote, Name: fn}
	j, ok := win.keys[nk]
	if !ok {
		win.keys[nk] = i
		win.order[i] = nk
		w.requestPTR(nk)
		return
	}
	win.cnts[j].count += win.cnts[i].count
	win.cnts[j].bytes += win.cnts[i].bytes
	win.cnts[i], win.order[i] = counter{}, Key{}
	win.dead++
	if win.dead >= 1024 && win.dead*2 >= len(win.cnts) {
		win.compact()
	}
}

// compact drops the dead slots of win, keeping the order of the others.
func (win *window) compact() {
	at := make([]int, len(win.cnts))
	n := 0
	for i, c := range win.cnts {
		if c.count == 0 {
			continue
		}
		at[i] = n
		win.cnts[n], win.order[n] = c, win.order[i]
		n++
	}
	clear(win.order[n:])
	win.cnts, win.order = win.cnts[:n], win.order[:n]
	for k, i := range win.keys {
		win.keys[k] = at[i]
	}
	for id, i := range win.flows {
		win.flows[id] = at[i]
	}
	for x, i := range win.moreFlows {
		win.moreFlows[x] = at[i]
	}
	win.dead = 0
}
