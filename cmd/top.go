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

	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/store"
)

// topOptions are the flags of netmon top, plus the clock and zone it reads
// them against.
type topOptions struct {
	since time.Duration // 0: all
	by    string
	agent string
	limit int
	json  bool
	dsnFlags

	now func() time.Time
	loc *time.Location // for the table; --json is always UTC
}

// termWidth is the width the table fits. netmon does not ask the terminal:
// 80 columns is the narrowest in common use, and --json has the full names.
const termWidth = 80

func newTopCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	o := topOptions{now: time.Now, loc: time.Local}
	c := &cobra.Command{
		Use:   "top",
		Short: "Print the services, domains or devices with the most packets",
		Long: "top sums the database's rows per service (nickname), domain or device, largest first. A device is\n" +
			"what the devices table knows (a MAC with its addresses, shown as hostname (vendor)), else a client address.\n" +
			"--since counts back from now; after replaying an old capture use --since all.\n" +
			"It exits with status 1 and a one-line reason when nothing matches.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			q := o.query()
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
			res, err := st.Top(ctx, q)
			if err != nil {
				return err
			}
			if res.Groups == 0 {
				ext, err := st.Extent(ctx, q.Agent)
				if err != nil {
					return err
				}
				return emptyTopErr(q, ext)
			}
			if o.json {
				return writeTopJSON(c.OutOrStdout(), q, res)
			}
			return writeTopTable(c.OutOrStdout(), q, res, o.loc)
		},
	}
	f := c.Flags()
	f.Var(flagval.Since(&o.since, "1h", limits["since"]), "since", `how far back from now: an age such as 30m, 12h, 7d or 1d12h, or "all"`)
	f.Var(flagval.Enum(&o.by, "service", string(store.ByService), string(store.ByDomain), string(store.ByDevice)), "by", "group by service, domain or device")
	f.StringVar(&o.agent, "agent", "", "only this agent's rows (default every agent)")
	f.Var(flagval.Count(&o.limit, 20, limits["limit"]), "limit", "print at most this many lines (0 for all)")
	f.BoolVar(&o.json, "json", false, "print JSON with raw numbers and UTC times, for scripts")
	o.dsnFlags.register(f)
	return c
}

// query turns the flags, checked as they were set, into a store query.
func (o *topOptions) query() store.TopQuery {
	q := store.TopQuery{By: store.TopBy(o.by), Agent: o.agent, Limit: o.limit}
	if o.since > 0 {
		q.Since = o.now().Add(-o.since)
	}
	return q
}

// emptyTopErr says why nothing matched, and what to try instead.
func emptyTopErr(q store.TopQuery, ext store.Extent) error {
	switch {
	case len(ext.Agents) == 0:
		return errors.New(`no traffic recorded yet: run "netmon run -i IFACE" or "netmon replay FILE" with this database`)
	case ext.Empty():
		return fmt.Errorf("no rows for agent %s (agents with rows: %s)", strconv.Quote(q.Agent), quoteAll(ext.Agents))
	default:
		return fmt.Errorf("no rows since %s; the newest is from %s (try --since all, or a longer --since)",
			q.Since.UTC().Format(time.DateTime+" UTC"), ext.Newest.UTC().Format(time.DateTime+" UTC"))
	}
}

func quoteAll(ss []string) string {
	const most = 5 // enough to spot a typo; the line must stay one line
	q := make([]string, 0, most+1)
	for i, s := range ss {
		if i == most {
			q = append(q, fmt.Sprintf("and %d more", len(ss)-most))
			break
		}
		q = append(q, strconv.Quote(s))
	}
	return strings.Join(q, ", ")
}

// topJSON is the --json document: raw numbers, UTC times, share as a
// fraction of all the packets selected.
type topJSON struct {
	By    string     `json:"by"`
	Agent string     `json:"agent"` // "" for every agent
	Since *time.Time `json:"since"` // null for --since all
	Total struct {
		Groups  int     `json:"groups"`
		Packets uint64  `json:"packets"`
		Bytes   *uint64 `json:"bytes"` // null when no packet's bytes are known
		// UnknownBytes counts the packets whose bytes are not known (rows
		// from before netmon, adopted from the seed's database).
		UnknownBytes uint64    `json:"unknown_bytes_packets,omitempty"`
		FirstSeen    time.Time `json:"first_seen"`
		LastSeen     time.Time `json:"last_seen"`
	} `json:"total"`
	Rows []topJSONRow `json:"rows"`
}

