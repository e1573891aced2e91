package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/ptr"
	"github.com/netmon/netmon/store"
)

// Snapshot is the stages' counters read once: what a table's Read reads.
type Snapshot struct {
	Decoder capture.DecoderStats
	Learner resolver.Stats
	Table   addrtable.Stats
	Windows *aggregate.Stats
	Devices devices.Stats
	PTR     *ptr.Stats // nil with --no-ptr
	// Writer is the store writer's counters, for WriterTable; nil in a
	// snapshot of the stages.
	Writer *store.WriterStats
}

// Snapshot reads the running stages' counters.
func (s *Stages) Snapshot() *Snapshot {
	snap := &Snapshot{
		Decoder: s.Decoder.Stats(), Learner: s.Learner.Stats(), Table: s.Table.Stats(), Windows: s.Windows.Stats(),
	}
	if s.Devices != nil {
		snap.Devices = s.Devices.Stats()
	}
	if s.PTR != nil {
		st := s.PTR.Stats()
		snap.PTR = &st
	}
	return snap
}

// Counter is one row of a stage's table: declared once, it is both a key of
// the exit log's line for its table and a metric, under the same name:
// key K of table T is the metric netmon_T_K_total (netmon_T_K for a gauge).
type Counter struct {
	Name  string
	Help  string
	Gauge bool // a level now (entries held), not a count since start
	Read  func(*Snapshot) uint64
}

// Table is the counters of one exit-log line, in the line's order.
type Table struct {
	Name     string // the exit log's message
	Counters []Counter
	// Absent, when set, says that the snapshot has nothing of the table's
	// (PTR with --no-ptr): no exit-log line, no metrics.
	Absent func(*Snapshot) bool
}

// absent reports whether s holds nothing of t.
func (t *Table) absent(s *Snapshot) bool { return t.Absent != nil && t.Absent(s) }

// MetricName is the name c has in /metrics.
func (t *Table) MetricName(c *Counter) string {
	n := "netmon_" + t.Name + "_" + c.Name
	if !c.Gauge {
		n += "_total"
	}
	return n
}

func count(name, help string, read func(*Snapshot) uint64) Counter {
	return Counter{Name: name, Help: help, Read: read}
}

func level(name, help string, read func(*Snapshot) uint64) Counter {
	return Counter{Name: name, Help: help, Gauge: true, Read: read}
}

