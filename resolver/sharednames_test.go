package resolver

import (
	"bufio"
	"context"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/resolver/addrtable"
)

// knownNameMisses lists, per capture and expected row ("address name"),
// why netmon does not extract that name. A miss not listed here fails
// TestSharedCapturesNames.
var knownNameMisses = map[string]map[string]string{
	// "file.pcap": {"192.0.2.1 www.example.com": "why"},
}

// nameRow is one expected tls_sni, http_host or quic_sni row.
type nameRow struct {
	addr   netip.Addr
	name   string // lower-cased; an http_host's :port removed
	source string
	frame  string
}

// TestSharedCapturesNames replays every shared capture with a ground truth
// through the Decoder (default configuration and filter, as netmon runs)
// and the Learner, and checks that the server name of every expected TLS
// SNI, HTTP Host and QUIC SNI row on port 53, 80 or 443, outside tunnels
// the Decoder does not open, is what netmon read from the flow to that
// address.
//
// An expected name that is the server's own address (an HTTP request to
// http://23.246.11.145/, a ClientHello whose SNI is an IP literal) is
// matched when netmon took no name from that flow: it does not use address
// literals as names, so such traffic counts under the address's own name,
// which is the address when nothing else names it.
func TestSharedCapturesNames(t *testing.T) {
	dir := capturetest.Dir(t)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Captures where every row must be matched, whatever the overall rate:
	// QUIC v1, drafts and the reserved version, and split ClientHellos.
	mustAll := map[string]bool{
		"quic_crypto_aes_auth_size.pcap": true, "quic-29.pcap": true, "quic-mvfst-27.pcapng": true,
		"quic_interop_V.pcapng": true, "google_meet.pcapng": true, "google_meet-sll2.pcap": true,
		"quic_t50.pcap": true, "quic_q43.pcap": true, "quic_q46.pcap": true,
		"dingtalk.pcap": true, "tls_with_huge_ch.pcapng": true, "quic_frags_ch_in_multiple_packets.pcapng": true,
	}
	var total, matched int
	for _, f := range files {
		want := filepath.Join(dir, "expected", f.Name()+".tsv")
		if f.IsDir() {
			continue
		}
		if _, err := os.Stat(want); err != nil {
			continue
		}
		rows, all := expectedNames(t, want)
		got, st := replayNames(t, filepath.Join(dir, f.Name()))
		if all == 0 && len(got) > 0 {
			// A negative case: no ClientHello, request or Initial in the
			// capture names a server (no SNI, ESNI only, DoQ...).
			t.Errorf("%s: names extracted where the ground truth has none: %q", f.Name(), slices.Sorted(maps.Keys(got)))
		}
		hit := 0
		for _, r := range rows {
			key := r.addr.String() + " " + r.name
			ok := got[key]
			if lit, err := netip.ParseAddr(r.name); err == nil && lit.Unmap() == r.addr {
				// An address literal: netmon must have seen it and named
				// the flow nothing else.
				ok = st.FlowLiterals > 0 && !gotAny(got, r.addr)
			}
			if ok {
				hit++
				continue
			}
			if reason := knownNameMisses[f.Name()][key]; reason != "" && !mustAll[f.Name()] {
				t.Logf("%s: known miss %s (%s): %s", f.Name(), key, r.source, reason)
				continue
			}
			t.Errorf("%s: %s → %s (%s, first frame %s) not extracted; got for that address: %q",
				f.Name(), r.addr, r.name, r.source, r.frame, namesOf(got, r.addr))
		}
		var extra []string
		for k := range got {
			a, n, _ := strings.Cut(k, " ")
			if !slices.ContainsFunc(rows, func(r nameRow) bool { return r.addr.String() == a && r.name == n }) {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			t.Logf("%s: extracted beyond the compared rows (other ports, tunnels): %q", f.Name(), extra)
		}
		total += len(rows)
		matched += hit
		if len(rows) > 0 {
			t.Logf("%-42s %3d/%-3d names (%.1f%%)", f.Name(), hit, len(rows), 100*float64(hit)/float64(len(rows)))
		}
	}
	if total == 0 {
		t.Fatal("no expected tls_sni, http_host or quic_sni rows found")
	}
	rate := 100 * float64(matched) / float64(total)
	t.Logf("all captures: %d/%d expected names extracted (%.1f%%)", matched, total, rate)
	if rate < 98 {
		t.Errorf("%.1f%% of expected names extracted, want at least 98%%", rate)
	}
}

func gotAny(got map[string]bool, addr netip.Addr) bool { return len(namesOf(got, addr)) > 0 }

func namesOf(got map[string]bool, addr netip.Addr) []string {
	var out []string
	for k := range got {
		if a, n, _ := strings.Cut(k, " "); a == addr.String() {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// expectedNames reads the rows of a ground truth file that the name
// parsers should produce: tls_sni, http_host or quic_sni on port 53, 80 or
// 443, with no tunnel in front. all counts the name rows of any port.
func expectedNames(t *testing.T, path string) (rows []nameRow, all int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var col map[string]int
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = make(map[string]int)
			for i, h := range fields {
				col[h] = i
			}
			continue
		}
		get := func(h string) string {
			if i, ok := col[h]; ok && i < len(fields) {
				return fields[i]
			}
			return ""
		}
		src, port := get("source"), get("port")
		if src != "tls_sni" && src != "http_host" && src != "quic_sni" {
			continue
		}
		all++
		if port != "53" && port != "80" && port != "443" || tunnelled(get("encap")) {
			continue
		}
		a, err := netip.ParseAddr(get("address"))
		if err != nil {
			t.Fatalf("%s: address %q: %v", path, get("address"), err)
		}
		name := strings.ToLower(get("server_name"))
		if src == "http_host" {
			// The Host header as sent may end in :port; netmon keeps the
			// host, which is what names the service.
			if h, _, err := net.SplitHostPort(name); err == nil {
				name = h
			}
		}
		rows = append(rows, nameRow{addr: a.Unmap(), name: strings.TrimSuffix(name, "."), source: src, frame: get("first_frame")})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, all
}

// replayNames feeds a capture through the Decoder and a Learner as netmon
// runs them and returns every "server name" pair a flow named itself
// with: the packet that brings a flow's name is the client's, so its
// destination is the server.
func replayNames(t *testing.T, path string) (map[string]bool, Stats) {
	t.Helper()
	src, err := capture.OpenFile(path, capture.DefaultFilter)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer src.Close()
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{Now: func() time.Time { return t0 }})
	l := newLearner(tab)
	dec := capture.NewDecoder(capture.DefaultDecoderConfig())

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out := make(chan *capture.Batch, 4) // a few batches decouple decoding from learning
	errc := make(chan error, 1)
	go func() {
		errc <- dec.Run(ctx, src, out)
		close(out)
	}()
	got := make(map[string]bool)
	for b := range out {
		l.Learn(b)
		for _, p := range b.Packets {
			if p.Flow != 0 && p.Name != nil && p.Name.Domain != "" {
				got[p.Dst.Unmap().String()+" "+p.Name.Domain] = true
			}
		}
		b.Release()
	}
	if err := <-errc; err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return got, l.Stats()
}

// tunnelled reports whether encap lists a tunnel. VLAN tags and PPPoE sit
// in front of the IP header that carries the answer and the Decoder opens
// them; GTP, IP-in-IP and the like are tunnels it does not.
func tunnelled(encap string) bool {
	for e := range strings.SplitSeq(encap, ",") {
		if e != "" && e != "vlan" && e != "pppoes" {
			return true
		}
	}
	return false
}
