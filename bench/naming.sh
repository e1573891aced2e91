#!/usr/bin/env bash
# How port 80/443 bytes of the shared captures get their service name,
# before (BASE, default the commit before issue 18's work) and now, without
# and with --asn-db, and the replay's time and peak memory with and without
# the ASN data. Figures for docs/naming.md and BENCHMARKS.md.
#
#   bench/naming.sh [BASE]     env: NETMON_PCAP_DIR, ASN_DIR (the unpacked
#                              @ip-location-db/asn package; default the
#                              tests' cache ~/.cache/netmon/ip-location-db-asn/package)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-05f7fd6}
pcaps=${NETMON_PCAP_DIR:-../shared/testdata/pcap}
asn=${ASN_DIR:-$HOME/.cache/netmon/ip-location-db-asn/package}
[ -s "$asn/asn-ipv4.csv" ] || go test -run TestNPMPackage ./asn >/dev/null
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/now" ./cmd/netmon
git worktree add -q --detach "$tmp/base" "$base"
cp bench/naming/base_named.go.txt "$tmp/base/resolver/zz_bench_named.go"
mkdir -p "$tmp/base/bench/naming" && cp bench/naming/main.go "$tmp/base/bench/naming/"
(cd "$tmp/base" && go build -o "$tmp/before" ./cmd/netmon && go build -o "$tmp/naming-before" ./bench/naming)
go build -o "$tmp/naming" ./bench/naming

mapfile -t files < <(find "$pcaps" -maxdepth 1 \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
filter='tcp port 80 or tcp port 443 or udp port 443'
replay() { # bin db [flags...]
	local bin=$1 db=$2; shift 2
	/usr/bin/time -f "%e s wall, %M KiB max RSS" -o "$tmp/time" \
		"$bin" replay --config '' --no-ptr --dsn "sqlite:$db" --filter "$filter" "$@" "${files[@]}" >/dev/null 2>"$tmp/err" \
		|| { cat "$tmp/err"; exit 1; }
	cat "$tmp/time"
}
echo "== before ($base)"
replay "$tmp/before" "$tmp/before.db"
"$tmp/naming-before" -db "$tmp/before.db"
echo "== now, without --asn-db"
replay "$tmp/now" "$tmp/now.db"
"$tmp/naming" -db "$tmp/now.db"
echo "== now, with --asn-db $asn/asn-ipv4.csv,asn-ipv6.csv"
replay "$tmp/now" "$tmp/asn.db" --asn-db "$asn/asn-ipv4.csv" --asn-db "$asn/asn-ipv6.csv"
"$tmp/naming" -db "$tmp/asn.db"
echo "== ASN data: load, heap kept, lookup"
go test -run XX -bench 'LoadNPM' -benchtime 5x ./asn | grep Benchmark
go test -run XX -bench 'LookupNPM' ./asn | grep Benchmark
