// Command mkworkload writes the benchmark workload (see package workload).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/netmon/netmon/bench/workload"
)

func main() {
	dir := flag.String("dir", workload.Dir(filepath.Join("..", "shared", "testdata", "pcap")), "folder of the shared captures (NETMON_PCAP_DIR)")
	out := flag.String("o", "workload.pcap", "output file")
	packets := flag.Int("packets", 2_000_000, "packets to write")
	pps := flag.Int("pps", 100_000, "packet rate the timestamps describe")
	flag.Parse()
	if err := workload.Build(*dir, *out, *packets, *pps); err != nil {
		fmt.Fprintln(os.Stderr, "mkworkload:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d packets, %d pps of packet time\n", *out, *packets, *pps)
}
