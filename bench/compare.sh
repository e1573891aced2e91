#!/usr/bin/env bash
# Whole-process comparison for BENCHMARKS.md: builds the workload (>= 2M
# packets from the shared captures, nothing committed), then replays it
# through `netmon replay` (whole pipeline, writing to a scratch MariaDB
# database) and through `tcpdump -r W -w /dev/null` (libpcap's read floor),
# alternately, RUNS times each, and prints medians and ratios.
#
#   bench/compare.sh [RUNS]      env: NETMON_PCAP_DIR, NETMON_BENCH_DSN, WORKLOAD
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
work=${WORKLOAD:-/tmp/netmon-workload.pcap}
dsn=${NETMON_BENCH_DSN:-root@tcp(127.0.0.1:3306)/netmon_bench}
pcaps=${NETMON_PCAP_DIR:-../shared/testdata/pcap}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v tcpdump >/dev/null || { echo "tcpdump not found: apt-get install tcpdump"; exit 1; }
go build -o "$tmp/netmon-bin" ./cmd/netmon
packets=${PACKETS:-2000000}
if [ ! -s "$work" ] || [ "$(cat "$work.count" 2>/dev/null)" != "$packets" ]; then
	go run ./bench/mkworkload -dir "$pcaps" -o "$work" -packets "$packets"
	echo "$packets" > "$work.count"
fi
"$tmp/netmon-bin" migrate --dsn "$dsn" 2>/dev/null

measure() { # label cmd... → appends "wall cpu rss_kb" to $tmp/label
	local label=runs.$1; shift
	/usr/bin/time -f "%e %U %S %M" -o "$tmp/one" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
	awk '{printf "%s %.3f %s\n", $1, $2+$3, $4}' "$tmp/one" >> "$tmp/$label"
}
for i in $(seq "$runs"); do
	measure tcpdump tcpdump -r "$work" -w /dev/null
	measure netmon "$tmp/netmon-bin" replay --no-ptr --agent "bench$i" --dsn "$dsn" "$work"
done
pkts=$(grep -o 'packets_counted=[0-9]*' "$tmp/err" | cut -d= -f2)
n=$(cat "$work.count")
# Medians of each column, and the ratios, from the per-run lines.
awk -v n="$n" -v runs="$runs" -v work="$work" -v pkts="$pkts" '
function median(arr, k,   i, j, t) {
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return (k % 2) ? arr[(k + 1) / 2] : (arr[k / 2] + arr[k / 2 + 1]) / 2
}
FILENAME ~ /runs.tcpdump$/ { tw[++a] = $1; tc[a] = $2 }
FILENAME ~ /runs.netmon$/  { nw[++b] = $1; nc[b] = $2; if ($3 > rss) rss = $3 }
END {
	TW = median(tw, a); TC = median(tc, a); NW = median(nw, b); NC = median(nc, b)
	printf "workload: %s (%d packets), %d runs each, alternating\n", work, n, runs
	printf "tcpdump  median wall %6.3f s (%4.0f ns/packet)  median CPU %6.3f s\n", TW, TW * 1e9 / n, TC
	printf "netmon   median wall %6.3f s (%4.0f ns/packet)  median CPU %6.3f s  peak RSS %.1f MiB  (%d packets counted)\n", NW, NW * 1e9 / n, NC, rss / 1024, pkts
	printf "ratio    wall %.2fx   CPU %.2fx\n", NW / TW, NC / TC
}' "$tmp/runs.tcpdump" "$tmp/runs.netmon"
