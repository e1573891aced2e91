// Command netmon counts which web services the devices of a home network
// talk to, in 10-second windows, and stores the counts for Grafana.
package main

import (
	"os"

	"github.com/netmon/netmon/cmd"
	"github.com/netmon/netmon/cmd/internal/memlimit"
)

func main() {
	memlimit.Start()
	os.Exit(cmd.Execute())
}
