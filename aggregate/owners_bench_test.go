package aggregate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmon/netmon/asn"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/nickname"
)

// benchASN is the ASN data for BenchmarkWindowOwners: @ip-location-db/asn
// from the tests' cache when it is there (go test ./asn -run
// TestNPMPackage fetches it), else 400,000 IPv4 ranges built here, about
// as many as the package holds, so that a lookup searches as deep.
func benchASN(b *testing.B) (*asn.DB, string) {
	if home, err := os.UserHomeDir(); err == nil {
		dir := filepath.Join(home, ".cache", "netmon", "ip-location-db-asn", "package")
		files := []string{filepath.Join(dir, "asn-ipv4.csv"), filepath.Join(dir, "asn-ipv6.csv")}
		if _, err := os.Stat(files[1]); err == nil {
			db, err := asn.Load(files...)
			if err != nil {
				b.Fatal(err)
			}
			return db, "@ip-location-db/asn"
		}
	}
	var csv strings.Builder
	for i := range 400_000 {
		start := uint32(1<<24) + uint32(i)*8192
		fmt.Fprintf(&csv, "%s,%s,%d,Org %d\n", v4(start), v4(start+4095), 64512+i%1000, i%1000)
	}
	p := filepath.Join(b.TempDir(), "asn-ipv4.csv")
	if err := os.WriteFile(p, []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	db, err := asn.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	return db, "400,000 built ranges"
}

func v4(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// BenchmarkWindowOwners is the cost per window of naming address-only
// rows by their owner (--asn-db): a window of N rows to N addresses no
// name is known for, counted and closed, with and without ASN data. The
// difference between the two is the owner lookups, one per address per
// window; ns/row is the window's cost divided by its rows.
func BenchmarkWindowOwners(b *testing.B) {
	db, what := benchASN(b)
	b.Logf("ASN data: %s, %d ranges", what, db.Ranges())
	rng := rand.New(rand.NewPCG(18, 18))
	for _, n := range []int{100, 1_000, 10_000} {
		bt := capture.NewBatch()
		for i := range n {
			// Public unicast addresses, spread over the space.
			r := v4(uint32(1<<24) + rng.Uint32N(200<<24))
			c := netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i%8)})
			bt.Packets = append(bt.Packets, out(c, r, 100+float64(i)/float64(n), 100))
		}
		for _, owners := range []bool{false, true} {
			b.Run(fmt.Sprintf("rows=%d/asn=%v", n, owners), func(b *testing.B) {
				var deps nickname.Deps
				if owners {
					deps.Owners = db
				}
				nn := nickname.New(nickname.DefaultConfig(), deps)
				w := New(DefaultConfig(), Deps{Names: newFakeNames(), Named: nn.Named})
				rows, byASN := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					w.Add(bt)
					for _, win := range w.open {
						res := w.close(win)
						rows += len(res.Rows)
						for _, r := range res.Rows {
							if r.NickSource == nickname.FromASN {
								byASN++
							}
						}
					}
					w.open = w.open[:0]
				}
				if rows != n*b.N {
					b.Fatalf("%d rows in %d windows, want %d each", rows, b.N, n)
				}
				if owners != (byASN > 0) {
					b.Fatalf("%d of %d rows named by their owner", byASN, rows)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
				b.ReportMetric(float64(byASN)/float64(rows)*100, "%asn")
			})
		}
	}
}
