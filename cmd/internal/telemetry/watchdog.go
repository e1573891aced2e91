package telemetry

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/netmon/netmon/capture"
)

// CaptureWatch follows the live read loop without touching its per-packet
// path beyond one atomic flag check: once a second it asks the loop to read
// libpcap's counters, and the loop's answer is also the sign that it is
// alive. pcap_stats is called only from the reading goroutine because
// libpcap does not promise that a handle may be used from two threads (and
// gopacket does not lock Stats against reads).
type CaptureWatch struct {
	want                         atomic.Bool
	received, dropped, ifDropped atomic.Uint64
	answered                     atomic.Int64 // Unix ns of the loop's last answer
	ended                        atomic.Bool
}

func newCaptureWatch(now time.Time) *CaptureWatch {
	c := &CaptureWatch{}
	c.answered.Store(now.UnixNano())
	return c
}

// Run asks for a sample every sampleEvery until ctx ends.
func (c *CaptureWatch) Run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.want.Store(true)
		}
	}
}

// Wrap starts the stall clock: opening the store may have taken longer
// than StallAfter, and that was no stall of capture.
func (c *CaptureWatch) Wrap(src capture.Source) capture.Source {
	c.answered.Store(time.Now().UnixNano())
	return &watchedSource{Source: src, c: c}
}

func (c *CaptureWatch) store(st capture.Stats) {
	c.received.Store(st.Received)
	c.dropped.Store(st.Dropped)
	c.ifDropped.Store(st.IfDropped)
}

// watchedSource is a live Source that answers CaptureWatch's requests
// between reads, from the reading goroutine.
type watchedSource struct {
	capture.Source
	c *CaptureWatch
}

func (s *watchedSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	// Before the read: the previous frame's zero-copy bytes are decoded by
	// now, and a read blocked on a silent interface still returns within
	// the read timeout to answer.
	if s.c.want.Load() {
		s.c.want.Store(false)
		if st, err := s.Source.Stats(); err == nil {
			s.c.store(st)
		}
		s.c.answered.Store(time.Now().UnixNano())
	}
	return s.Source.ReadPacketData()
}

// Stats is called by the pipeline from the reading goroutine once reading
// has ended; the final counters are kept for the last scrapes.
func (s *watchedSource) Stats() (capture.Stats, error) {
	st, err := s.Source.Stats()
	if err == nil {
		s.c.store(st)
	}
	return st, err
}

func (s *watchedSource) Close() {
	s.c.ended.Store(true)
	s.Source.Close()
}
