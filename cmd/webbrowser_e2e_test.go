//go:build e2e

package cmd

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
	"github.com/netmon/netmon/web"
)

// webHostile is a name a hostile device could put on the wire: the page
// must show it as text, RLO included.
const webHostile = "<img src=x onerror=alert(1)>\u202Egnp.exe"

// shownName is the page's rendering of a name: bidi and control characters
// as \u{...} (app.js, shown).
func shownName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) ||
			(r >= 0x2066 && r <= 0x2069) || r == 0xfeff {
			fmt.Fprintf(&b, `\u{%X}`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestWebBrowser replays shared captures into SQLite, serves the dashboard
// and drives Debian's headless Chromium over it: the chart and the tables
// show what the store says, a device page and the custom range work, and a
// hostile name is text. Screenshots go to $NETMON_SCREENSHOT_DIR (else the
// test's temporary directory).
func TestWebBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		capturetest.Missing(t, "chromium (Debian's package) for the web page's browser test")
	}
	pcaps := capturetest.Dir(t)
	dsn := storetest.NewDSN(t, storetest.SQLite)
	netmon(t, "replay", "--dsn", dsn, "--agent", "pi", "--state-dir", t.TempDir(),
		filepath.Join(pcaps, "443-firefox.pcap"), filepath.Join(pcaps, "android.pcap")).mustSucceed(t)
	db := storetest.Open(t, dsn)
	if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
		VALUES ('2020-02-23 10:47:50', 'pi', '192.168.2.17', ?, ?, 'sni', 3, 300)`, []byte(webHostile), webHostile); err != nil {
		t.Fatal(err)
	}
	// A device using DNS over TLS, which the page lists with the
	// DNS-over-HTTPS ones.
	if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
		VALUES ('2020-02-23 10:47:50', 'pi', '192.168.2.18', ?, 'DNS-over-TLS', 'sni', 4, 400)`, []byte("dns.google")); err != nil {
		t.Fatal(err)
	}
	// The row of the clients past a window's cap on new clients: listed,
	// but not a device to click through to.
	if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
		VALUES ('2020-02-23 10:47:50', 'pi', ?, ?, ?, 'ip', 2, 200)`, aggregate.OverflowClient, []byte(aggregate.OverflowDomain), aggregate.OverflowDomain); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	st, err := store.Open(ctx, store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A sliding range reloads every second here, every 30 s by default.
	srv := httptest.NewServer(web.Handler(st, web.Options{Refresh: time.Second}))
	defer srv.Close()

	shots := os.Getenv("NETMON_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1200, 1500),
		chromedp.Env("TZ=UTC"))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	loaded := `body[data-loaded]:not([data-loaded=""])`
	reset := func() { browse(t, bctx, chromedp.Evaluate[bool](`document.body.dataset.loaded = ""; true`)) }
	wait := func() { browse(t, bctx, chromedp.WaitVisible(loaded)) }
	column := func(table string) []string {
		return browse(t, bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#`+table+` td.name")).map(e => e.textContent)`))
	}
	names := func(q store.TopQuery) []string {
		t.Helper()
		q.Limit = 20
		res, err := st.Top(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, r := range res.Rows {
			n = append(n, shownName(r.Name))
		}
		return n
	}
	shot := func(name string) {
		png := browse(t, bctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The data is from 2020: the page opens on everything recorded.
	browse(t, bctx, chromedp.Navigate(srv.URL+"/"))
	wait()
	browse(t, bctx, chromedp.WaitVisible(`#chart .u-over`))
	preset := browse(t, bctx, chromedp.Value(`#preset`))
	services, devices, domains := column("services"), column("devices"), column("domains")
	sources, naming, agents, doh := column("sources"), column("naming"), column("agents"), column("doh")
	type chartDoc struct {
		Lines []struct {
			Name    string
			Packets []uint64
		}
		Times []int64
	}
	drawn := func() chartDoc {
		return browse(t, bctx, chromedp.Evaluate[chartDoc](`({lines: netmonChart.lines, times: netmonChart.times})`))
	}
	chart := drawn()
	imgs := browse(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
	shot("dashboard.png")
	if preset != "recorded" {
		t.Errorf("range picker opened on %q, want recorded", preset)
	}
	ext, err := st.Extent(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	all := store.TopQuery{Since: ext.Oldest, Until: ext.Newest.Add(time.Minute)}
	for _, c := range []struct {
		table string
		got   []string
		by    store.TopBy
	}{{"services", services, store.ByService}, {"devices", devices, store.ByDevice}, {"domains", domains, store.ByDomain},
		{"sources", sources, store.BySource}, {"agents", agents, store.ByAgent}} {
		q := all
		q.By = c.by
		if diff := cmp.Diff(names(q), c.got); diff != "" {
			t.Errorf("%s table (-store +page):\n%s", c.table, diff)
		}
	}
	q := all
	q.By = store.ByNaming
	wantNaming := names(q)
	for i, n := range wantNaming {
		if n == "" {
			wantNaming[i] = "unknown"
		}
	}
	if diff := cmp.Diff(wantNaming, naming); diff != "" || len(naming) == 0 {
		t.Errorf("naming table (-store +page):\n%s", diff)
	}
	// Encrypted DNS: the devices of both services, each once.
	var wantDoH []string
	for _, svc := range []string{"DNS-over-HTTPS", "DNS-over-TLS"} {
		q := all
		q.By, q.Nickname = store.ByDevice, svc
		for _, n := range names(q) {
			if !slices.Contains(wantDoH, n) {
				wantDoH = append(wantDoH, n)
			}
		}
	}
	slices.Sort(wantDoH)
	if diff := cmp.Diff(wantDoH, slices.Sorted(slices.Values(doh))); diff != "" || !slices.Contains(doh, "192.168.2.18") {
		t.Errorf("encrypted DNS table (-store +page):\n%s", diff)
	}
	if !strings.Contains(strings.Join(services, "\n"), `<img src=x onerror=alert(1)>\u{202E}gnp.exe`) {
		t.Errorf("the hostile name is not shown as text: %q", services)
	}
	overflowRow := browse(t, bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#devices tr")).filter(tr => {
		const n = tr.querySelector("td.name"); return n && n.textContent === "(overflow)" }).map(tr => tr.className)`))
	if !slices.Equal(overflowRow, []string{"overflow"}) {
		t.Errorf("devices table: the (overflow) row has classes %q, want one row of class overflow (not a link to a device page)", overflowRow)
	}
	if imgs != 0 {
		t.Errorf("the page has %d img elements: a name became HTML", imgs)
	}
	// The chart draws what the store's Series says for the same range.
	checkChart := func(what string, chart chartDoc, device string) {
		t.Helper()
		want, err := st.Series(ctx, store.SeriesQuery{Since: ext.Oldest, Until: ext.Newest.Add(time.Minute), Buckets: 120, Top: 8, Device: device})
		if err != nil {
			t.Fatal(err)
		}
		if len(chart.Lines) != len(want.Lines) || len(chart.Times) != len(want.Times) || len(want.Lines) == 0 {
			t.Fatalf("%s has %d lines over %d times, store %d over %d", what, len(chart.Lines), len(chart.Times), len(want.Lines), len(want.Times))
		}
		for i, l := range want.Lines {
			if chart.Lines[i].Name != l.Name || !cmp.Equal(chart.Lines[i].Packets, l.Packets) {
				t.Errorf("%s line %d: %s %v, store %s %v", what, i, chart.Lines[i].Name, chart.Lines[i].Packets, l.Name, l.Packets)
			}
		}
	}
	checkChart("chart", chart, "")
	want, err := st.Series(ctx, store.SeriesQuery{Since: ext.Oldest, Until: ext.Newest.Add(time.Minute), Buckets: 120, Top: 8})
	if err != nil {
		t.Fatal(err)
	}
	legend := browse(t, bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#chart .u-legend .u-series .u-label")).slice(1).map(e => e.textContent)`))
	var wantLegend []string
	for _, l := range want.Lines {
		wantLegend = append(wantLegend, shownName(l.Name))
	}
	if diff := cmp.Diff(wantLegend, legend); diff != "" {
		t.Errorf("chart legend (-store +page):\n%s", diff)
	}

	// Click through to the first device.
	devID := browse(t, bctx, chromedp.AttributeValue(`#devices tr.link`, "data-device")).Value
	reset()
	browse(t, bctx, chromedp.Click(`#devices tr.link`))
	browse(t, bctx, chromedp.WaitVisible(`#device-head`))
	wait()
	head := browse(t, bctx, chromedp.Text(`#device-name`))
	services = column("services")
	devChart := drawn()
	checkChart("the device's chart", devChart, devID)
	total := func(c chartDoc) (n uint64) {
		for _, l := range c.Lines {
			for _, p := range l.Packets {
				n += p
			}
		}
		return n
	}
	if total(devChart) >= total(chart) {
		t.Errorf("the device's chart holds %d packets, every device's %d: it does not show one device", total(devChart), total(chart))
	}
	shot("device.png")
	q = all
	q.By, q.Device = store.ByService, devID
	if diff := cmp.Diff(names(q), services); diff != "" || len(services) == 0 {
		t.Errorf("device %s services (-store +page):\n%s", devID, diff)
	}
	if len(devices) == 0 || head != devices[0] {
		t.Errorf("device page names %q, want %q", head, devices)
	}

	// A custom range holding only the first capture (2020-02-07, UTC).
	browse(t, bctx, chromedp.Navigate(srv.URL+"/#"))
	wait()
	reset()
	browse(t, bctx, chromedp.Evaluate[bool](`document.getElementById("preset").value = "custom";
		document.getElementById("from").value = "2020-02-07T00:00";
		document.getElementById("to").value = "2020-02-08T00:00";
		document.getElementById("apply").click(); true`))
	wait()
	services = column("services")
	shot("custom-range.png")
	q = store.TopQuery{By: store.ByService, Since: time.Date(2020, 2, 7, 0, 0, 0, 0, time.UTC), Until: time.Date(2020, 2, 8, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(names(q), services); diff != "" || len(services) == 0 {
		t.Errorf("custom range services (-store +page):\n%s", diff)
	}

	// Live: the last hour slides with the clock and reloads by itself, so a
	// row written now shows up without anyone touching the page.
	browse(t, bctx, chromedp.Navigate(srv.URL+"/#"))
	wait()
	reset()
	browse(t, bctx, chromedp.Evaluate[bool](`document.getElementById("preset").value = "3600";
		document.getElementById("preset").dispatchEvent(new Event("change")); true`))
	wait()
	if got := column("services"); len(got) != 0 {
		t.Errorf("the last hour shows services before any was written: %q", got)
	}
	now := time.Now().UTC().Truncate(10 * time.Second)
	if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
		VALUES (?, 'pi', '192.168.2.17', ?, 'live.example', 'sni', 5, 500)`, now, []byte("live.example")); err != nil {
		t.Fatal(err)
	}
	browse(t, bctx, chromedp.Poll[bool](`Array.from(document.querySelectorAll("#services td.name")).some(e => e.textContent === "live.example")`,
		chromedp.WithPollingTimeout(20*time.Second)))
	// The page reloads every second here, saying "loading…" meanwhile:
	// the status says live between reloads.
	sayLive, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("status").textContent.endsWith("· live")`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !sayLive {
		t.Errorf("status %q does not say live (%v)", browse(t, bctx, chromedp.Text(`#status`)), err)
	}

	// A phone: one column, nothing wider than the screen, the chart as wide
	// as its box.
	browse(t, bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	browse(t, bctx, chromedp.Navigate(srv.URL+"/?phone"))
	wait()
	browse(t, bctx, chromedp.WaitVisible(`#chart .u-over`))
	type layout struct {
		Viewport, Page, Chart, Box int
		Lefts                      []int
	}
	l := browse(t, bctx, chromedp.Evaluate[layout](`({viewport: window.innerWidth, page: document.documentElement.scrollWidth,
		chart: Math.round(document.querySelector("#chart canvas").getBoundingClientRect().width), box: document.getElementById("chart").clientWidth,
		lefts: Array.from(document.querySelectorAll("main > section:not([hidden])")).map(s => Math.round(s.getBoundingClientRect().left))})`))
	shot("phone.png")
	if l.Viewport != 390 || l.Page > l.Viewport || l.Chart > l.Box || l.Chart < l.Box-20 {
		t.Errorf("phone layout: %+v; want the page no wider than the 390 px screen and the chart filling its box", l)
	}
	if len(l.Lefts) < 5 || slices.Min(l.Lefts) != slices.Max(l.Lefts) {
		t.Errorf("phone layout: sections start at %v, want one column", l.Lefts)
	}
	t.Logf("screenshots in %s", shots)
}

// browse runs one browser action, failing the test on an error.
func browse[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
