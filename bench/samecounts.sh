#!/usr/bin/env bash
# Checks that two netmon binaries count a capture identically: each
# replays it into a fresh SQLite file, and `netmon top --json` by service,
# domain and device (all lines) must be byte for byte the same.
#
#   bench/samecounts.sh OLD NEW [FILE...]   (default FILE: $WORKLOAD or /tmp/netmon-workload.pcap)
set -euo pipefail
old=$1 new=$2
shift 2
work=("${@:-${WORKLOAD:-/tmp/netmon-workload.pcap}}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in old new; do
	bin=$old; [ $b = new ] && bin=$new
	"$bin" replay --no-ptr --agent same --db "$tmp/$b.db" --state-dir "$tmp/state-$b" "${work[@]}" 2>"$tmp/$b.log" >/dev/null
	for by in service domain device; do
		"$bin" top --json --since all --limit 0 --by $by --db "$tmp/$b.db" > "$tmp/$b.$by.json"
	done
	grep -o 'frames_read=[0-9]* packets_counted=[0-9]* windows=[0-9]* rows=[0-9]*' "$tmp/$b.log" > "$tmp/$b.counts"
done
status=0
for f in service.json domain.json device.json counts; do
	if cmp -s "$tmp/old.$f" "$tmp/new.$f"; then
		echo "same $f ($(wc -c < "$tmp/new.$f") bytes)"
	else
		echo "DIFFERENT $f:"; diff "$tmp/old.$f" "$tmp/new.$f" | head -20; status=1
	fi
done
cat "$tmp/new.counts"
exit $status
