#!/bin/sh
# Floods netmon with 1,000,000 distinct random subdomains, 1,000,000 distinct
# remote addresses and 1,000,000 half-open TCP flows, real traffic of one
# device mixed in, replayed by the netmon binary into MariaDB
# ($NETMON_TEST_DSN, default root@tcp(127.0.0.1:3306)/test); prints the
# process's peak resident memory, the state dropped at each cap, and the real
# device's counts. BENCHMARKS.md ("Floods") has the figures.
#   bench/flood.sh            # 1,000,000 per flood
#   N=100000 bench/flood.sh   # what CI runs (go test ./cmd -run TestFlood)
set -eu
cd "$(dirname "$0")/.."
NETMON_FLOOD_N="${N:-1000000}" NETMON_FLOOD_RSS_MB="${RSS_MB:-300}" \
	go test -count 1 -timeout 30m -run '^TestFlood$' -v ./cmd
