package asn

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func writeCSV(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "asn.csv")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAndLookupBuiltRanges(t *testing.T) {
	v4 := writeCSV(t, "23.246.0.0,23.246.63.255,2906,Netflix Streaming Services Inc.\n"+
		"1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"+
		"5.9.0.0,5.9.255.255,24940,Hetzner Online GmbH\n")
	v6 := writeCSV(t, "2a03:2880::,2a03:2880:ffff:ffff:ffff:ffff:ffff:ffff,32934,\"Facebook, Inc.\"\n")
	db, err := Load(v4, v6)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Ranges() != 4 {
		t.Errorf("Ranges() = %d, want 4", db.Ranges())
	}
	for _, tt := range []struct {
		addr, service string
		found         bool
	}{
		{"23.246.11.141", "Netflix", true},
		{"23.246.0.0", "Netflix", true},
		{"23.246.63.255", "Netflix", true},
		{"23.246.64.0", "", false},
		{"1.0.0.1", "Cloudflare", true},
		{"1.0.1.0", "", false},
		{"0.255.255.255", "", false},
		{"5.9.1.2", "Hetzner Online", true},
		{"::ffff:5.9.1.2", "Hetzner Online", true},
		{"2a03:2880:f003:c07:face:b00c::2", "Facebook", true},
		{"2a03:2881::1", "", false},
		{"2001:db8::1", "", false},
	} {
		o, ok := db.Lookup(netip.MustParseAddr(tt.addr))
		if ok != tt.found || ok && Service(o) != tt.service {
			t.Errorf("Lookup(%s) = %+v %v → %q, want %q %v", tt.addr, o, ok, Service(o), tt.service, tt.found)
		}
		if s, ok := db.Service(netip.MustParseAddr(tt.addr)); ok != tt.found || s != tt.service {
			t.Errorf("Service(%s) = %q %v, want %q %v", tt.addr, s, ok, tt.service, tt.found)
		}
	}
	if _, ok := db.Lookup(netip.Addr{}); ok {
		t.Error("the zero address has an owner")
	}
	var none *DB
	if _, ok := none.Lookup(netip.MustParseAddr("1.0.0.1")); ok {
		t.Error("a nil DB found an owner")
	}
}

// Nested and overlapping ranges: an address belongs to the narrowest range
// that covers it, whatever the order of the lines and files.
func TestNestedRanges(t *testing.T) {
	a := writeCSV(t, "10.0.0.0,10.255.255.255,1,Outer\n"+
		"10.1.2.0,10.1.2.255,3,Innermost\n"+
		"10.1.0.0,10.1.255.255,2,Inner\n"+
		"11.0.0.0,11.0.0.255,4,Left\n"+
		"11.0.0.128,11.0.1.255,5,Right\n"+
		"255.255.255.0,255.255.255.255,7,Top\n"+
		"2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,10,Outer6\n"+
		"2001:db8:1::,2001:db8:1::ffff,11,Inner6\n"+
		"ffff::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,12,Top6\n"+
		"ffff:ffff::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,13,Top6inner\n")
	b := writeCSV(t, "0.0.0.0,255.255.255.255,9,Everything\n10.1.2.0,10.1.2.255,8,Same range second\n")
	db, err := Load(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		asn  uint32
	}{
		{"10.0.0.1", 1}, {"10.1.0.0", 2}, {"10.1.1.255", 2}, {"10.1.2.0", 3}, {"10.1.2.255", 3},
		{"10.1.3.0", 2}, {"10.1.255.255", 2}, {"10.2.0.0", 1}, {"10.255.255.255", 1},
		{"11.0.0.127", 4}, {"11.0.0.128", 4}, {"11.0.0.255", 4}, {"11.0.1.0", 5}, {"11.0.1.255", 5},
		{"0.0.0.0", 9}, {"9.255.255.255", 9}, {"11.0.2.0", 9}, {"255.255.254.255", 9}, {"255.255.255.255", 7},
		{"2001:db8::1", 10}, {"2001:db8:1::1", 11}, {"2001:db8:1::1:0", 10}, {"2001:db8:ffff::", 10},
		{"ffff::1", 12}, {"ffff:ffff::", 13}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 13}, {"fffe::", 0},
	} {
		o, ok := db.Lookup(netip.MustParseAddr(tt.addr))
		if ok != (tt.asn != 0) || o.ASN != tt.asn {
			t.Errorf("Lookup(%s) = AS%d %v, want AS%d", tt.addr, o.ASN, ok, tt.asn)
		}
	}
}

