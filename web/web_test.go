package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
	"github.com/netmon/netmon/web"
)

// hostile is a name as a hostile device could put on the wire.
const hostile = "<img src=x onerror=alert(1)>\u202Egnp.exe"

// fixture is a migrated store on b holding rows written directly.
func fixture(t *testing.T, b storetest.Backend) *store.Store {
	t.Helper()
	dsn := storetest.NewDSN(t, b)
	s, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, dsn)
	for _, r := range []struct {
		ts, agent, client, domain, nickname, source string
		count, bytes                                uint64
	}{
		{"2024-05-01 10:00:00", "home", "192.168.1.2", "r1.googlevideo.com", "YouTube", "dns", 100, 90000},
		{"2024-05-01 10:00:10", "home", "192.168.1.3", "www.netflix.com", "Netflix", "sni", 120, 1000},
		{"2024-05-01 10:00:20", "home", "192.168.1.3", hostile, hostile, "sni", 5, 500},
		{"2024-05-01 10:00:20", "home", "192.168.1.3", "dns.google", "DNS-over-HTTPS", "sni", 9, 900},
		{"2024-05-01 09:00:00", "office", "10.0.0.5", "www.netflix.com", "Netflix", "sni", 3, 300},
	} {
		if _, err := db.Exec(`INSERT INTO tcpdump_records (ts, agent, client, domain, nickname, source, count, bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ts, r.agent, r.client, []byte(r.domain), r.nickname, r.source, r.count, r.bytes); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func get(t *testing.T, srv *httptest.Server, path string, v any) *http.Response {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp
}

func TestAPI(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			st := fixture(t, b)
			now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			srv := httptest.NewServer(web.Handler(st, web.Options{Now: func() time.Time { return now }}))
			defer srv.Close()

			var rng struct {
				Oldest, Newest time.Time
				Agents         []string
				Refresh        float64 `json:"refresh_seconds"`
			}
			get(t, srv, "/api/range", &rng)
			if !rng.Oldest.Equal(time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)) || !rng.Newest.Equal(time.Date(2024, 5, 1, 10, 0, 20, 0, time.UTC)) ||
				!cmp.Equal(rng.Agents, []string{"home", "office"}) || rng.Refresh != web.DefaultRefresh.Seconds() {
				t.Errorf("range: %+v", rng)
			}
			// The page reloads a sliding range as often as the server says.
			fast := httptest.NewServer(web.Handler(st, web.Options{Refresh: 1500 * time.Millisecond}))
			defer fast.Close()
			get(t, fast, "/api/range", &rng)
			if rng.Refresh != 1.5 {
				t.Errorf("refresh_seconds = %v, want 1.5", rng.Refresh)
			}

			// The API answers what the store's Top answers, the query netmon top uses.
			for _, q := range []string{"by=service", "by=device&service=DNS-over-HTTPS", "by=service&device=192.168.1.3&agent=home",
				"by=domain&since=2024-05-01T10:00:00Z&until=1714557615", "by=source", "by=agent", "by=naming"} {
				var got web.TopDoc
				get(t, srv, "/api/top?"+q, &got)
				p, _ := url.ParseQuery(q)
				tq := store.TopQuery{By: store.TopBy(p.Get("by")), Agent: p.Get("agent"), Device: p.Get("device"), Nickname: p.Get("service"), Limit: 20}
				if s := p.Get("since"); s != "" {
					tq.Since, _ = time.Parse(time.RFC3339, s)
					tq.Until = time.Unix(1714557615, 0)
				}
				want, err := st.Top(t.Context(), tq)
				if err != nil {
					t.Fatal(err)
				}
				if got.Groups != want.Groups || got.Packets != want.Total.Packets || len(got.Rows) != len(want.Rows) {
					t.Fatalf("%s: got %+v, store says %+v", q, got, want)
				}
				for i, r := range want.Rows {
					if got.Rows[i].Name != r.Name || got.Rows[i].Packets != r.Packets || got.Rows[i].Bytes == nil || *got.Rows[i].Bytes != r.Bytes {
						t.Errorf("%s row %d: got %+v, store says %+v", q, i, got.Rows[i], r)
					}
				}
			}
			var doh web.TopDoc
			get(t, srv, "/api/top?by=device&service=DNS-over-HTTPS", &doh)
			if len(doh.Rows) != 1 || doh.Rows[0].Name != "192.168.1.3" || doh.Rows[0].Packets != 9 {
				t.Errorf("encrypted DNS devices: %+v", doh.Rows)
			}
			var dom web.TopDoc
			get(t, srv, "/api/top?by=domain&since=2024-05-01T10:00:00Z&until=1714557615", &dom)
			if len(dom.Rows) != 2 { // 10:00:00 and 10:00:10; until is 10:00:15
				t.Errorf("domains in range: %+v", dom.Rows)
			}

			var s web.SeriesDoc
			get(t, srv, "/api/series?agent=home&since=2024-05-01T10:00:00Z&until=2024-05-01T10:00:30Z&buckets=3&top=2", &s)
			want := web.SeriesDoc{Step: 10, Times: []int64{1714557600, 1714557610, 1714557620}, Lines: []web.SeriesDocLine{
				{Name: "Netflix", Packets: []uint64{0, 120, 0}, Bytes: u64s(0, 1000, 0)},
				{Name: "YouTube", Packets: []uint64{100, 0, 0}, Bytes: u64s(90000, 0, 0)},
				{Name: store.Other, Packets: []uint64{0, 0, 14}, Bytes: u64s(0, 0, 1400)},
			}}
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}

			// Bad parameters are one line and 400; nothing is run.
			for _, q := range []string{"/api/top?by=x", "/api/top?since=yesterday", "/api/top?limit=-1", "/api/series?since=1&until=1",
				"/api/series?since=0&buckets=100000"} {
				if r := get(t, srv, q, nil); r.StatusCode != 400 {
					t.Errorf("%s: status %d, want 400", q, r.StatusCode)
				}
			}
			// Read-only: nothing answers a write.
			resp, err := srv.Client().Post(srv.URL+"/api/top", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST /api/top: %d", resp.StatusCode)
			}
		})
	}
}

// A database not migrated since netmon was upgraded answers with the
// remedy in one line, not "database query failed"; so does an empty one.
func TestAPIUnmigrated(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			old, empty := storetest.NewDSN(t, b), storetest.NewDSN(t, b)
			storetest.MigrateTo(t, old, 3) // before 00004 added nickname_source
			for _, tt := range []struct{ dsn, path, want string }{
				{old, "/api/top?by=service", `column nickname_source of tcpdump_records is missing, the schema is older than this netmon: run "netmon migrate" first`},
				{old, "/api/top?by=naming", `column nickname_source of tcpdump_records is missing, the schema is older than this netmon: run "netmon migrate" first`},
				{empty, "/api/top?by=service", `table tcpdump_records is missing: run "netmon migrate" first`},
			} {
				st, err := store.Open(t.Context(), store.Config{DSN: tt.dsn})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				srv := httptest.NewServer(web.Handler(st, web.Options{}))
				defer srv.Close()
				resp, err := srv.Client().Get(srv.URL + tt.path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || string(body) != tt.want+"\n" {
					t.Errorf("%s: %d %q, want 503 and the one line %q", tt.path, resp.StatusCode, body, tt.want)
				}
			}
		})
	}
}

func TestHeadersAndPage(t *testing.T) {
	t.Parallel()
	st := fixture(t, storetest.SQLite)
	srv := httptest.NewServer(web.Handler(st, web.Options{}))
	defer srv.Close()
	for _, p := range []string{"/", "/static/app.js", "/static/vendor/uPlot.iife.min.js", "/api/range"} {
		r := get(t, srv, p, nil)
		if r.StatusCode != 200 {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
		if csp := r.Header.Get("Content-Security-Policy"); csp != web.CSP || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
	// The page loads nothing from elsewhere and has no inline script.
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		b, err := os.ReadFile(filepath.Join("static", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"http://", "https://", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "<script>", "eval("} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	st := fixture(t, storetest.SQLite)
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, bad := range []string{"", "short\n", "user:\n", "two\nlines\n", ":password1"} {
		if _, err := web.ReadAuth(write("bad", bad)); err == nil {
			t.Errorf("auth file %q accepted", bad)
		}
	}
	if _, err := web.ReadAuth(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing auth file accepted")
	}
	tok, err := web.ReadAuth(write("tok", "s3cret-token-value\n"))
	if err != nil {
		t.Fatal(err)
	}
	up, err := web.ReadAuth(write("up", "alice:correct horse\n"))
	if err != nil {
		t.Fatal(err)
	}
	try := func(a *web.Auth, set func(*http.Request)) int {
		srv := httptest.NewServer(web.Handler(st, web.Options{Auth: a}))
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+"/api/range", nil)
		set(req)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		a    *web.Auth
		set  func(*http.Request)
		want int
	}{
		{"token none", tok, func(*http.Request) {}, 401},
		{"token bearer", tok, func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token-value") }, 200},
		{"token wrong", tok, func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token-valuX") }, 401},
		{"token basic", tok, func(r *http.Request) { r.SetBasicAuth("anyone", "s3cret-token-value") }, 200},
		{"user ok", up, func(r *http.Request) { r.SetBasicAuth("alice", "correct horse") }, 200},
		{"user wrong name", up, func(r *http.Request) { r.SetBasicAuth("bob", "correct horse") }, 401},
		{"user wrong password", up, func(r *http.Request) { r.SetBasicAuth("alice", "wrong horse") }, 401},
	} {
		if got := try(tc.a, tc.set); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestExposed(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:80": false, "[::1]:80": false, "0.0.0.0:80": true, "192.0.2.1:80": true, "[::]:80": true} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := web.Exposed(a); got != want {
			t.Errorf("Exposed(%s) = %v", addr, got)
		}
	}
}

// TestVendoredAssets checks that the vendored chart library is what `make
// web-assets` copied from the npm package web/npm pins.
func TestVendoredAssets(t *testing.T) {
	sums, err := os.ReadFile("static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		b, err := os.ReadFile(filepath.Join("static/vendor", name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s does not match SHA256SUMS: run make web-assets", name)
		}
		n++
	}
	if n != 3 {
		t.Errorf("SHA256SUMS lists %d files, want the script, the styles and the license", n)
	}
	lock, err := os.ReadFile("npm/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lock), `"version": "1.6.32"`) {
		t.Error("package-lock.json does not pin uplot 1.6.32")
	}
}

// u64s is a series' bytes as the API gives them, every one known.
func u64s(v ...uint64) []*uint64 {
	out := make([]*uint64, len(v))
	for i := range v {
		out[i] = &v[i]
	}
	return out
}