type topJSONRow struct {
	Name    string  `json:"name"`
	Packets uint64  `json:"packets"`
	Bytes   *uint64 `json:"bytes"` // null when no packet's bytes are known
	// UnknownBytes counts the packets whose bytes are not known.
	UnknownBytes uint64    `json:"unknown_bytes_packets,omitempty"`
	Share        float64   `json:"share"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	// OwnerBytes is the part of Bytes named by the owner of the address
	// (--asn-db) rather than by a name; --by service only.
	OwnerBytes uint64 `json:"owner_bytes,omitempty"`
	// Device is the raw fields behind a device's name, --by device only.
	Device *topDeviceJSON `json:"device,omitempty"`
}

type topDeviceJSON struct {
	ID      string   `json:"id"`      // the MAC, or the address when no device holds it
	Clients []string `json:"clients"` // the addresses summed in this line
	MAC     string   `json:"mac"`     // "" when unknown
	hostnameJSON
	Vendor     string `json:"vendor"`
	Randomised bool   `json:"randomised"`
}

func writeTopJSON(w io.Writer, q store.TopQuery, res store.TopResult) error {
	doc := topJSON{By: string(q.By), Agent: q.Agent, Rows: make([]topJSONRow, 0, len(res.Rows))}
	if !q.Since.IsZero() {
		s := q.Since.UTC().Truncate(time.Second)
		doc.Since = &s
	}
	doc.Total.Groups = res.Groups
	doc.Total.Packets, doc.Total.Bytes = res.Total.Packets, knownBytes(res.Total)
	doc.Total.UnknownBytes = res.Total.UnknownBytes
	doc.Total.FirstSeen, doc.Total.LastSeen = res.Total.FirstSeen.UTC(), res.Total.LastSeen.UTC()
	for _, r := range res.Rows {
		row := topJSONRow{
			// encoding/json writes invalid UTF-8 as U+FFFD, which is as
			// close to the raw bytes as a JSON string can be; a device's
			// host name has its exact bytes beside it.
			Name: r.Name, Packets: r.Packets, Bytes: knownBytes(r), UnknownBytes: r.UnknownBytes, Share: share(r.Packets, res.Total.Packets),
			FirstSeen: r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC(), OwnerBytes: r.OwnerBytes,
		}
		if d := r.Device; d != nil {
			row.Device = &topDeviceJSON{ID: d.ID, Clients: d.Clients, MAC: d.MAC,
				hostnameJSON: hostnameOf(d.Hostname, d.NameSource), Vendor: d.Vendor, Randomised: d.Randomised}
		}
		doc.Rows = append(doc.Rows, row)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func share(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// writeTopTable prints a header, one line per group and, when --limit cut
// some off, what they add up to; every line fits termWidth columns. Names
// come from the network, so they are escaped before they reach the
// terminal.
func writeTopTable(w io.Writer, q store.TopQuery, res store.TopResult, loc *time.Location) error {
	first, last := res.Total.FirstSeen.In(loc), res.Total.LastSeen.In(loc)
	layout := spanLayout(first, last)
	agent := "every agent"
	if q.Agent != "" {
		agent = "agent " + escapeName(q.Agent)
	}
	plural := map[store.TopBy]string{store.ByService: "services", store.ByDomain: "domains", store.ByDevice: "devices"}[q.By]
	singular := strings.TrimSuffix(plural, "s")
	counted := plural
	if res.Groups == 1 {
		counted = singular
	}
	lines := []string{
		fit(fmt.Sprintf("%s %s, %s packets, %s, %s", groupCount(res.Groups), counted,
			packetCount(res.Total.Packets), bytesShown(res.Total), agent), termWidth),
		fmt.Sprintf("windows from %s to %s %s", first.Format(time.DateTime), last.Format(time.DateTime), first.Format("MST")),
		"",
	}

	cells := [][]string{{strings.ToUpper(singular), "PACKETS", "BYTES", "SHARE", "FIRST", "LAST"}}
	for _, r := range res.Rows {
		// A device's label is its host name and vendor, raw bytes from
		// the network like a domain, escaped alike.
		name := escapeName(r.Name)
		if r.OwnerBytes > 0 {
			// Named by the owner of the address, not by a name: say so.
			name += " [asn " + percent(share(r.OwnerBytes, r.Bytes)) + "]"
		}
		cells = append(cells, []string{
			name, packetCount(r.Packets), bytesShown(r),
			percent(share(r.Packets, res.Total.Packets)),
			r.FirstSeen.In(loc).Format(layout), r.LastSeen.In(loc).Format(layout),
		})
	}
	// Numbers line up on the right; names and times read left to right.
	lines = append(lines, table(cells, func(col int) bool { return col >= 1 && col <= 3 })...)
	if more := res.Groups - len(res.Rows); more > 0 {
		var p, by uint64
		for _, r := range res.Rows {
			p += r.Packets
			by += r.Bytes
		}
		p, by = res.Total.Packets-p, res.Total.Bytes-by
		counted := plural
		if more == 1 {
			counted = singular
		}
		lines = append(lines, fit(fmt.Sprintf("… and %s more %s: %s packets (%s), %s",
			groupCount(more), counted, packetCount(p), percent(share(p, res.Total.Packets)), byteCount(by)), termWidth))
	}
	if u := res.Total.UnknownBytes; u > 0 {
		lines = append(lines, fit(fmt.Sprintf("— bytes not known: %s packets from before netmon (seed rows); ≥ partly known",
			packetCount(u)), termWidth))
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// knownBytes is a group's bytes for --json: null when none of its packets'
// bytes are known (rows from before netmon), which is not zero bytes.
func knownBytes(r store.TopRow) *uint64 {
	if r.UnknownBytes >= r.Packets && r.Packets > 0 {
		return nil
	}
	b := r.Bytes
	return &b
}

// bytesShown is a group's bytes for the table: "—" when none are known,
// "≥ n" when only some are.
func bytesShown(r store.TopRow) string {
	switch {
	case r.UnknownBytes == 0:
		return byteCount(r.Bytes)
	case r.UnknownBytes >= r.Packets:
		return "—"
	}
	return "≥ " + byteCount(r.Bytes)
}

// spanLayout is the time layout for a column of times from first to last:
// the header carries the full times, the column only what varies, leaving
// the names as much room as the span allows.
func spanLayout(first, last time.Time) string {
	switch {
	case first.YearDay() == last.YearDay() && first.Year() == last.Year():
		return time.TimeOnly
	case first.Year() != last.Year():
		return time.DateOnly
	}
	return "01-02 15:04"
}

// table lays out cells, the first row a header, as lines of at most
// termWidth columns where it can: the first column, the name, gets what the
// others leave, down to a floor that still tells names apart, and is cut
// with an ellipsis. Cells must be escaped already (one column a rune).
// right says which columns are aligned on the right.
func table(cells [][]string, right func(col int) bool) []string {
	const gap = "  "
	widths := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	rest := 0
	for _, wd := range widths[1:] {
		rest += len(gap) + wd
	}
	widths[0] = max(min(widths[0], termWidth-rest), 12)
	lines := make([]string, 0, len(cells))
	for _, row := range cells {
		var b strings.Builder
		name := fit(row[0], widths[0])
		b.WriteString(name + strings.Repeat(" ", widths[0]-utf8.RuneCountInString(name)))
		for i, cell := range row[1:] {
			b.WriteString(gap)
			pad := strings.Repeat(" ", widths[i+1]-utf8.RuneCountInString(cell))
			if right(i + 1) {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
	}
	return lines
}

// escapeName makes a name from the network safe to print: printable ASCII
// stays, a backslash is doubled, and anything else (control characters,
// escape sequences, invalid UTF-8, and non-ASCII, whose width a terminal may
// draw as 0 or 2 columns or reorder, as bidirectional controls do) is
// written as a Go escape, so that every rune is one column.
func escapeName(s string) string {
	q := strconv.QuoteToASCII(s)
	q = q[1 : len(q)-1]
	// QuoteToASCII escapes the double quote for its own delimiters; a
	// table has none.
	return strings.ReplaceAll(q, `\"`, `"`)
}

// fit cuts s to at most width runes, ending in an ellipsis when it cut. It
// never cuts through an escape of escapeName's: `\x1b` is kept whole or
// dropped whole, so a cut name shows no half escape.
func fit(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	cut := string([]rune(s)[:width-1]) // a prefix of s, byte for byte
	for i := 0; i < len(cut); {
		if cut[i] != '\\' {
			i++ // a backslash byte is never inside a multi-byte rune
			continue
		}
		n := 2 // \\, \n, \a, ...
		if i+1 < len(s) {
			switch s[i+1] {
			case 'x':
				n = 4
			case 'u':
				n = 6
			case 'U':
				n = 10
			}
		}
		if i+n > len(cut) {
			cut = cut[:i]
			break
		}
		i += n
	}
	return cut + "…"
}

// packetCount groups digits in thousands up to 999,999,999 and then shortens,
// so that the column stays at most 11 wide.
func packetCount(n uint64) string {
	if n >= 1e9 {
		return siCount(n, "")
	}
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func groupCount(n int) string { return packetCount(uint64(n)) }

// byteCount is n in decimal (SI) units with one decimal, at most 8 wide:
// 999 B, 1.0 kB, 12.3 MB.
func byteCount(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10) + " B"
	}
	return siCount(n, "B")
}

func siCount(n uint64, unit string) string {
	const prefixes = "kMGTPE"
	v := float64(n) / 1000
	i := 0
	// Round first, so that 999,950 shows as 1.0 MB and not 1000.0 kB.
	for v >= 999.95 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	if unit == "" {
		return fmt.Sprintf("%.1f%c", v, prefixes[i])
	}
	return fmt.Sprintf("%.1f %c%s", v, prefixes[i], unit)
}

func percent(f float64) string {
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}
