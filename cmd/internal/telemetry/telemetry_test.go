package telemetry

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/netmon/netmon/resolver/ptr"
)

// TestHealthz checks /healthz's two rules on a monitor with a false clock:
// capture stalled, and database writes failing for longer than
// --unhealthy-after.
func TestHealthz(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m, err := New(Config{UnhealthyAfter: time.Minute, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	m.now = func() time.Time { return now }
	m.watch.answered.Store(now.UnixNano())
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	step := func(d time.Duration) {
		now = now.Add(d)
		m.watch.answered.Store(now.UnixNano()) // the read loop keeps answering
	}
	expect := func(what string, code int, prefix string) {
		t.Helper()
		got, body := get()
		if got != code || !strings.HasPrefix(body, prefix) || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: %d %q, want %d %q…", what, got, body, code, prefix)
		}
	}
	expect("at start", 200, "ok\n")

	m.ObserveWrite(time.Millisecond, errors.New("connection refused"))
	step(59 * time.Second)
	m.ObserveWrite(time.Millisecond, errors.New("connection refused"))
	expect("failing for 59 s of a minute", 200, "ok\n")
	step(2 * time.Second)
	expect("failing for 61 s", 503, "database writes failing for 61s")
	m.ObserveWrite(5*time.Millisecond, nil)
	expect("after a success", 200, "ok\n")
	if got := m.lastWrite.Load(); got != now.UnixNano() {
		t.Errorf("last write %d, want %d", got, now.UnixNano())
	}
	m.ObserveWrite(time.Millisecond, errors.New("again"))
	step(30 * time.Second)
	expect("a new failure, 30 s old", 200, "ok\n")
	m.ObserveWrite(time.Millisecond, nil)

	now = now.Add(StallAfter - time.Millisecond)
	expect("read loop quiet just under the limit", 200, "ok\n")
	now = now.Add(2 * time.Millisecond)
	expect("read loop quiet past the limit", 503, "capture stalled")
	step(0)
	expect("read loop back", 200, "ok\n")
	m.watch.ended.Store(true)
	expect("capture closed", 503, "capture ended")

	if _, err := New(Config{UnhealthyAfter: 0}); err == nil {
		t.Error("--unhealthy-after 0 accepted")
	}
}

// The ptr table is a line of the exit log only when PTR ran, under the
// names its metrics have.
func TestLogTablePTR(t *testing.T) {
	var ptrTable *Table
	for _, tb := range AllTables() {
		if tb.Name == "ptr" {
			ptrTable = tb
		}
	}
	if ptrTable == nil {
		t.Fatal("no ptr table")
	}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	LogTable(log, ptrTable, &Snapshot{})
	if buf.Len() != 0 {
		t.Errorf("a line without PTR: %s", buf.String())
	}
	LogTable(log, ptrTable, &Snapshot{PTR: &ptr.Stats{Lookups: 4, OK: 3, NotFound: 1}})
	for _, want := range []string{" msg=ptr ", " lookups_finished=4 ", " ok=3 ", " not_found=1 "} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("ptr line %q lacks %q", buf.String(), want)
		}
	}
	for _, c := range ptrTable.Counters {
		if got, want := ptrTable.MetricName(&c), "netmon_ptr_"+c.Name+"_total"; got != want {
			t.Errorf("%s: metric %s, want %s", c.Name, got, want)
		}
	}
}
