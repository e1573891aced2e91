// Package web serves netmon's dashboard: one page, its scripts and styles
// (all embedded, nothing loaded from elsewhere), and a read-only JSON API
// under /api/ built on the store's queries (the ones netmon top uses).
//
// Every name the API returns came off the wire; the page renders each as
// text (textContent), and the Content-Security-Policy forbids inline script
// and every origin but the page's own.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netmon/netmon/store"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every answer: the page's own scripts,
// styles, images and API only; no inline script, no framing, no forms.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Querier is what the API reads: *store.Store.
type Querier interface {
	Top(ctx context.Context, q store.TopQuery) (store.TopResult, error)
	Series(ctx context.Context, q store.SeriesQuery) (store.Series, error)
	Extent(ctx context.Context, agent string) (store.Extent, error)
}

// Options configure Handler.
type Options struct {
	// Auth, when set, is required of every request (see ReadAuth).
	Auth *Auth
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Refresh is how often the page reloads a range that slides with the
	// clock (last hour, day, week); 0 is DefaultRefresh.
	Refresh time.Duration
	Log     *slog.Logger
}

// DefaultRefresh is Options.Refresh when none is given.
const DefaultRefresh = 30 * time.Second

// Handler serves the page under / and the API under /api/.
func Handler(q Querier, o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	a := &api{q: q, now: o.Now, log: o.Log, refresh: o.Refresh}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.HandleFunc("GET /api/range", a.rangeHandler)
	mux.HandleFunc("GET /api/top", a.top)
	mux.HandleFunc("GET /api/series", a.series)
	var h http.Handler = mux
	h = o.Auth.wrap(h)
	return headers(h)
}

// Mount adds the page and the API to mux, beside what it serves already
// (/metrics, /healthz).
func Mount(mux *http.ServeMux, q Querier, o Options) {
	h := Handler(q, o)
	for _, p := range []string{"GET /{$}", "GET /static/", "GET /api/"} {
		mux.Handle(p, h)
	}
}

func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// Auth is a password or token the page requires.
type Auth struct {
	user, secret string // user "" accepts any user name with the secret
}

// maxAuthFile caps --auth-file, which holds one line.
const maxAuthFile = 4096

// ReadAuth reads path: one line, "user:password" for HTTP Basic with that
// user, or a token, accepted as "Authorization: Bearer TOKEN" or as the
// password of Basic with any user name (which is how a browser sends it).
func ReadAuth(path string) (*Auth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-file: %w", err)
	}
	defer f.Close()
	// One line is all the file holds: more is not read.
	b, err := io.ReadAll(io.LimitReader(f, maxAuthFile+1))
	if err != nil {
		return nil, fmt.Errorf("--auth-file: %w", err)
	}
	if len(b) > maxAuthFile {
		return nil, fmt.Errorf("--auth-file %s: more than %d bytes; want one line, user:password or a token", path, maxAuthFile)
	}
	line := strings.TrimRight(string(b), "\r\n")
	if line == "" || strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("--auth-file %s: want one line, user:password or a token", path)
	}
	a := &Auth{secret: line}
	if u, p, ok := strings.Cut(line, ":"); ok {
		if u == "" || p == "" {
			return nil, fmt.Errorf("--auth-file %s: want user:password with both parts, or a token", path)
		}
		a.user, a.secret = u, p
	}
	if len(a.secret) < 8 {
		return nil, fmt.Errorf("--auth-file %s: the password or token is shorter than 8 characters", path)
	}
	return a, nil
}

func (a *Auth) ok(r *http.Request) bool {
	eq := func(x, y string) bool { return subtle.ConstantTimeCompare([]byte(x), []byte(y)) == 1 }
	if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && a.user == "" {
		return eq(tok, a.secret)
	}
	u, p, found := r.BasicAuth()
	if !found {
		return false
	}
	return (a.user == "" || eq(u, a.user)) && eq(p, a.secret)
}

