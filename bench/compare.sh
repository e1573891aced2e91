#!/usr/bin/env bash
# Whole-process comparison for BENCHMARKS.md. Builds the workload (2M
# packets from every shared capture, nothing committed; see bench/workload),
# then runs, alternately, RUNS rounds of
#   tcpdump -r W -w /dev/null        libpcap's bare read
#   ndpiReader -q -i W               nDPI (Debian's libndpi-bin), every flow through its dissectors
#   netmon replay --no-ptr W         the whole pipeline into the default SQLite store (a fresh file each run)
# and prints the medians of wall time, CPU (user+sys) and peak RSS of each,
# and the ratios. Timings on a shared machine are noisy: quote one run's
# medians and ratios, never mix runs.
#
#   bench/compare.sh [RUNS]
#   env: NETMON_PCAP_DIR   the shared captures (default ../shared/testdata/pcap)
#        WORKLOAD          the workload file (default /tmp/netmon-workload.pcap; rebuilt when stale)
#        PACKETS           packets in it (default 2000000)
#        DISTINCT=0        every copy of the corpus keeps its ports: the same flows repeated
#        NETMON_BENCH_DSN  write to this database instead of a SQLite file (e.g. MariaDB)
#        NETMON            a netmon binary to measure instead of building this tree's
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=${WORKLOAD:-/tmp/netmon-workload.pcap}
packets=${PACKETS:-2000000}
distinct=${DISTINCT:-1}
pcaps=${NETMON_PCAP_DIR:-../shared/testdata/pcap}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in tcpdump ndpiReader; do
	command -v $t >/dev/null || { echo "$t not found: apt-get install tcpdump libndpi-bin"; exit 1; }
done
if [ -n "${NETMON:-}" ]; then
	cp "$NETMON" "$tmp/netmon-bin"
else
	go build -o "$tmp/netmon-bin" ./cmd/netmon
fi
key="$packets distinct=$distinct v2"
if [ ! -s "$work" ] || [ "$(cat "$work.count" 2>/dev/null)" != "$key" ]; then
	[ "$distinct" = 1 ] && d=true || d=false
	go run ./bench/mkworkload -dir "$pcaps" -o "$work" -packets "$packets" -distinct=$d
	echo "$key" > "$work.count"
fi
cat "$work" > /dev/null # into the page cache
if [ -n "${NETMON_BENCH_DSN:-}" ]; then
	"$tmp/netmon-bin" migrate --dsn "$NETMON_BENCH_DSN" 2>/dev/null
	store=(--dsn "$NETMON_BENCH_DSN")
	storename="NETMON_BENCH_DSN"
else
	store=(--db "$tmp/netmon.db")
	storename="SQLite"
fi

measure() { # label cmd... → appends "wall cpu rss_kb" to $tmp/runs.label
	local label=$1; shift
	/usr/bin/time -f "%e %U %S %M" -o "$tmp/one" "$@" >/dev/null 2>"$tmp/err.$label" || { cat "$tmp/err.$label"; exit 1; }
	awk '{printf "%s %.3f %s\n", $1, $2+$3, $4}' "$tmp/one" >> "$tmp/runs.$label"
}
for i in $(seq "$runs"); do
	measure tcpdump tcpdump -r "$work" -w /dev/null
	measure ndpi ndpiReader -q -i "$work"
	rm -rf "$tmp/netmon.db"* "$tmp/state"
	measure netmon "$tmp/netmon-bin" replay --no-ptr --agent "bench$i" --state-dir "$tmp/state" "${store[@]}" "$work"
done
counted=$(grep -o 'packets_counted=[0-9]*' "$tmp/err.netmon" | cut -d= -f2 || true)
awk -v n="$packets" -v runs="$runs" -v work="$work" -v counted="$counted" -v store="$storename" -v distinct="$distinct" '
function median(arr, k,   i, j, t) {
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return (k % 2) ? arr[(k + 1) / 2] : (arr[k / 2] + arr[k / 2 + 1]) / 2
}
{ split(FILENAME, p, "runs."); t = p[2]; k = ++cnt[t]; W[t, k] = $1; C[t, k] = $2; R[t, k] = $3 }
END {
	split("tcpdump ndpi netmon", names, " ")
	for (x = 1; x <= 3; x++) {
		t = names[x]
		for (k = 1; k <= cnt[t]; k++) { w[k] = W[t, k]; c[k] = C[t, k]; r[k] = R[t, k] }
		mw[t] = median(w, cnt[t]); mc[t] = median(c, cnt[t]); mr[t] = median(r, cnt[t])
		pr[t] = 0; for (k = 1; k <= cnt[t]; k++) if (R[t, k] > pr[t]) pr[t] = R[t, k]
	}
	printf "workload: %s (%d packets, distinct flows per copy: %s), %d rounds, alternating\n", work, n, distinct ? "yes" : "no", runs
	printf "%-34s %9s %9s %10s %10s %10s\n", "", "wall s", "CPU s", "CPU ns/pkt", "RSS MiB", "peak MiB"
	label["tcpdump"] = "tcpdump -r W -w /dev/null"; label["ndpi"] = "ndpiReader -q -i W"; label["netmon"] = "netmon replay --no-ptr (" store ")"
	for (x = 1; x <= 3; x++) {
		t = names[x]
		printf "%-34s %9.3f %9.3f %10.0f %10.1f %10.1f\n", label[t], mw[t], mc[t], mc[t] * 1e9 / n, mr[t] / 1024, pr[t] / 1024
	}
	printf "netmon counted %s packets\n", counted
	printf "ratio netmon/ndpiReader  CPU %.2fx  wall %.2fx\n", mc["netmon"] / mc["ndpi"], mw["netmon"] / mw["ndpi"]
	printf "ratio netmon/tcpdump     CPU %.2fx  wall %.2fx\n", mc["netmon"] / mc["tcpdump"], mw["netmon"] / mw["tcpdump"]
}' "$tmp/runs.tcpdump" "$tmp/runs.ndpi" "$tmp/runs.netmon"
