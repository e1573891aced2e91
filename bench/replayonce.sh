#!/bin/bash
# Replays count each window once: one clean replay of a generated workload,
# then a replay killed with -9 part-way and run again, then the same file a
# third time; prints the packet totals of each agent (netmon top --json).
# Usage: bench/replayonce.sh [DSN]   (default: a scratch MariaDB database)
# NETMON=/path/to/netmon runs another build (an older one, to compare).
set -uo pipefail
cd "$(dirname "$0")/.."
dsn=${1:-root@tcp(127.0.0.1:3306)/netmon_replayonce}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${NETMON:-}" ]; then cp "$NETMON" "$tmp/netmon"; else go build -o "$tmp/netmon" ./cmd/netmon; fi
go run ./bench/mkworkload -o "$tmp/work.pcap" -packets 1000000 -pps 1000 >/dev/null
n() { "$tmp/netmon" "$@" --dsn "$dsn"; }
n migrate 2>/dev/null
total() { n top --json --since all --agent "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)["total"]; print(d["packets"], d["bytes"])'; }
# Window IDs written (a large window is written in parts, each with an ID of its own).
windows() { mysql -N -h127.0.0.1 -uroot "${dsn##*/}" -e "SELECT COUNT(*) FROM applied_windows WHERE agent = '$1'"; }

n replay --no-ptr --agent clean --state-dir "$tmp/s1" "$tmp/work.pcap" 2>/dev/null
echo "clean replay:              $(total clean) (packets bytes), $(windows clean) window IDs"

"$tmp/netmon" replay --dsn "$dsn" --no-ptr --agent k9 --state-dir "$tmp/s2" "$tmp/work.pcap" 2>/dev/null &
pid=$!
while [ "$(windows k9)" -lt 10 ]; do sleep 0.02; done
kill -9 $pid; wait $pid 2>/dev/null || true
echo "killed -9 part-way:        $(total k9), $(windows k9) window IDs"
n replay --no-ptr --agent k9 --state-dir "$tmp/s2" "$tmp/work.pcap" 2>&1 | grep -E 'earlier replay|msg=writer |level=ERROR' | cut -c1-220
echo "replayed again:            $(total k9)"
n replay --no-ptr --agent k9 --state-dir "$tmp/s2" "$tmp/work.pcap" 2>&1 | grep -E 'skipped|level=ERROR' | cut -c1-200
echo "replayed a third time:     $(total k9)"