// Tables are the stages' counters the exit log prints and /metrics shows.
// (The store writer's and PTR's counters have metrics of their own, and
// their own log lines.)
var Tables = []Table{
	{Name: "decoder", Counters: []Counter{
		count("read", "Frames read from the source.", func(s *Snapshot) uint64 { return s.Decoder.Read }),
		count("decoded", "Packets emitted; a reassembled datagram counts once.", func(s *Snapshot) uint64 { return s.Decoder.Decoded }),
		count("not_ip", "Frames that carry no IP.", func(s *Snapshot) uint64 { return s.Decoder.NotIP }),
		count("other_ip", "IP packets whose transport is neither TCP nor UDP.", func(s *Snapshot) uint64 { return s.Decoder.OtherIP }),
		count("truncated", "Frames that end inside a header.", func(s *Snapshot) uint64 { return s.Decoder.Truncated }),
		count("malformed", "Frames with impossible header values.", func(s *Snapshot) uint64 { return s.Decoder.Malformed }),
		count("unsupported_encap", "Frames inside an encapsulation netmon does not open.", func(s *Snapshot) uint64 { return s.Decoder.UnsupportedEncap }),
		count("fragments_held", "IP fragments stored until their datagram is whole.", func(s *Snapshot) uint64 { return s.Decoder.FragmentsHeld }),
		count("fragments_dropped", "IP fragments refused.", func(s *Snapshot) uint64 { return s.Decoder.FragmentsDropped }),
		count("fragments_expired", "Datagrams abandoned incomplete.", func(s *Snapshot) uint64 { return s.Decoder.FragmentsExpired }),
		count("reassembled", "Datagrams made whole.", func(s *Snapshot) uint64 { return s.Decoder.Reassembled }),
		count("partial_payload", "Packets whose payload the snap length cut short.", func(s *Snapshot) uint64 { return s.Decoder.PartialPayload }),
		count("name_flows", "TCP connections whose first client bytes were watched for a server name.", func(s *Snapshot) uint64 { return s.Decoder.NameFlows }),
		count("name_payloads", "Packets whose payload was copied for the name parsers.", func(s *Snapshot) uint64 { return s.Decoder.NamePayloads }),
		count("batches", "Batches sent to the next stage.", func(s *Snapshot) uint64 { return s.Decoder.Batches }),
		count("dropped_at_stop", "Packets of the last batch no stage took after a stop.", func(s *Snapshot) uint64 { return s.Decoder.DroppedAtStop }),
	}},
	{Name: "names", Counters: []Counter{
		count("dns_answers", "A/AAAA answers and SVCB address hints handed to the name table.", func(s *Snapshot) uint64 { return s.Learner.Addresses }),
		count("svcb_hints", "Of dns_answers, ipv4hint/ipv6hint addresses of HTTPS/SVCB answers.", func(s *Snapshot) uint64 { return s.Learner.SVCBHints }),
		count("dns_answers_known", "Of dns_answers, answers the table already held.", func(s *Snapshot) uint64 { return s.Learner.Known }),
		count("flows", "Flows followed for the names in their first bytes.", func(s *Snapshot) uint64 { return s.Learner.Flows }),
		count("flows_sni", "Flows named by a TLS ClientHello.", func(s *Snapshot) uint64 { return s.Learner.NamesSNI }),
		count("flows_http", "Flows named by an HTTP request.", func(s *Snapshot) uint64 { return s.Learner.NamesHTTP }),
		count("flows_quic", "Flows named by a QUIC Initial (or a gQUIC CHLO).", func(s *Snapshot) uint64 { return s.Learner.NamesQUIC }),
		count("flows_ech_outer", "Of the named flows, outer names of an Encrypted ClientHello.", func(s *Snapshot) uint64 { return s.Learner.NamesOuter }),
		count("flows_proxied", "Of the named flows, HTTP proxy requests.", func(s *Snapshot) uint64 { return s.Learner.NamesProxied }),
		count("flows_unnamed", "Flows whose first bytes held no name.", func(s *Snapshot) uint64 { return s.Learner.FlowsUnnamed }),
		count("flows_literal", "Flows whose SNI or Host was an address literal or no host name.", func(s *Snapshot) uint64 { return s.Learner.FlowLiterals }),
		count("flows_intern_resets", "Times the set of shared flow names started afresh.", func(s *Snapshot) uint64 { return s.Learner.InternResets }),
		count("quic_initials", "QUIC Initial packets decrypted (and gQUIC CHLO packets read).", func(s *Snapshot) uint64 { return s.Learner.QUICInitials }),
		count("quic_undecryptable", "QUIC long-header packets that could not be parsed or opened.", func(s *Snapshot) uint64 { return s.Learner.QUICUndecryptable }),
		count("quic_unknown_version", "QUIC Initials of an unknown version that opened with version 1 keys.", func(s *Snapshot) uint64 { return s.Learner.QUICUnknownVersion }),
		count("quic_skipped", "QUIC packets that cannot carry a ClientHello (0-RTT, Handshake, short header, version negotiation).", func(s *Snapshot) uint64 { return s.Learner.QUICSkipped }),
		count("client_view_hits", "Name lookups answered by the client's own DNS view.", func(s *Snapshot) uint64 { return s.Table.ViewHits }),
		count("flow_names_ignored", "Names from flows not taken because DNS named the address otherwise.", func(s *Snapshot) uint64 { return s.Table.FlowIgnored }),
		count("ptr_ignored", "PTR names not taken because a definite name is held.", func(s *Snapshot) uint64 { return s.Table.PTRIgnored }),
		count("table_learned", "New addresses in the name table.", func(s *Snapshot) uint64 { return s.Table.Learned }),
		count("table_changed", "Addresses whose name or definiteness changed.", func(s *Snapshot) uint64 { return s.Table.Changed }),
		count("table_refreshed", "Names seen again; only their lifetime moved.", func(s *Snapshot) uint64 { return s.Table.Refreshed }),
		count("table_hits", "Name lookups that found a name.", func(s *Snapshot) uint64 { return s.Table.Hits }),
		count("table_misses", "Name lookups that found none.", func(s *Snapshot) uint64 { return s.Table.Misses }),
	}},
	{Name: "dns", Counters: []Counter{
		count("packets", "UDP datagrams and TCP segments from port 53.", func(s *Snapshot) uint64 { return s.Learner.Packets }),
		count("messages", "DNS messages handed to the parser.", func(s *Snapshot) uint64 { return s.Learner.Messages }),
		count("queries", "UDP queries to port 53 remembered.", func(s *Snapshot) uint64 { return s.Learner.Queries }),
		count("responses_matched", "UDP responses that answered a remembered query.", func(s *Snapshot) uint64 { return s.Learner.Matched }),
		count("responses_unmatched", "UDP responses that answered none: not learned from.", func(s *Snapshot) uint64 { return s.Learner.Unmatched }),
		count("queries_evicted", "Queries forgotten unanswered because the query table was full.", func(s *Snapshot) uint64 { return s.Learner.QueriesEvicted }),
		count("queries_expired", "Queries forgotten unanswered after the query timeout.", func(s *Snapshot) uint64 { return s.Learner.QueriesExpired }),
		count("no_payload", "UDP datagrams from port 53 without payload.", func(s *Snapshot) uint64 { return s.Learner.NoPayload }),
		count("not_response", "Messages with the QR bit clear: a query sent from port 53.", func(s *Snapshot) uint64 { return s.Learner.NotResponse }),
		count("opcode", "Messages that are not a standard query.", func(s *Snapshot) uint64 { return s.Learner.Opcode }),
		count("rcode", "Responses with a response code other than success.", func(s *Snapshot) uint64 { return s.Learner.RCode }),
		count("malformed", "Messages whose header or question was unreadable.", func(s *Snapshot) uint64 { return s.Learner.Malformed }),
		count("truncated", "Messages whose answer section was cut short or garbled.", func(s *Snapshot) uint64 { return s.Learner.Truncated }),
		count("tc_bit", "Responses with TC set (the answers present were used).", func(s *Snapshot) uint64 { return s.Learner.TCBit }),
		count("too_many_answers", "Answers beyond the per-message limit, not read.", func(s *Snapshot) uint64 { return s.Learner.TooMany }),
		count("unspecified", "0.0.0.0 or :: answers, not learned.", func(s *Snapshot) uint64 { return s.Learner.Unspecified }),
		count("no_name", "Addresses whose name is the root.", func(s *Snapshot) uint64 { return s.Learner.NoName }),
		count("off_chain", "Address records off the CNAME chain from the question, not learned.", func(s *Snapshot) uint64 { return s.Learner.OffChain }),
		count("tcp_retransmits", "DNS-over-TCP segments wholly seen before.", func(s *Snapshot) uint64 { return s.Learner.TCPRetransmits }),
		count("tcp_out_of_order", "DNS-over-TCP segments held until the gap before them filled.", func(s *Snapshot) uint64 { return s.Learner.TCPOutOfOrder }),
		count("tcp_gaps", "DNS-over-TCP gaps never filled: the partial message was dropped.", func(s *Snapshot) uint64 { return s.Learner.TCPGaps }),
		count("tcp_evicted", "DNS-over-TCP streams dropped because the stream table was full.", func(s *Snapshot) uint64 { return s.Learner.TCPEvicted }),
		count("tcp_idle", "DNS-over-TCP streams dropped after idling.", func(s *Snapshot) uint64 { return s.Learner.TCPIdle }),
		count("tcp_overflow", "DNS-over-TCP streams dropped for holding too many bytes.", func(s *Snapshot) uint64 { return s.Learner.TCPOverflow }),
	}},
	{Name: "state", Counters: []Counter{
		level("table_entries", "Addresses the name table holds.", func(s *Snapshot) uint64 { return uint64(max(s.Table.Entries, 0)) }),
		count("table_evicted", "Name table entries pushed out at its cap.", func(s *Snapshot) uint64 { return s.Table.Evicted }),
		count("table_expired", "Name table entries removed past their lifetime.", func(s *Snapshot) uint64 { return s.Table.Expired }),
		count("table_pending_dropped", "Name table records lost because the pending queue was full.", func(s *Snapshot) uint64 { return s.Table.PendingDropped }),
		count("table_views_evicted", "Client DNS views dropped beyond the per-address limit.", func(s *Snapshot) uint64 { return s.Table.ViewsEvicted }),
		count("decoder_name_flows_evicted", "Flows the decoder forgot at its cap while their first bytes were awaited.", func(s *Snapshot) uint64 { return s.Decoder.NameFlowsEvicted }),
		count("learner_flows_evicted", "Flows dropped at the learner's cap while their name was awaited.", func(s *Snapshot) uint64 { return s.Learner.FlowsEvicted }),
		count("learner_flows_expired", "Flows forgotten after idling (or after closing).", func(s *Snapshot) uint64 { return s.Learner.FlowsExpired }),
		count("learner_flows_protected", "Flows promoted to the flow table's protected segment.", func(s *Snapshot) uint64 { return s.Learner.FlowsProtected }),
		count("learner_flows_protected_evicted", "Flows evicted from the protected segment.", func(s *Snapshot) uint64 { return s.Learner.FlowsProtectedEvicted }),
		count("learner_flow_buffers_full", "Flows given up because too many flows were already buffering.", func(s *Snapshot) uint64 { return s.Learner.FlowBuffersFull }),
		count("decoder_name_flows_started_evicted", "Of decoder_name_flows_evicted, connections in the middle of their first bytes.", func(s *Snapshot) uint64 { return s.Decoder.NameFlowsStartedEvicted }),
		count("windows_overflow_packets", "Packets counted under the (overflow) row.", func(s *Snapshot) uint64 { return s.Windows.Overflow.Load() }),
		count("windows_client_keys_capped", "Packets under a client's own overflow row: too many keys in a window.", func(s *Snapshot) uint64 { return s.Windows.ClientKeysCapped.Load() }),
		count("windows_keys_capped", "Packets under the overflow row: too many keys in a window.", func(s *Snapshot) uint64 { return s.Windows.WindowKeysCapped.Load() }),
		count("windows_new_clients_capped", "Packets under the overflow row: too many new clients in a window.", func(s *Snapshot) uint64 { return s.Windows.NewClientsCapped.Load() }),
		count("windows_guesses_evicted", "Guessed addresses forgotten at the cap (their rows stay uncorrected).", func(s *Snapshot) uint64 { return s.Windows.GuessEvict.Load() }),
		count("windows_late_packets", "Packets whose window had already closed (written as an extra batch).", func(s *Snapshot) uint64 { return s.Windows.Late.Load() }),
		count("windows_corrections", "Corrections produced for rows written under a guess.", func(s *Snapshot) uint64 { return s.Windows.Corrections.Load() }),
		count("windows_flows_unnamed_at_close", "Flows still unnamed when their window closed.", func(s *Snapshot) uint64 { return s.Windows.FlowsUnnamedAtClose.Load() }),
		count("bad_timestamp", "Frames with times netmon cannot represent, skipped.", func(s *Snapshot) uint64 { return s.Decoder.BadTimestamp }),
	}},
	{Name: "ptr", Absent: func(s *Snapshot) bool { return s.PTR == nil }, Counters: []Counter{
		count("requests", "Addresses asked to be named by PTR.", func(s *Snapshot) uint64 { return s.PTR.Requests }),
		count("queued", "Requests that went to the lookup queue.", func(s *Snapshot) uint64 { return s.PTR.Queued }),
		count("known", "Requests skipped: the table already names the address.", func(s *Snapshot) uint64 { return s.PTR.Known }),
		count("deduped", "Requests skipped: already queued, in flight or failed recently.", func(s *Snapshot) uint64 { return s.PTR.Deduped }),
		count("dropped", "Requests not made because the lookup queue was full.", func(s *Snapshot) uint64 { return s.PTR.Dropped }),
		count("lookups_finished", "Lookups finished (netmon_ptr_lookups_total by result).", func(s *Snapshot) uint64 { return s.PTR.Lookups }),
		count("ok", "Lookups that gave a valid name.", func(s *Snapshot) uint64 { return s.PTR.OK }),
		count("not_found", "Lookups that found no PTR record.", func(s *Snapshot) uint64 { return s.PTR.NotFound }),
		count("timeouts", "Lookups that timed out.", func(s *Snapshot) uint64 { return s.PTR.Timeouts }),
		count("errors", "Lookups that failed otherwise.", func(s *Snapshot) uint64 { return s.PTR.Errors }),
		count("invalid", "Answers that were no host name, discarded.", func(s *Snapshot) uint64 { return s.PTR.Invalid }),
		count("negative_evicted", "Failed addresses forgotten early at the negative cache's cap.", func(s *Snapshot) uint64 { return s.PTR.NegativeEvicted }),
	}},
	{Name: "devices", Counters: []Counter{
		level("devices", "Local devices the tracker remembers.", func(s *Snapshot) uint64 { return uint64(max(s.Devices.Devices, 0)) }),
		count("created", "Devices first seen.", func(s *Snapshot) uint64 { return s.Devices.Created }),
		level("vendors_known", "Remembered devices whose vendor is known.", func(s *Snapshot) uint64 { return uint64(max(s.Devices.Vendors, 0)) }),
		count("names_config", "Device names taken from the config.", func(s *Snapshot) uint64 { return s.Devices.Names[devices.NameConfig] }),
		count("names_dhcp", "Device names taken from DHCP.", func(s *Snapshot) uint64 { return s.Devices.Names[devices.NameDHCP] }),
		count("names_mdns", "Device names taken from mDNS.", func(s *Snapshot) uint64 { return s.Devices.Names[devices.NameMDNS] }),
		count("names_netbios", "Device names taken from NetBIOS.", func(s *Snapshot) uint64 { return s.Devices.Names[devices.NameNetBIOS] }),
		count("names_ptr", "Device names taken from PTR.", func(s *Snapshot) uint64 { return s.Devices.Names[devices.NamePTR] }),
		count("dhcp", "DHCP messages read.", func(s *Snapshot) uint64 { return s.Devices.DHCP }),
		count("dhcpv6", "DHCPv6 messages read.", func(s *Snapshot) uint64 { return s.Devices.DHCPv6 }),
		count("mdns", "mDNS messages read.", func(s *Snapshot) uint64 { return s.Devices.MDNS }),
		count("netbios", "NetBIOS messages read.", func(s *Snapshot) uint64 { return s.Devices.NetBIOS }),
		count("malformed", "Device-naming messages that could not be read.", func(s *Snapshot) uint64 { return s.Devices.Malformed }),
		count("routers", "MACs taken for routers of another local subnet.", func(s *Snapshot) uint64 { return s.Devices.Routers }),
		count("evicted", "Devices forgotten at the cap.", func(s *Snapshot) uint64 { return s.Devices.Evicted }),
		count("addrs_dropped", "Device addresses dropped at the per-device cap.", func(s *Snapshot) uint64 { return s.Devices.AddrsDropped }),
		count("devices_new_capped", "Packets of new devices not tracked: too many new devices.", func(s *Snapshot) uint64 { return s.Devices.NewCapped }),
		count("devices_router_capped", "Packets of devices not tracked behind a router.", func(s *Snapshot) uint64 { return s.Devices.RouterCapped }),
	}},
}

