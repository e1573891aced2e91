#!/usr/bin/env bash
# Before/after of two netmon binaries on the workload: RUNS rounds of
# `netmon replay --no-ptr` into a fresh SQLite file, the binaries
# alternating, and the median wall, CPU (user+sys) and peak RSS of each
# (and the largest peak RSS of any round).
# For measuring one change on this shared, noisy machine (no instruction
# counters here: perf has none in this VM, and valgrind cannot run Go's
# RDTSCP).
#
#   bench/ab.sh OLD NEW [RUNS]    env: WORKLOAD (default /tmp/netmon-workload.pcap, see compare.sh)
set -euo pipefail
old=$1 new=$2 runs=${3:-7}
work=${WORKLOAD:-/tmp/netmon-workload.pcap}
[ -s "$work" ] || { echo "no workload $work: run bench/compare.sh first, or go run ./bench/mkworkload -o $work"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat "$work" >/dev/null
for i in $(seq "$runs"); do
	for b in old new; do
		bin=$old; [ $b = new ] && bin=$new
		rm -rf "$tmp/db"* "$tmp/state"
		/usr/bin/time -f "%e %U %S %M" -o "$tmp/one" "$bin" replay --no-ptr --db "$tmp/db" --state-dir "$tmp/state" "$work" >/dev/null 2>"$tmp/err.$b" ||
			{ cat "$tmp/err.$b"; exit 1; }
		awk '{printf "%s %.3f %s\n", $1, $2+$3, $4}' "$tmp/one" >> "$tmp/runs.$b"
	done
done
for b in old new; do
	printf '%s: packets_counted=%s\n' $b "$(grep -o 'packets_counted=[0-9]*' "$tmp/err.$b" | cut -d= -f2)"
done
awk '
function median(a, k,   i, j, t) {
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
FILENAME ~ /old$/ { ow[++o] = $1; oc[o] = $2; orss[o] = $3 }
FILENAME ~ /new$/ { nw[++n] = $1; nc[n] = $2; nrss[n] = $3 }
END {
	for (i = 1; i <= o; i++) if (orss[i] > OM) OM = orss[i]
	for (i = 1; i <= n; i++) if (nrss[i] > NM) NM = nrss[i]
	OW = median(ow, o); OC = median(oc, o); OR = median(orss, o); NW = median(nw, n); NC = median(nc, n); NR = median(nrss, n)
	printf "old  median wall %.3f s  CPU %.3f s  RSS %.1f MiB (largest %.1f)\n", OW, OC, OR / 1024, OM / 1024
	printf "new  median wall %.3f s  CPU %.3f s  RSS %.1f MiB (largest %.1f)\n", NW, NC, NR / 1024, NM / 1024
	printf "new/old  wall %.2fx  CPU %.2fx  RSS %.2fx\n", NW / OW, NC / OC, NR / OR
}' "$tmp/runs.old" "$tmp/runs.new"
