// What a closing window learns and writes about names: the clients it saw,
// the names and corrections learned since the last window, and how a row's
// domain and nickname are chosen.

package aggregate

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/source"
)

// requestPTR asks for a reverse name once per key and window, and only for
// remotes that have no name yet: the lookup then has the window's length to
// finish before the window is named. A flow that named itself needs none,
// and one still awaiting its name asks at close if it found none.
func (w *Windows) requestPTR(k Key) {
	if w.deps.PTR == nil || !k.Remote.IsValid() || k.Flow != 0 || (k.Name != nil && k.Name.Domain != "") {
		return
	}
	if _, ok := w.deps.Names.Lookup(k.Client, k.Remote); ok {
		return
	}
	w.deps.PTR.Request(k.Remote)
}

// learnClients remembers the busiest clients of win, those with two
// packets or more, so that the next windows admit them however many new
// clients a flood brings; beyond MaxKnownClients the least recently busy
// are forgotten.
func (w *Windows) learnClients(win *window) {
	if len(win.clients) == 0 {
		return
	}
	packets := make(map[netip.Addr]uint64, len(win.clients))
	for i, k := range win.order {
		if k.Client.IsValid() {
			packets[k.Client] += win.cnts[i].count
		}
	}
	type busy struct {
		addr netip.Addr
		n    uint64
	}
	list := make([]busy, 0, len(packets))
	for a, n := range packets {
		if n >= 2 {
			list = append(list, busy{a, n})
		}
	}
	slices.SortFunc(list, func(a, b busy) int { return cmp.Compare(b.n, a.n) })
	for _, b := range list[:min(len(list), w.cfg.MaxKnownClients)] {
		if at, ok := w.known[b.addr]; !ok || at < win.start {
			w.known[b.addr] = win.start
		}
	}
	if over := len(w.known) - w.cfg.MaxKnownClients; over > 0 {
		type seen struct {
			addr netip.Addr
			at   int64
		}
		all := make([]seen, 0, len(w.known))
		for a, at := range w.known {
			all = append(all, seen{a, at})
		}
		slices.SortFunc(all, func(a, b seen) int { return cmp.Compare(a.at, b.at) })
		for _, s := range all[:over] {
			delete(w.known, s.addr)
		}
	}
}

// drainNames puts the names learned since the last drain into res, for
// dns_records, with the corrections they make to rows written earlier
// under a guess.
func (w *Windows) drainNames(res *Window) {
	w.drainBuf = w.deps.Names.Drain(w.drainBuf[:0])
	if len(w.drainBuf) == 0 {
		return
	}
	res.Names = append([]source.Record(nil), w.drainBuf...)
	for _, rec := range w.drainBuf {
		if !rec.Source.Definite() {
			continue
		}
		old, ok := w.guessed[rec.Addr]
		if !ok {
			continue
		}
		delete(w.guessed, rec.Addr)
		if old == rec.Domain {
			continue
		}
		nick, nsrc := w.deps.Named(rec.Domain, rec.Addr)
		res.Corrections = append(res.Corrections, Correction{
			Addr: rec.Addr, Old: old, New: rec.Domain,
			NewNickname: nick, NewNickSource: nsrc, NewSource: rec.Source,
		})
	}
}

// name picks the name a key is written under: the flow's own name fn when
// it has one, else the client's view of the remote's name, the remote's
// name, its PTR name, its address. It remembers guesses so a later
// definite name can correct them.
func (w *Windows) name(k Key, fn *capture.FlowName) (string, source.Source) {
	if !k.Remote.IsValid() {
		return OverflowDomain, source.IP
	}
	if fn != nil && fn.Domain != "" {
		return fn.Domain, fn.Source
	}
	rec, ok := w.deps.Names.Lookup(k.Client, k.Remote)
	if ok && rec.Source.Definite() {
		return rec.Domain, rec.Source
	}
	domain, src := k.Remote.String(), source.IP
	if ok {
		domain, src = rec.Domain, rec.Source
	} else if k.Flow != 0 && w.deps.PTR != nil {
		// Its PTR was not asked for when the flow's name was awaited.
		w.deps.PTR.Request(k.Remote)
	}
	w.guess(k.Remote, domain)
	return domain, src
}

func (w *Windows) guess(addr netip.Addr, domain string) {
	if _, ok := w.guessed[addr]; !ok {
		// Forget the oldest guesses first. The FIFO may still hold
		// addresses that were corrected since; those cost nothing to drop.
		for len(w.guessFIFO) >= w.cfg.MaxGuesses {
			old := w.guessFIFO[0]
			w.guessFIFO = w.guessFIFO[1:]
			if _, live := w.guessed[old]; live {
				delete(w.guessed, old)
				w.stats.GuessEvict.Add(1)
			}
		}
		w.guessFIFO = append(w.guessFIFO, addr)
	}
	w.guessed[addr] = domain
}
