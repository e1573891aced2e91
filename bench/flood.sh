#!/bin/sh
# Floods netmon, replayed by the netmon binary into MariaDB
# ($NETMON_TEST_DSN, default root@tcp(127.0.0.1:3306)/test), and prints the
# process's peak resident memory, the state dropped at each cap, and the
# real traffic's counts. BENCHMARKS.md ("Floods", "LAN floods") has the
# figures.
#
# TestFlood: 1,000,000 distinct random subdomains, 1,000,000 distinct remote
# addresses and 1,000,000 half-open TCP flows, one device's real traffic
# mixed in.
# TestLANFlood (needs ../shared's netflix.pcap): netflix.pcap's real
# conversation mixed with 1,000,000 local source addresses in one window,
# 1,000,000 remote addresses at 33,000/s to one device, and 1,000,000 TLS
# flows at 10,000/s each naming its own server.
#   bench/flood.sh            # the full sizes above
#   N=100000 LOCAL=300000 REMOTE=250000 SNI=80000 SNI_RATE=2000 bench/flood.sh   # what CI runs
set -eu
cd "$(dirname "$0")/.."
NETMON_FLOOD_N="${N:-1000000}" NETMON_FLOOD_RSS_MB="${RSS_MB:-300}" \
	go test -tags e2e -count 1 -timeout 30m -run '^TestFlood$' -v ./cmd
NETMON_LANFLOOD_LOCAL="${LOCAL:-1000000}" NETMON_LANFLOOD_REMOTE="${REMOTE:-1000000}" \
NETMON_LANFLOOD_SNI="${SNI:-1000000}" NETMON_LANFLOOD_SNI_RATE="${SNI_RATE:-10000}" \
NETMON_LANFLOOD_RSS_MB="${RSS_MB:-300}" \
	go test -tags e2e -count 1 -timeout 30m -run '^TestLANFlood$' -v ./cmd