// WriterTable is the store writer's counters: the exit log's writer line,
// printed once the writer has stopped (after the stages' lines), and its
// metrics, read from the writer while it runs.
var WriterTable = Table{Name: "writer", Counters: []Counter{
	count("windows_written", "Windows committed to the database.", func(s *Snapshot) uint64 { return s.Writer.Written.Load() }),
	count("duplicates_skipped", "Windows whose ID the database already had: skipped.", func(s *Snapshot) uint64 { return s.Writer.Duplicates.Load() }),
	count("recovered_from_spool", "Windows found in the spool at start, from an earlier run.", func(s *Snapshot) uint64 { return s.Writer.Recovered.Load() }),
	count("write_failures", "Failed database write attempts (each retried).", func(s *Snapshot) uint64 { return s.Writer.Failures.Load() }),
	count("conflicts", "Of write_failures, deadlocks, lock wait timeouts and certification failures.", func(s *Snapshot) uint64 { return s.Writer.Conflicts.Load() }),
	count("dropped", "Windows dropped at the spool's caps: lost.", func(s *Snapshot) uint64 { return s.Writer.Dropped.Load() }),
	count("rejected", "Windows set aside in the spool's rejected folder: not written.", func(s *Snapshot) uint64 { return s.Writer.Rejected.Load() }),
	count("set_aside_blocking", "Of rejected, windows that kept failing while a later one was written.", func(s *Snapshot) uint64 { return s.Writer.SetAside.Load() }),
	count("left_in_spool", "Windows still in the spool when the writer stopped.", func(s *Snapshot) uint64 { return s.Writer.Left.Load() }),
	count("dropped_at_cap", "Of dropped, windows dropped at the spool's cap on disk.", func(s *Snapshot) uint64 { return s.Writer.DroppedCap.Load() }),
	count("dropped_from_memory", "Of dropped, windows the disk refused, dropped at the memory cap.", func(s *Snapshot) uint64 { return s.Writer.DroppedMemory.Load() }),
	count("lost_at_exit", "Of dropped, windows the disk refused, held in memory when the writer stopped.", func(s *Snapshot) uint64 { return s.Writer.LostAtExit.Load() }),
	count("spooled", "Windows made durable in the spool.", func(s *Snapshot) uint64 { return s.Writer.Spooled.Load() }),
	count("held", "Windows of replayed files held in memory instead of spooled.", func(s *Snapshot) uint64 { return s.Writer.Held.Load() }),
	count("memory_only", "Windows the spool could not write, kept in memory only.", func(s *Snapshot) uint64 { return s.Writer.MemoryOnly.Load() }),
}}

// AllTables are Tables and WriterTable: every counter /metrics shows under
// its exit-log name.
func AllTables() []*Table {
	all := make([]*Table, 0, len(Tables)+1)
	for i := range Tables {
		all = append(all, &Tables[i])
	}
	return append(all, &WriterTable)
}

// tableDescs are the metrics of AllTables, in its order.
func tableDescs() [][]*prometheus.Desc {
	all := AllTables()
	out := make([][]*prometheus.Desc, len(all))
	for i, t := range all {
		for j := range t.Counters {
			c := &t.Counters[j]
			out[i] = append(out[i], prometheus.NewDesc(t.MetricName(c), c.Help+" (exit log: "+t.Name+" "+c.Name+")", nil, nil))
		}
	}
	return out
}
