package telemetry

import (
	"log/slog"
	"time"

	"github.com/netmon/netmon/capture"
)

// LogExit writes the exit log: one line per table, once the pipeline
// stopped, then warnings for what was skipped or dropped at the caps.
func LogExit(log *slog.Logger, s *Snapshot) {
	for i := range Tables {
		LogTable(log, &Tables[i], s)
	}
	d, l, tb := s.Decoder, s.Learner, s.Table
	if d.BadTimestamp > 0 {
		log.Warn("packets with times netmon cannot represent were counted as damaged and skipped",
			"bad_timestamp", d.BadTimestamp, "from", capture.MinTime.UTC().Format(time.DateOnly), "until", capture.MaxTime.UTC().Format(time.DateOnly))
	}
	drops := d.NameFlowsEvicted + l.FlowsEvicted + l.FlowBuffersFull + tb.ViewsEvicted
	if drops > 0 {
		log.Warn("name state dropped at its caps",
			"decoder_name_flows_evicted", d.NameFlowsEvicted, "learner_flows_evicted", l.FlowsEvicted,
			"learner_flow_buffers_full", l.FlowBuffersFull, "table_views_evicted", tb.ViewsEvicted)
	}
}

// LogTable writes t's exit-log line: its message, then each counter as a
// key, in the table's order. A table absent from s writes none.
func LogTable(log *slog.Logger, t *Table, s *Snapshot) {
	if t.absent(s) {
		return
	}
	args := make([]any, 0, 2*len(t.Counters))
	for j := range t.Counters {
		args = append(args, t.Counters[j].Name, t.Counters[j].Read(s))
	}
	log.Info(t.Name, args...)
}
