#!/usr/bin/env bash
# Live drop test for BENCHMARKS.md: a veth pair inside a private network
# namespace; tcpreplay sends the workload onto one end at each rate while
# `netmon run` captures the other (the kernel runs the filter), then again
# with `tcpdump -w /dev/null` capturing instead, and prints libpcap's
# received/dropped counters of each and the reader's CPU time (user+sys,
# from start to exit) per packet received. Needs root, iproute2 and
# tcpreplay. Nothing leaves the namespace.
#
#   bench/live.sh [RATE...]   rates in packets/s or "top" (default: 100000 300000 top)
#   env: WORKLOAD, PACKETS, DISTINCT as for bench/compare.sh;
#        NETMON_BENCH_DSN  a database instead of the default SQLite file
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/live.sh needs root (network namespaces)"; exit 1; }
for t in ip tcpreplay tcpdump; do command -v $t >/dev/null || { echo "$t not found: apt-get install iproute2 tcpreplay tcpdump"; exit 1; }; done
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(100000 300000 top)
work=${WORKLOAD:-/tmp/netmon-workload.pcap}
packets=${PACKETS:-2000000}
distinct=${DISTINCT:-1}
tmp=$(mktemp -d)
ns=nmbench$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/netmon" ./cmd/netmon
key="$packets distinct=$distinct v2"
if [ ! -s "$work" ] || [ "$(cat "$work.count" 2>/dev/null)" != "$key" ]; then
	[ "$distinct" = 1 ] && d=true || d=false
	go run ./bench/mkworkload -o "$work" -packets "$packets" -distinct=$d
	echo "$key" > "$work.count"
fi
if [ -n "${NETMON_BENCH_DSN:-}" ]; then
	"$tmp/netmon" migrate --dsn "$NETMON_BENCH_DSN" 2>/dev/null
	store=(--dsn "$NETMON_BENCH_DSN")
else
	store=(--db "$tmp/netmon.db" --state-dir "$tmp/state")
fi
ip netns add "$ns"
ip -n "$ns" link add name cap type veth peer name send
for d in cap send lo; do ip -n "$ns" link set dev $d mtu 9000 up; done

wait_for() { # file pattern
	for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "timed out waiting for '$2' in $1"; cat "$1"; exit 1
}
replay() { # rate
	if [ "$1" = top ]; then speed=(--topspeed); else speed=(--pps "$1"); fi
	ip netns exec "$ns" tcpreplay -q -i send "${speed[@]}" "$work" 2>&1 | grep -E 'Actual|Rated' | tr -s ' ' | paste -sd' '
}
# stop PID: SIGINT to the reader that /usr/bin/time runs as PID's child.
stop() {
	local child
	child=$(pgrep -P "$1" | head -1)
	kill -INT "${child:-$1}"
	wait "$1" || true
}
# report rate reader received dropped: one line, CPU from $tmp/time.
report() {
	printf '%-8s %-8s %12s %12s %7.3f%% %9s %8s   %s\n' "$1" "$2" "$3" "$4" \
		"$(awk -v r="$3" -v d="$4" 'BEGIN{print (r+d) ? 100*d/(r+d) : 0}')" \
		"$(awk '{printf "%.2f", $1+$2}' "$tmp/time")" \
		"$(awk -v r="$3" '{printf "%.0f", r ? ($1+$2)*1e9/r : 0}' "$tmp/time")" "$sent"
}
printf '%-8s %-8s %12s %12s %8s %9s %8s   %s\n' rate reader received dropped drop% "CPU s" "ns/pkt" "tcpreplay"
for rate in "${rates[@]}"; do
	rm -rf "$tmp/netmon.db"* "$tmp/state"
	/usr/bin/time -f "%U %S" -o "$tmp/time" ip netns exec "$ns" "$tmp/netmon" run -i cap --no-ptr --agent "live-$rate" "${store[@]}" >"$tmp/netmon.log" 2>&1 &
	pid=$!
	wait_for "$tmp/netmon.log" capturing
	sent=$(replay "$rate")
	sleep 1; stop $pid
	rcv=$(grep -o 'pcap_received=[0-9]*' "$tmp/netmon.log" | cut -d= -f2)
	drp=$(grep -o 'pcap_dropped=[0-9]*' "$tmp/netmon.log" | cut -d= -f2)
	report "$rate" netmon "$rcv" "$drp"

	/usr/bin/time -f "%U %S" -o "$tmp/time" ip netns exec "$ns" tcpdump -i cap -w /dev/null -B 8192 -s 65535 >"$tmp/tcpdump.log" 2>&1 &
	pid=$!
	wait_for "$tmp/tcpdump.log" "listening on"
	sent=$(replay "$rate")
	sleep 1; stop $pid
	rcv=$(grep -o '[0-9]* packets received by filter' "$tmp/tcpdump.log" | cut -d' ' -f1)
	drp=$(grep -o '[0-9]* packets dropped by kernel' "$tmp/tcpdump.log" | cut -d' ' -f1)
	report "$rate" tcpdump "$rcv" "$drp"
done
