#!/usr/bin/env bash
# Replays N one-packet capture files (bench/mkmany) in one `netmon replay`,
# with the default filter and with --filter '', into a scratch SQLite file,
# and prints wall and CPU seconds and peak RSS of each. BENCHMARKS.md
# ("Many small files") has the figures.
#   bench/manyfiles.sh [N...]      default: 1000 100000
#   NETMON=path/to/netmon bench/manyfiles.sh 1000   # time another build
#   FILTERS=default bench/manyfiles.sh 100000       # the default filter only
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${NETMON:-}
if [ -z "$bin" ]; then
	go build -o "$tmp/netmon" ./cmd/netmon
	bin=$tmp/netmon
fi
# 100,000 names exceed the default 2 MiB of arguments; a larger stack
# limit raises it.
ulimit -s unlimited 2>/dev/null || ulimit -s 65536
for n in "${@:-1000 100000}"; do
	for n1 in $n; do
		rm -rf "$tmp/many"
		go run ./bench/mkmany -dir "$tmp/many" -n "$n1"
		for filter in ${FILTERS:-default none}; do
			args=()
			[ "$filter" = none ] && args=(--filter '')
			rm -f "$tmp/n.db"*
			(cd "$tmp/many" && /usr/bin/time -f "%e %U %S %M" -o "$tmp/t" \
				"$bin" replay --config '' --dsn "sqlite:$tmp/n.db" --state-dir "$tmp/state" --no-ptr --oui-file '' \
				"${args[@]}" $(ls "$tmp/many" | sort -n) >/dev/null 2>"$tmp/err") || { tail -3 "$tmp/err"; exit 1; }
			awk -v n="$n1" -v f="$filter" '{printf "%7d files  filter %-7s  wall %6.2f s  cpu %6.2f s  peak RSS %d KiB\n", n, f, $1, $2+$3, $4}' "$tmp/t"
		done
	done
done
