package cmd

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netmon/netmon/cmd/internal/config"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/store/storetest"
)

// writeConfig writes a config file into the test's directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netmon.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// shown is one line of netmon config show: where a setting came from and
// its value.
type shown struct{ from, value string }

func configShow(t *testing.T, args ...string) map[string]shown {
	t.Helper()
	r := netmon(t, append([]string{"config", "show"}, args...)...)
	r.mustSucceed(t)
	out := map[string]shown{}
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		v, err := strconv.Unquote(f[len(f)-1])
		if err != nil {
			continue // the header, or a value with spaces: not one the tests read
		}
		out[f[0]] = shown{f[1], v}
	}
	return out
}

// Each setting comes from the flag, else its variable, else the file, else
// the default: one flag of each kind (duration, string, bool, list), through
// all four layers.
func TestConfigPrecedence(t *testing.T) {
	t.Setenv("NETMON_CONFIG", "")
	file := writeConfig(t, `window: 20s
oui-file: /from-file
no-ptr: true
local-net:
  - 203.0.113.0/24
  - 2001:db8::/32
`)
	kinds := []struct {
		name, env                  string
		def, inFile, inEnv, inFlag string
	}{
		{"window", "NETMON_WINDOW", "10s", "20s", "30s", "40s"},
		{"oui-file", "NETMON_OUI_FILE", "/usr/share/ieee-data/oui.csv", "/from-file", "/from-env", "/from-flag"},
		{"no-ptr", "NETMON_NO_PTR", "false", "true", "false", "true"},
		{"local-net", "NETMON_LOCAL_NET", "", "203.0.113.0/24,2001:db8::/32", "198.51.100.0/24", "192.0.2.0/24"},
	}
	layers := []struct {
		name           string
		file, env, flg bool
		want           func(def, inFile, inEnv, inFlag string) (string, string)
	}{
		{"defaults", false, false, false, func(d, _, _, _ string) (string, string) { return "default", d }},
		{"file", true, false, false, func(_, f, _, _ string) (string, string) { return "file", f }},
		{"env over file", true, true, false, func(_, _, e, _ string) (string, string) { return "env", e }},
		{"flag over env", true, true, true, func(_, _, _, fl string) (string, string) { return "flag", fl }},
	}
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			args := []string{"replay", "--config", ""}
			if l.file {
				args[2] = file
			}
			for _, k := range kinds {
				if l.env {
					t.Setenv(k.env, k.inEnv)
				} else {
					t.Setenv(k.env, "")
				}
				if l.flg {
					args = append(args, "--"+k.name+"="+k.inFlag)
				}
			}
			got := configShow(t, args...)
			for _, k := range kinds {
				from, value := l.want(k.def, k.inFile, k.inEnv, k.inFlag)
				if g := got[k.name]; g.from != from || g.value != value {
					t.Errorf("%s: from %s %q, want from %s %q", k.name, g.from, g.value, from, value)
				}
			}
		})
	}
}

