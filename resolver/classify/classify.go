// Package classify is the pipeline's resolve stage: for each packet it
// decides which end is the remote service and which the local client,
// from the local networks (package localnet) and, when neither end is
// local, the ports.
package classify

import (
	"sync/atomic"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/localnet"
)

// Stats counts the resolve stage's verdicts.
type Stats struct {
	Counted   atomic.Uint64 // packets with one remote end, passed on to be counted
	DNS       atomic.Uint64 // DNS traffic itself, which is not counted as a service
	BothLocal atomic.Uint64 // traffic between two local addresses, not counted
	Transit   atomic.Uint64 // neither end local: the server end was chosen by port
	NoAddr    atomic.Uint64 // frames without IP addresses
}

// Classifier decides, for each packet, which end is the remote service and
// which the local client. It is the resolve stage of the pipeline.
type Classifier struct {
	local *localnet.Nets
	stats Stats
}

// Deps is what the classifier is given; it has no settings of its own.
type Deps struct {
	// Local is the home network; nil: the built-in private ranges
	// (localnet.New(nil)).
	Local *localnet.Nets
}

// New returns a classifier that treats deps.Local as the home network.
func New(deps Deps) *Classifier {
	local := deps.Local
	if local == nil {
		local = localnet.New(nil)
	}
	return &Classifier{local: local}
}

// Stats returns the live counters.
func (c *Classifier) Stats() *Stats { return &c.stats }

// Classify sets Dir on every packet of b.
func (c *Classifier) Classify(b *capture.Batch) {
	for i := range b.Packets {
		p := &b.Packets[i]
		p.Dir = c.dir(p)
	}
}

func (c *Classifier) dir(p *capture.Packet) capture.Dir {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		c.stats.NoAddr.Add(1)
		return capture.DirSkip
	}
	if p.SrcPort == 53 || p.DstPort == 53 {
		c.stats.DNS.Add(1)
		return capture.DirSkip
	}
	srcLocal, dstLocal := c.local.Contains(p.Src), c.local.Contains(p.Dst)
	switch {
	case srcLocal && dstLocal:
		c.stats.BothLocal.Add(1)
		return capture.DirSkip
	case srcLocal:
		c.stats.Counted.Add(1)
		return capture.DirRemoteDst
	case dstLocal:
		c.stats.Counted.Add(1)
		return capture.DirRemoteSrc
	}
	// Neither end is local (a capture taken outside a home network, or a
	// public address block the user did not declare with --local-net): the
	// server is the end on a well-known service port, else the lower port.
	c.stats.Transit.Add(1)
	c.stats.Counted.Add(1)
	if serverPort(p.DstPort) && !serverPort(p.SrcPort) {
		return capture.DirRemoteDst
	}
	if serverPort(p.SrcPort) && !serverPort(p.DstPort) {
		return capture.DirRemoteSrc
	}
	if p.DstPort <= p.SrcPort {
		return capture.DirRemoteDst
	}
	return capture.DirRemoteSrc
}

func serverPort(p uint16) bool {
	return p == 80 || p == 443 || p == 853 || p == 8080 || p == 8443
}
