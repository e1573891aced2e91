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
	distinct := flag.Bool("distinct", true, "move the client ports of each copy of the corpus, so that copies are distinct flows (false: the same flows repeated)")
	flag.Parse()
	st, err := workload.BuildStats(*dir, *out, *packets, *pps, *distinct)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkworkload:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d packets (mean %d bytes) from %d captures (%d frames a copy, client ports moved per copy: %v), %d pps of packet time\n",
		*out, *packets, st.Bytes/int64(*packets), st.Captures, st.Frames, *distinct, *pps)
}