func (a *Auth) wrap(h http.Handler) http.Handler {
	if a == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.ok(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="netmon", charset="UTF-8"`)
			http.Error(w, "authorization required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Exposed reports whether addr (a listener's address) is reachable from
// beyond this machine: anything but a loopback address.
func Exposed(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return true
	}
	return !tcp.IP.IsLoopback()
}

type api struct {
	q       Querier
	now     func() time.Time
	log     *slog.Logger
	refresh time.Duration
}

// badRequest is a parameter error: 400 with one line.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func (a *api) fail(w http.ResponseWriter, err error) {
	var br badRequest
	if errors.As(err, &br) {
		http.Error(w, br.msg, http.StatusBadRequest)
		return
	}
	if errors.Is(err, store.ErrNoSchema) {
		// The error's text is the remedy: a missing table or a column a
		// later migration adds, then `run "netmon migrate" first`.
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	a.log.Error("web api", "err", err)
	http.Error(w, "database query failed", http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// timeParam reads a time as RFC 3339 or Unix seconds; "" is the zero time.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badRequest{fmt.Sprintf("%s %q: want RFC 3339 or Unix seconds", name, v)}
	}
	return t.UTC(), nil
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest{fmt.Sprintf("%s %q: want a whole number from %d to %d", name, v, lo, hi)}
	}
	return n, nil
}

// rangeDoc is /api/range: what the store holds, for the range picker.
type rangeDoc struct {
	Now    time.Time  `json:"now"`
	Oldest *time.Time `json:"oldest"`
	Newest *time.Time `json:"newest"`
	Agents []string   `json:"agents"`
	// RefreshSeconds is how often the page reloads a sliding range.
	RefreshSeconds float64 `json:"refresh_seconds"`
}

func (a *api) rangeHandler(w http.ResponseWriter, r *http.Request) {
	e, err := a.q.Extent(r.Context(), r.URL.Query().Get("agent"))
	if err != nil {
		a.fail(w, err)
		return
	}
	d := rangeDoc{Now: a.now().UTC(), Agents: e.Agents, RefreshSeconds: a.refresh.Seconds()}
	if d.Agents == nil {
		d.Agents = []string{}
	}
	if !e.Empty() {
		o, n := e.Oldest.UTC(), e.Newest.UTC()
		d.Oldest, d.Newest = &o, &n
	}
	writeJSON(w, d)
}

// TopDoc is /api/top.
type TopDoc struct {
	By      string  `json:"by"`
	Groups  int     `json:"groups"`
	Packets uint64  `json:"packets"`
	Bytes   *uint64 `json:"bytes"` // null when no packet's bytes are known
	// UnknownBytes counts the packets whose bytes are not known: rows from
	// before netmon, adopted from the seed's database.
	UnknownBytes uint64      `json:"unknown_bytes_packets,omitempty"`
	Rows         []TopDocRow `json:"rows"`
}

// TopDocRow is one group of /api/top.
type TopDocRow struct {
	Name    string  `json:"name"`
	Packets uint64  `json:"packets"`
	Bytes   *uint64 `json:"bytes"` // null when no packet's bytes are known
	// UnknownBytes counts the packets whose bytes are not known.
	UnknownBytes uint64     `json:"unknown_bytes_packets,omitempty"`
	FirstSeen    time.Time  `json:"first_seen"`
	LastSeen     time.Time  `json:"last_seen"`
	Device       *DeviceDoc `json:"device,omitempty"`
}

// DeviceDoc is what the devices table says of a device group.
type DeviceDoc struct {
	ID         string   `json:"id"`
	Clients    []string `json:"clients"`
	MAC        string   `json:"mac"`
	Hostname   string   `json:"hostname"`
	NameSource string   `json:"name_source"`
	Vendor     string   `json:"vendor"`
	Randomised bool     `json:"randomised"`
}

func (a *api) top(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query()
	q := store.TopQuery{By: store.TopBy(p.Get("by")), Agent: p.Get("agent"), Device: p.Get("device"), Nickname: p.Get("service")}
	if q.By == "" {
		q.By = store.ByService
	}
	var err error
	if q.Since, err = timeParam(r, "since"); err != nil {
		a.fail(w, err)
		return
	}
	if q.Until, err = timeParam(r, "until"); err != nil {
		a.fail(w, err)
		return
	}
	if q.Limit, err = intParam(r, "limit", 20, 1, 1000); err != nil {
		a.fail(w, err)
		return
	}
	switch q.By {
	case store.ByService, store.ByDomain, store.ByDevice, store.BySource, store.ByAgent, store.ByNaming:
	default:
		a.fail(w, badRequest{fmt.Sprintf("by %q: want service, domain, device, source, agent or naming", q.By)})
		return
	}
	res, err := a.q.Top(r.Context(), q)
	if err != nil {
		a.fail(w, err)
		return
	}
	d := TopDoc{By: string(q.By), Groups: res.Groups, Packets: res.Total.Packets, Bytes: knownBytes(res.Total),
		UnknownBytes: res.Total.UnknownBytes, Rows: []TopDocRow{}}
	for _, row := range res.Rows {
		doc := TopDocRow{Name: row.Name, Packets: row.Packets, Bytes: knownBytes(row), UnknownBytes: row.UnknownBytes,
			FirstSeen: row.FirstSeen.UTC(), LastSeen: row.LastSeen.UTC()}
		if dv := row.Device; dv != nil {
			dd := DeviceDoc(*dv)
			doc.Device = &dd
		}
		d.Rows = append(d.Rows, doc)
	}
	writeJSON(w, d)
}

// SeriesDoc is /api/series: Times in Unix seconds, one line per service.
type SeriesDoc struct {
	Step  int64           `json:"step"`
	Times []int64         `json:"times"`
	Lines []SeriesDocLine `json:"lines"`
}

// SeriesDocLine is one service's packets and bytes per step.
type SeriesDocLine struct {
	Name    string   `json:"name"`
	Packets []uint64 `json:"packets"`
	// Bytes is null for a step whose packets' bytes are all unknown (rows
	// from before netmon, adopted from the seed's database).
	Bytes []*uint64 `json:"bytes"`
	// UnknownBytes counts per step the packets whose bytes are unknown;
	// absent when there are none.
	UnknownBytes []uint64 `json:"unknown_bytes_packets,omitempty"`
}

func (a *api) series(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query()
	q := store.SeriesQuery{Agent: p.Get("agent"), Device: p.Get("device")}
	var err error
	if q.Since, err = timeParam(r, "since"); err != nil {
		a.fail(w, err)
		return
	}
	if q.Until, err = timeParam(r, "until"); err != nil {
		a.fail(w, err)
		return
	}
	if q.Until.IsZero() {
		q.Until = a.now().UTC()
	}
	if q.Since.IsZero() || !q.Since.Before(q.Until) {
		a.fail(w, badRequest{"since and until: want since set and before until"})
		return
	}
	if q.Buckets, err = intParam(r, "buckets", 120, 1, store.MaxBuckets); err != nil {
		a.fail(w, err)
		return
	}
	if q.Top, err = intParam(r, "top", 8, 1, store.MaxSeries); err != nil {
		a.fail(w, err)
		return
	}
	s, err := a.q.Series(r.Context(), q)
	if err != nil {
		a.fail(w, err)
		return
	}
	d := SeriesDoc{Step: int64(s.Step / time.Second), Times: []int64{}, Lines: []SeriesDocLine{}}
	for _, t := range s.Times {
		d.Times = append(d.Times, t.Unix())
	}
	for _, l := range s.Lines {
		dl := SeriesDocLine{Name: l.Name, Packets: l.Packets, Bytes: make([]*uint64, len(l.Bytes)), UnknownBytes: l.UnknownBytes}
		for i := range l.Bytes {
			if l.UnknownBytes != nil && l.UnknownBytes[i] > 0 && l.UnknownBytes[i] >= l.Packets[i] {
				continue // unknown, not zero
			}
			dl.Bytes[i] = &l.Bytes[i]
		}
		d.Lines = append(d.Lines, dl)
	}
	writeJSON(w, d)
}

// knownBytes is a group's bytes, or nil when none of its packets' bytes are
// known: unknown is not zero.
func knownBytes(r store.TopRow) *uint64 {
	if r.UnknownBytes >= r.Packets && r.Packets > 0 {
		return nil
	}
	b := r.Bytes
	return &b
}