// config check prints every error of the file with its line, not just the
// first, and exits 1.
func TestConfigCheckErrors(t *testing.T) {
	path := writeConfig(t, `widnow: 10s
window: ten
local-net: [192.168.1.0/24, 10.0.0.0/33]
nicknames:
  - {cidr: 104.244.40.0/33, nickname: Twitter}
  - {keyword: plex, suffix: plex.tv, nickname: Plex}
  - suffix: example.com
    nickname: Example
devices:
  - {mac: "AA:BB:CC:DD:EE", name: TV}
  - {mac: "aa-bb-cc-dd-ee-ff", name: Laptop}
no-ptr: maybe
encrypted-dns: [doh.example.net, "192.0.2.0/40"]
`)
	r := netmon(t, "config", "check", path)
	want := []string{
		path + `:1: unknown key "widnow" (did you mean "window"?)`,
		path + `:2: window: "ten" is not a duration (want e.g. 30s, 5m or 1h30m)`,
		path + `:3: local-net: local net "10.0.0.0/33": not a prefix`,
		path + `:5: nicknames: cidr: "104.244.40.0/33" is not a CIDR`,
		path + `:6: nicknames: a rule takes exactly one of keyword, suffix and cidr, got keyword and suffix`,
		path + `:10: devices: mac: "AA:BB:CC:DD:EE" is not a MAC address`,
		path + `:12: no-ptr: "maybe" is not a valid bool`,
		path + `:13: encrypted-dns: "192.0.2.0/40" is not a CIDR`,
		"netmon: " + path + ": 8 error(s)",
	}
	checkErrorLines(t, r, want)
	if r.stdout != "" {
		t.Errorf("a failed check printed on standard output: %q", r.stdout)
	}

	// A command reads the file the same way: it stops before it starts,
	// with every error of the keys it uses on its one line.
	r = netmon(t, "replay", "--config", path, "--db", filepath.Join(t.TempDir(), "x.db"), "none.pcap")
	if last := r.lastLine(); r.code != 1 || !strings.Contains(last, path+`:1: unknown key "widnow"`) ||
		!strings.Contains(last, path+":2: window:") || !strings.Contains(last, path+":12: no-ptr:") {
		t.Errorf("replay with the bad file: exit %d, %q", r.code, last)
	}
}

// checkErrorLines asserts that a command failed with exactly the lines of
// standard error want, each a prefix of the line.
func checkErrorLines(t *testing.T, r result, want []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 1 || len(lines) != len(want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %d lines", r.code, r.stderr, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], want[i])
		}
	}
}

// config check checks the keys of every command, not only run's: each bad
// value below was taken by config check once (issue 16) and refused later,
// without its line, by the command that reads it.
func TestConfigCheckEveryCommandsKeys(t *testing.T) {
	path := writeConfig(t, `by: vendor
limit: -5
since: forever
listen: "127.0.0.1:99999"
older-than: soon
batch: 0
log-level: loud
log-format: xml
spool-max: 12 furlongs
settle: 10ms
filter: port nonsense
`)
	r := netmon(t, "config", "check", path)
	want := []string{
		path + `:1: by: "vendor": want service, domain or device`,
		path + `:2: limit: must be at least 0, got -5`,
		path + `:3: since: "forever": want an age such as 30m, 12h, 7d or 1d12h, or "all"`,
		path + `:4: listen: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`,
		path + `:5: older-than: "soon" is not an age`,
		path + `:6: batch: must be at least 1, got 0`,
		path + `:7: log-level: "loud": want debug, info, warn or error`,
		path + `:8: log-format: "xml": want text or json`,
		path + `:9: spool-max: "12 furlongs" has an unknown unit`,
		path + `:10: settle: must be at least 100ms, got 10ms`,
		path + `:11: filter: `,
		"netmon: " + path + ": 11 error(s)",
	}
	checkErrorLines(t, r, want)
	// The command that reads a key refuses it the same way, with its line.
	r = netmon(t, "top", "--config", path)
	if last := r.lastLine(); r.code != 1 || !strings.Contains(last, path+`:1: by: "vendor"`) || !strings.Contains(last, path+":2: limit:") {
		t.Errorf("top with the bad file: exit %d, %q", r.code, last)
	}
}