// TestNestedRangesRandom checks the lookup against the definition, the
// narrowest covering range (then the first to start, then the first
// loaded), over random ranges in a small space of each family.
func TestNestedRangesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, base := range []netip.Addr{netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00")} {
		for round := 0; round < 50; round++ {
			type r struct{ start, end, asn int }
			var rs []r
			var body strings.Builder
			for i := range 1 + rng.IntN(12) {
				s := rng.IntN(256)
				e := s + rng.IntN(256-s)
				if rng.IntN(4) == 0 && len(rs) > 0 { // the same range again
					s, e = rs[0].start, rs[0].end
				}
				rs = append(rs, r{s, e, i + 1})
				fmt.Fprintf(&body, "%s,%s,%d,Org %d\n", offset(base, s), offset(base, e), i+1, i+1)
			}
			db, err := Load(writeCSV(t, body.String()))
			if err != nil {
				t.Fatal(err)
			}
			for a := 0; a < 256; a++ {
				want := 0
				for _, x := range rs {
					if x.start > a || x.end < a {
						continue
					}
					if want == 0 {
						want = x.asn
						continue
					}
					w := rs[want-1]
					if x.end-x.start < w.end-w.start || x.end-x.start == w.end-w.start && x.start < w.start {
						want = x.asn
					}
				}
				o, ok := db.Lookup(offset(base, a))
				if ok != (want != 0) || int(o.ASN) != want {
					t.Fatalf("ranges %v: Lookup(%s) = AS%d %v, want AS%d", rs, offset(base, a), o.ASN, ok, want)
				}
			}
		}
	}
}

// offset is base plus n in its last byte.
func offset(base netip.Addr, n int) netip.Addr {
	b := base.AsSlice()
	b[len(b)-1] += byte(n)
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestLoadBadInput(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"1.0.0.0,1.0.0.255,13335\n", "line 1"},
		{"1.0.0.0,1.0.0.255,13335,A\nfoo,1.0.1.255,1,B\n", "line 2"},
		{"1.0.0.0,1.0.0.255,x,A\n", `ASN "x" is not a number`},
		{"1.0.1.0,1.0.0.255,1,A\n", "is not a range"},
		{"1.0.0.0,::1,1,A\n", "is not a range"},
	} {
		p := writeCSV(t, tt.body)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("Load(%q) error %v, want one naming the file and %q", tt.body, err, tt.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.csv")); err == nil {
		t.Error("a missing file loaded")
	}
	bad := filepath.Join(t.TempDir(), "x.mmdb")
	os.WriteFile(bad, []byte("not an mmdb"), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(not an mmdb) error %v", err)
	}
}

