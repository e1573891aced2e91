package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/netmon/netmon/devices"
	"github.com/netmon/netmon/store"
)

// devicesOptions are the flags of netmon devices, plus the zone the table is
// printed in.
type devicesOptions struct {
	agent string
	json  bool
	dsnFlags

	loc *time.Location // for the table; --json is always UTC
}

func newDevicesCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	o := devicesOptions{loc: time.Local}
	c := &cobra.Command{
		Use:   "devices",
		Short: "List the local devices netmon has named",
		Long: "devices lists the local devices netmon learned from the network, the most recently seen first:\n" +
			"host name (and where it came from), vendor, MAC address, addresses and when each was last seen.\n" +
			"It exits with status 1 and a one-line reason when there are none.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Warnings about the DSN go to netmon's log, in its format.
			log, err := logger()
			if err != nil {
				return err
			}
			st, err := o.open(ctx, log)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.Devices(ctx, o.agent)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				agents, err := st.DeviceAgents(ctx)
				if err != nil {
					return err
				}
				return emptyDevicesErr(o.agent, agents)
			}
			if o.json {
				return writeDevicesJSON(c.OutOrStdout(), o.agent, list)
			}
			return writeDevicesTable(c.OutOrStdout(), o.agent, list, o.loc)
		},
	}
	f := c.Flags()
	f.StringVar(&o.agent, "agent", "", "only this agent's devices (default every agent)")
	f.BoolVar(&o.json, "json", false, "print JSON with every address and UTC times, for scripts")
	o.dsnFlags.register(f)
	return c
}

// emptyDevicesErr says why no device was listed.
func emptyDevicesErr(agent string, agents []string) error {
	if agent == "" || len(agents) == 0 {
		return errors.New(`no devices recorded yet: "netmon run" or "netmon replay" learns them from captures that carry ` +
			`MAC addresses (Ethernet or Wi-Fi), DHCP, mDNS or NetBIOS`)
	}
	return fmt.Errorf("no devices for agent %s (agents with devices: %s)", strconv.Quote(agent), quoteAll(agents))
}

// devicesJSON is the --json document.
type devicesJSON struct {
	Agent   string       `json:"agent"` // "" for every agent
	Devices []deviceJSON `json:"devices"`
}

type deviceJSON struct {
	Agent string `json:"agent"`
	ID    string `json:"id"`
	Label string `json:"label"`
	hostnameJSON
	MAC        string           `json:"mac"` // "" when unknown
	Vendor     string           `json:"vendor"`
	Randomised bool             `json:"randomised"`
	Addresses  []deviceAddrJSON `json:"addresses"`
	FirstSeen  time.Time        `json:"first_seen"`
	LastSeen   time.Time        `json:"last_seen"`
}

type deviceAddrJSON struct {
	Addr     string    `json:"addr"`
	LastSeen time.Time `json:"last_seen"`
}

// hostnameJSON carries a host name as JSON can: a JSON string holds only
// valid UTF-8, so encoding/json writes each invalid byte as U+FFFD; for
// such a name HostnameBytes holds the exact bytes (base64, as encoding/json
// writes []byte).
type hostnameJSON struct {
	Hostname      string `json:"hostname"`
	HostnameBytes []byte `json:"hostname_bytes,omitempty"`
	NameSource    string `json:"name_source"` // "" when no name is known
}

func hostnameOf(hostname, source string) hostnameJSON {
	h := hostnameJSON{Hostname: hostname, NameSource: source}
	if !utf8.ValidString(hostname) {
		h.HostnameBytes = []byte(hostname)
	}
	return h
}

func writeDevicesJSON(w io.Writer, agent string, list []store.DeviceRecord) error {
	doc := devicesJSON{Agent: agent, Devices: make([]deviceJSON, 0, len(list))}
	for _, d := range list {
		dj := deviceJSON{
			Agent: d.Agent, ID: d.ID, Label: d.Label(), hostnameJSON: hostnameOf(d.Hostname, d.NameSource.String()),
			MAC: d.MAC, Vendor: d.Vendor, Randomised: d.Randomised, Addresses: make([]deviceAddrJSON, 0, len(d.Addrs)),
			FirstSeen: d.FirstSeen.UTC(), LastSeen: d.LastSeen.UTC(),
		}
		for _, a := range d.Addrs {
			dj.Addresses = append(dj.Addresses, deviceAddrJSON{a.Addr.String(), a.LastSeen.UTC()})
		}
		doc.Devices = append(doc.Devices, dj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// maxAddrCell is the widest the ADDRESSES column gets: an IPv4 address and
// a count of the others, or most of an IPv6 one.
const maxAddrCell = 24

// writeDevicesTable prints a header and one line per device, fitting
// termWidth columns. Host names come from the network, so they are escaped
// before they reach the terminal and cut with an ellipsis when long.
func writeDevicesTable(w io.Writer, agent string, list []store.DeviceRecord, loc *time.Location) error {
	first, last := list[0].LastSeen.In(loc), list[0].LastSeen.In(loc)
	for _, d := range list {
		if t := d.LastSeen.In(loc); t.Before(first) {
			first = t
		}
	}
	layout := spanLayout(first, last)
	who := "every agent"
	if agent != "" {
		who = "agent " + escapeName(agent)
	}
	counted := "devices"
	if len(list) == 1 {
		counted = "device"
	}
	lines := []string{
		fit(fmt.Sprintf("%s %s, %s", groupCount(len(list)), counted, who), termWidth),
		fmt.Sprintf("last seen from %s to %s %s", first.Format(time.DateTime), last.Format(time.DateTime), first.Format("MST")),
		"",
	}
	cells := [][]string{{"DEVICE", "SOURCE", "MAC", "ADDRESSES", "LAST"}}
	for _, d := range list {
		cells = append(cells, []string{
			escapeName(d.Label()), orDash(d.NameSource.String()), orDash(escapeName(d.MAC)),
			fit(addrCell(d.Addrs), maxAddrCell), d.LastSeen.In(loc).Format(layout),
		})
	}
	lines = append(lines, table(cells, func(int) bool { return false })...)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// addrCell names a device's addresses in a few columns: the most recent
// IPv4 address, which people recognise, else the most recent address, and
// how many more there are (--json lists them all).
func addrCell(addrs []devices.Addr) string {
	if len(addrs) == 0 {
		return "-"
	}
	shown := addrs[0] // most recent first
	for _, a := range addrs {
		if a.Addr.Is4() {
			shown = a
			break
		}
	}
	s := shown.Addr.String()
	if len(addrs) > 1 {
		s += " +" + strconv.Itoa(len(addrs)-1)
	}
	return s
}