func TestConfigCheckSyntax(t *testing.T) {
	path := writeConfig(t, "window: 10s\n  agent: [pi\n")
	r := netmon(t, "config", "check", path)
	if r.code != 1 || !strings.Contains(r.stderr, path+":2: YAML: ") {
		t.Errorf("exit %d, stderr:\n%s\nwant %s:2: YAML: ...", r.code, r.stderr, path)
	}
	path = writeConfig(t, "- window: 10s\n")
	if r := netmon(t, "config", "check", path); r.code != 1 || !strings.Contains(r.stderr, path+`:1: want "key: value" lines`) {
		t.Errorf("a list at the top: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// Only comments: no settings, no error.
	path = writeConfig(t, "# nothing yet\n")
	if r := netmon(t, "config", "check", path); r.code != 0 || r.stdout != path+": ok\n" {
		t.Errorf("a file of comments: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// A file the user names must exist; an empty --config reads none.
func TestConfigMissingFile(t *testing.T) {
	t.Setenv("NETMON_CONFIG", "")
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	db := filepath.Join(t.TempDir(), "x.db")
	want := "config file " + missing + ": no such file or directory"
	for _, args := range [][]string{
		{"--config", missing, "migrate", "--db", db},
		{"config", "check", missing},
		{"config", "show", "run", "--config", missing},
	} {
		if r := netmon(t, args...); r.code != 1 || !strings.Contains(r.lastLine(), want) {
			t.Errorf("%v: exit %d, %q, want %q", args, r.code, r.lastLine(), want)
		}
	}
	t.Setenv("NETMON_CONFIG", missing)
	if r := netmon(t, "migrate", "--db", db); r.code != 1 || !strings.Contains(r.lastLine(), want) {
		t.Errorf("NETMON_CONFIG=%s: exit %d, %q", missing, r.code, r.lastLine())
	}
	netmon(t, "--config", "", "migrate", "--db", db).mustSucceed(t)
	// The default file is read only when it is there.
	if f, err := config.Read(missing, false, config.KeySet{}); f != nil || err != nil {
		t.Errorf("a default file that is not there: %v, %v; want no file, no error", f, err)
	}
}

// A command takes the keys it has flags for and leaves the others, and the
// sections, to the commands they belong to; an environment variable that a
// flag would refuse stops it.
func TestConfigOtherCommandsKeys(t *testing.T) {
	t.Setenv("NETMON_CONFIG", "")
	path := writeConfig(t, `window: 500ms
since: 2h
nicknames:
  - {cidr: 10.0.0.0/40, nickname: Bad}
`)
	db := filepath.Join(t.TempDir(), "x.db")
	netmon(t, "--config", path, "migrate", "--db", db).mustSucceed(t)
	r := netmon(t, "--config", path, "replay", "--db", db, "none.pcap")
	if last := r.lastLine(); r.code != 1 || !strings.Contains(last, path+":1: window: must be at least 1s") {
		t.Errorf("replay: exit %d, %q", r.code, last)
	}
	if got := configShow(t, "top", "--config", path)["since"]; got != (shown{"file", "2h"}) {
		t.Errorf("top's since: %+v, want 2h from the file", got)
	}
	t.Setenv("NETMON_WINDOW", "ten")
	if r := netmon(t, "--config", "", "replay", "--db", db, "none.pcap"); r.code != 1 ||
		!strings.Contains(r.lastLine(), `NETMON_WINDOW: "ten" is not a duration`) {
		t.Errorf("NETMON_WINDOW=ten: exit %d, %q", r.code, r.lastLine())
	}
}

// The example that ships passes the check and shows every key a file may hold.
func TestConfigExample(t *testing.T) {
	const example = "../deploy/netmon.yaml"
	r := netmon(t, "config", "check", example)
	r.mustSucceed(t)
	if r.stdout != example+": ok\n" {
		t.Errorf("config check: %q, want %q", r.stdout, example+": ok\n")
	}
	text, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	for key := range config.Keys(newRoot(io.Discard, io.Discard)) {
		if !regexp.MustCompile(`(?m)^#?` + regexp.QuoteMeta(key) + `:`).Match(text) {
			t.Errorf("%s does not show the key %q", example, key)
		}
	}

	// Its sections, as run and replay get them: the encrypted-DNS
	// resolvers first, the nicknames in file order, MACs normalised.
	f := config.Parse(example, text, config.Keys(newRoot(io.Discard, io.Discard)))
	rules, names, err := f.Sections()
	if err != nil {
		t.Fatal(err)
	}
	n := nickname.New(nickname.Config{Rules: rules}, nickname.Deps{})
	for _, tt := range []struct{ domain, remote, want string }{
		{"104.244.42.65", "104.244.42.65", "Twitter"},
		{"pbs.twimg.com", "104.244.43.1", "Twitter"},
		{"203.0.113.9", "203.0.113.9", "203.0.113.9"},
		{"plex.tv", "203.0.113.9", "Plex"},
		{"doh.example.net", "203.0.113.9", nickname.DoH},
		{"2001:db8:53::1", "2001:db8:53::1", nickname.DoH},
		{"vpn.example.org", "2001:db8:42::1", "Office VPN"},
	} {
		if got := n.Nickname(tt.domain, netip.MustParseAddr(tt.remote)); got != tt.want {
			t.Errorf("example's Nickname(%s, %s) = %q, want %q", tt.domain, tt.remote, got, tt.want)
		}
	}
	wantNames := map[string]string{"aa:bb:cc:dd:ee:ff": "Living-room TV", "02:00:5e:10:00:01": "Kitchen tablet"}
	if d := cmp.Diff(names, wantNames); d != "" {
		t.Errorf("example's devices (-got +want):\n%s", d)
	}
}

// The config file's settings reach the pipeline: a replay of netflix.pcap
// whose database, window and nickname rules all come from the file, and
// whose agent comes from the environment over the file, on both backends.
// Netflix's Open Connect servers, reached by address, get the cidr rule's
// nickname instead of their address.
func TestConfigReplay(t *testing.T) {
	file := filepath.Join(pcapDir(t), "netflix.pcap")
	wantP, wantB := independentCount(t, file)
	t.Setenv("NETMON_DSN", "")
	t.Setenv("NETMON_CONFIG", "")
	t.Setenv("NETMON_AGENT", "cfg-env")
	oc := []netip.Prefix{netip.MustParsePrefix("23.246.0.0/18"), netip.MustParsePrefix("45.57.0.0/17")}
	for _, b := range storetest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			dsn := storetest.NewDSN(t, b)
			path := writeConfig(t, fmt.Sprintf(`dsn: %q
agent: cfg-file
window: 20s
no-ptr: true
nicknames:
  - {suffix: nflximg.net, nickname: Netflix Images}
  - {cidr: 23.246.0.0/18, nickname: Netflix OC}
  - {cidr: 45.57.0.0/17, nickname: Netflix OC}
`, dsn))
			// $NETMON_DB (set for every test) is only the default file:
			// the DSN in the config file wins over it.
			netmon(t, "--config", path, "migrate").mustSucceed(t)
			netmon(t, "--config", path, "replay", file).mustSucceed(t)
			db := storetest.Open(t, dsn)
			if rows := rowsOf(t, db, "cfg-file"); len(rows) != 0 {
				t.Errorf("%d rows under the file's agent; NETMON_AGENT should have won", len(rows))
			}
			rows := rowsOf(t, db, "cfg-env")
			if len(rows) == 0 {
				t.Fatal("no rows under NETMON_AGENT's agent")
			}
			literal := 0
			for _, r := range rows {
				if r.TS.Unix()%20 != 0 {
					t.Errorf("row at %s: not a 20 s window of the file's window: 20s", r.TS)
				}
				a, err := netip.ParseAddr(r.Domain)
				switch {
				case err == nil && (oc[0].Contains(a) || oc[1].Contains(a)):
					literal++
					if r.Nickname != "Netflix OC" {
						t.Errorf("%s: nickname %q, want the cidr rule's Netflix OC", r.Domain, r.Nickname)
					}
				case err == nil:
					if r.Nickname != r.Domain {
						t.Errorf("%s: nickname %q; no rule matches it, so want the address", r.Domain, r.Nickname)
					}
				case strings.HasSuffix(r.Domain, ".nflximg.net"):
					if r.Nickname != "Netflix Images" {
						t.Errorf("%s: nickname %q, want the suffix rule's (the first that matches)", r.Domain, r.Nickname)
					}
				case r.Nickname != "Netflix" && r.Nickname != "Netflix OC":
					t.Errorf("%s: nickname %q, want Netflix (built in) or Netflix OC (by its address)", r.Domain, r.Nickname)
				}
			}
			if literal == 0 {
				t.Error("no row under an Open Connect address: the test checks nothing")
			}
			// The file changed names and windows, not what was counted.
			var gotP, gotB uint64
			for _, r := range rows {
				gotP, gotB = gotP+r.Count, gotB+r.Bytes
			}
			if gotP != wantP || gotB != wantB {
				t.Errorf("%d packets, %d bytes; want the %d, %d counted independently", gotP, gotB, wantP, wantB)
			}
		})
	}
}

// Shapes a hand-written file gets wrong end in an error on their line, never
// a panic or a silent default.
func TestParseConfigShapes(t *testing.T) {
	known := config.Keys(newRoot(io.Discard, io.Discard))
	tests := []struct{ text, want string }{
		{"window:\n", `f.yaml:1: window: no value (write "" for an empty one)`},
		{"window: [1s, 2s]\n", "f.yaml:1: window: want one value, got a list"},
		{"local-net: {a: b}\n", "f.yaml:1: local-net: want one value, got a mapping"},
		{"local-net: [[10.0.0.0/8]]\n", "f.yaml:1: local-net: want one value, got a list"},
		{"nicknames: null\n", "f.yaml:1: nicknames: want a list of rules"},
		{"nicknames:\n  - plex\n", `f.yaml:2: nicknames: want a rule such as`},
		{"nicknames:\n  - {regex: x, nickname: X}\n", `f.yaml:2: nicknames: unknown key "regex" in a rule`},
		{"nicknames:\n  - {cidr: [10.0.0.0/8], nickname: X}\n", "f.yaml:2: nicknames: cidr: want one value, got a list"},
		{"nicknames:\n  - {keyword: plex,\n     nickname: \"\"}\n", "f.yaml:3: nicknames: nickname: empty nickname"},
		{"encrypted-dns: dns.example\n", "f.yaml:1: encrypted-dns: want a list"},
		{"devices:\n  - {mac: aa:bb:cc:dd:ee:ff}\n", "f.yaml:2: devices: an entry needs both mac and name"},
		{"devices:\n  - {mac: aa:bb:cc:dd:ee:ff, name: A}\n  - {mac: AA-BB-CC-DD-EE-FF, name: B}\n", "f.yaml:3: devices: aa:bb:cc:dd:ee:ff given twice (first on line 2)"},
		{"devices:\n  - {mac: 00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01, name: IB}\n", "f.yaml:2: devices: mac:"},
		{"config: other.yaml\n", `f.yaml:1: unknown key "config"`},
		{"a: &x 10s\nwindow: *x\n", `f.yaml:1: unknown key "a"`},
		{"\twindow: 10s\n", "f.yaml:1: YAML: found character that cannot start any token"},
	}
	for _, tt := range tests {
		f := config.Parse("f.yaml", []byte(tt.text), known)
		var got []string
		for _, e := range f.Errors() {
			got = append(got, f.At(e))
		}
		// The values of flags are checked when applied to a command's flags.
		replay, _, err := newRoot(io.Discard, io.Discard).Find([]string{"replay"})
		if err != nil {
			t.Fatal(err)
		}
		noEnv := func(string) (string, bool) { return "", false }
		if err := config.Apply(replay.Flags(), f, noEnv); err != nil {
			got = append(got, strings.Split(err.Error(), "; ")...)
		}
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, tt.want)
		}
		if !found {
			t.Errorf("%q: errors %q, want one starting %q", tt.text, got, tt.want)
		}
	}
}

// TestConfigShowComputed: settings whose default netmon works out at start
// (agent, db, state-dir) show that value, not "".
func TestConfigShowComputed(t *testing.T) {
	t.Setenv("NETMON_CONFIG", "")
	host, _ := os.Hostname()
	got := configShow(t, "run")
	for name, want := range map[string]shown{
		"agent": {"computed", host},
		"db":    {"computed", os.Getenv("NETMON_DB")},
		// TestMain sets NETMON_STATE_DIR, whose variable is the flag's.
		"state-dir": {"env", os.Getenv("NETMON_STATE_DIR")},
	} {
		if got[name] != want {
			t.Errorf("config show: %s = %+v, want %+v", name, got[name], want)
		}
	}
	if got := configShow(t, "run", "--agent", "pi")["agent"]; got != (shown{"flag", "pi"}) {
		t.Errorf("config show --agent pi: agent = %+v, want from flag", got)
	}
}
