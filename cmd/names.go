package cmd

import (
	"log/slog"
	"time"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/resolver"
)

// logNames says, once the pipeline stopped, where the names came from and
// what the name stages dropped: flows forgotten at their caps, first bytes
// that could not be buffered, QUIC packets that did not open.
func logNames(log *slog.Logger, d capture.DecoderStats, l resolver.LearnerStats, t resolver.TableStats, w *aggregate.Stats) {
	log.Info("names",
		"dns_answers", l.Addresses, "svcb_hints", l.SVCBHints,
		"flows", l.Flows, "flows_sni", l.NamesSNI, "flows_http", l.NamesHTTP, "flows_quic", l.NamesQUIC,
		"flows_ech_outer", l.NamesOuter, "flows_proxied", l.NamesProxied,
		"flows_unnamed", l.FlowsUnnamed, "flows_literal", l.FlowLiterals,
		"quic_initials", l.QUICInitials, "quic_undecryptable", l.QUICUndecryptable, "quic_unknown_version", l.QUICUnknownVersion,
		"client_view_hits", t.ViewHits, "flow_names_ignored", t.FlowIgnored)
	log.Info("dns",
		"packets", l.Packets, "messages", l.Messages, "queries", l.Queries,
		"responses_matched", l.Matched, "responses_unmatched", l.Unmatched,
		"queries_evicted", l.QueriesEvicted, "queries_expired", l.QueriesExpired,
		"not_response", l.NotResponse, "opcode", l.Opcode, "rcode", l.RCode, "malformed", l.Malformed,
		"truncated", l.Truncated, "too_many_answers", l.TooMany, "unspecified", l.Unspecified, "no_name", l.NoName, "off_chain", l.OffChain,
		"tcp_gaps", l.TCPGaps, "tcp_evicted", l.TCPEvicted, "tcp_overflow", l.TCPOverflow)
	log.Info("state",
		"table_entries", t.Entries, "table_evicted", t.Evicted, "table_pending_dropped", t.PendingDropped,
		"decoder_name_flows_evicted", d.NameFlowsEvicted, "learner_flows_evicted", l.FlowsEvicted,
		"learner_flows_expired", l.FlowsExpired, "learner_flows_protected", l.FlowsProtected,
		"learner_flows_protected_evicted", l.FlowsProtectedEvicted, "decoder_name_flows_started_evicted", d.NameFlowsStartedEvicted,
		"windows_overflow_packets", w.Overflow.Load(),
		"windows_client_keys_capped", w.ClientKeysCapped.Load(), "windows_keys_capped", w.WindowKeysCapped.Load(),
		"windows_new_clients_capped", w.NewClientsCapped.Load(),
		"windows_guesses_evicted", w.GuessEvict.Load(), "bad_timestamp", d.BadTimestamp)
	if d.BadTimestamp > 0 {
		log.Warn("packets with times netmon cannot represent were counted as damaged and skipped",
			"bad_timestamp", d.BadTimestamp, "from", capture.MinTime.UTC().Format(time.DateOnly), "until", capture.MaxTime.UTC().Format(time.DateOnly))
	}
	drops := d.NameFlowsEvicted + l.FlowsEvicted + l.FlowBuffersFull + t.ViewsEvicted
	if drops > 0 {
		log.Warn("name state dropped at its caps",
			"decoder_name_flows_evicted", d.NameFlowsEvicted, "learner_flows_evicted", l.FlowsEvicted,
			"learner_flow_buffers_full", l.FlowBuffersFull, "table_views_evicted", t.ViewsEvicted)
	}
}

// logDevices says, once the pipeline stopped, how many local devices were
// seen, where their names came from, and what was dropped at the caps.
func logDevices(log *slog.Logger, s devices.Stats) {
	log.Info("devices",
		"devices", s.Devices, "created", s.Created, "vendors_known", s.Vendors,
		"names_config", s.Names[devices.NameConfig], "names_dhcp", s.Names[devices.NameDHCP],
		"names_mdns", s.Names[devices.NameMDNS], "names_netbios", s.Names[devices.NameNetBIOS],
		"names_ptr", s.Names[devices.NamePTR],
		"dhcp", s.DHCP, "dhcpv6", s.DHCPv6, "mdns", s.MDNS, "netbios", s.NetBIOS, "malformed", s.Malformed,
		"routers", s.Routers, "evicted", s.Evicted, "addrs_dropped", s.AddrsDropped,
		"devices_new_capped", s.NewCapped, "devices_router_capped", s.RouterCapped)
}
