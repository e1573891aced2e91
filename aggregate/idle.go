// Windows with no rows: what was learned while no window closed (names,
// devices), and the end of one replayed input.

package aggregate

import (
	"context"
	"time"
)

// flushIdle sends what changed about devices and the names learned since
// the last window closed as a window of its own, with no rows, starting
// where t falls: for announcements (DHCP, mDNS) and DNS answers heard while
// no window closes, at the end of input and, live, once a window's width
// has passed without a close.
func (w *Windows) flushIdle(ctx context.Context, out chan<- *Window, t int64) error {
	w.lastDevices = w.deps.Now().UnixNano()
	w.lastNames = t
	width := int64(w.cfg.Width)
	res := &Window{Start: time.Unix(0, t-mod(t, width)).UTC(), Input: w.input}
	if w.deps.Devices != nil {
		res.Devices = w.deps.Devices.Drain(nil)
	}
	w.drainNames(res)
	if len(res.Devices) == 0 && len(res.Names) == 0 && len(res.Corrections) == 0 {
		return nil
	}
	w.stats.Corrections.Add(uint64(len(res.Corrections)))
	select {
	case out <- res:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// endInput closes every open window at the end of an input, writes what
// it taught, and says that the input has no more windows.
func (w *Windows) endInput(ctx context.Context, out chan<- *Window) error {
	if err := w.closeUntil(ctx, out, closeAll); err != nil {
		return err
	}
	if err := w.flushIdle(ctx, out, w.lastPacket); err != nil {
		return err
	}
	end := &Window{Start: time.Unix(0, w.lastPacket-mod(w.lastPacket, int64(w.cfg.Width))).UTC(), Input: w.input, InputEnd: true}
	w.input++
	select {
	case out <- end:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