func TestReadable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Hetzner Online GmbH", "Hetzner Online"},
		{"DigitalOcean, LLC", "DigitalOcean"},
		{"DIGITALOCEAN-ASN", "Digitalocean"},
		{"GOOGLE-CLOUD-PLATFORM", "Google Cloud Platform"},
		{"OVH SAS", "OVH"},
		{"Comcast Cable Communications, LLC", "Comcast Cable Communications"},
		{"Deutsche Telekom AG", "Deutsche Telekom"},
		{"CHINA UNICOM China169 Backbone", "CHINA UNICOM China169 Backbone"},
		{"Inc.", ""},
		{"", ""},
		{"Bad\x00Name\xff Ltd", "BadName"},
	} {
		if got := Readable(tt.in); got != tt.want {
			t.Errorf("Readable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Service(Owner{ASN: 64512}); got != "AS64512" {
		t.Errorf("Service(AS64512 without a name) = %q", got)
	}
	if got := Service(Owner{ASN: 2906, Org: "whatever"}); got != "Netflix" {
		t.Errorf("Service(AS2906) = %q, want Netflix", got)
	}
}

// npmASN returns the CSV files of the npm package @ip-location-db/asn,
// fetched with npm pack once and kept in ~/.cache/netmon/ip-location-db-asn.
// Without npm or the registry the test skips, but fails under CI=true.
func npmASN(t testing.TB) []string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (needed outside CI only to run this test)", args...)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		missing("no home directory for the cache: %v", err)
	}
	dir := filepath.Join(home, ".cache", "netmon", "ip-location-db-asn")
	files := []string{filepath.Join(dir, "package", "asn-ipv4.csv"), filepath.Join(dir, "package", "asn-ipv6.csv")}
	if _, err := os.Stat(files[1]); err == nil {
		return files
	}
	if _, err := exec.LookPath("npm"); err != nil {
		missing("npm is not installed, so @ip-location-db/asn cannot be fetched")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		missing("cache directory: %v", err)
	}
	out, err := exec.Command("npm", "pack", "--pack-destination", dir, "@ip-location-db/asn").Output()
	if err != nil {
		missing("npm pack @ip-location-db/asn: %v", err)
	}
	tgz := filepath.Join(dir, strings.TrimSpace(string(out)))
	if out, err := exec.Command("tar", "-xzf", tgz, "-C", dir).CombinedOutput(); err != nil {
		missing("unpacking %s: %v %s", tgz, err, out)
	}
	return files
}

func TestNPMPackage(t *testing.T) {
	files := npmASN(t)
	db, err := Load(files...)
	if err != nil {
		t.Fatal(err)
	}
	if db.Ranges() < 100000 {
		t.Errorf("only %d ranges in @ip-location-db/asn", db.Ranges())
	}
	// The services worked out at load are Service of the owner.
	for i, o := range db.owners {
		if db.services[i] != Service(o) {
			t.Fatalf("owner %+v: service %q at load, Service says %q", o, db.services[i], Service(o))
		}
	}
	for _, tt := range []struct{ addr, want string }{
		{"23.246.11.141", "Netflix"}, // the address-only Netflix server of netflix.pcap
		{"8.8.8.8", "Google"},
		{"1.1.1.1", "Cloudflare"},
		{"157.240.1.35", "Facebook"},
		{"17.253.144.10", "Apple"},
		{"2a03:2880:f003:c07:face:b00c::2", "Facebook"},
		{"2001:4860:4860::8888", "Google"},
	} {
		o, ok := db.Lookup(netip.MustParseAddr(tt.addr))
		if !ok || Service(o) != tt.want {
			t.Errorf("%s: %+v %v → %q, want %q", tt.addr, o, ok, Service(o), tt.want)
		}
	}
}

// BenchmarkLoadNPM reports the load time and the heap the ranges keep.
func BenchmarkLoadNPM(b *testing.B) {
	files := npmASN(b)
	var db *DB
	for b.Loop() {
		var err error
		if db, err = Load(files...); err != nil {
			b.Fatal(err)
		}
	}
	db = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db, _ = Load(files...)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(db)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-kept")
}

func BenchmarkLookupNPM(b *testing.B) {
	db, err := Load(npmASN(b)...)
	if err != nil {
		b.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("23.246.11.141"), netip.MustParseAddr("5.9.1.2"), netip.MustParseAddr("2a03:2880::1")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.Lookup(addrs[i%len(addrs)])
		i++
	}
}

// BenchmarkLookupNPMSpread looks up addresses spread over the whole IPv4
// space, as the rows of a window are: each search reads cold memory,
// unlike BenchmarkLookupNPM's three addresses.
func BenchmarkLookupNPMSpread(b *testing.B) {
	db, err := Load(npmASN(b)...)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 18))
	addrs := make([]netip.Addr, 1<<16)
	for i := range addrs {
		n := uint32(1<<24) + rng.Uint32N(200<<24)
		addrs[i] = netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.Lookup(addrs[i%len(addrs)])
		i++
	}
}

// BenchmarkServiceNPM is Service over the package's owners: the name a
// row gets from its owner.
func BenchmarkServiceNPM(b *testing.B) {
	db, err := Load(npmASN(b)...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Service(db.owners[i%len(db.owners)])
		i++
	}
}
