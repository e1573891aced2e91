// Package asn names the owner of an address: the autonomous system that
// announces it and the organisation behind it. It reads the CSV files of
// the npm package @ip-location-db/asn (start,end,asn,organisation; CC BY
// 4.0) and MaxMind-format MMDB ASN databases (GeoLite2-ASN, DB-IP ASN
// Lite), and keeps the CSV ranges in a compact sorted form: three uint32 a
// range for IPv4, two 128-bit bounds and an index for IPv6, and each
// organisation's name once.
package asn

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Owner is who announces an address.
type Owner struct {
	ASN uint32
	Org string
}

type u128 struct{ hi, lo uint64 }

func u128Of(a netip.Addr) u128 {
	b := a.As16()
	var v u128
	for i := 0; i < 8; i++ {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return v
}

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

type range4 struct{ start, end, owner uint32 }
type range6 struct {
	start, end u128
	owner      uint32
}

// DB is a set of ASN databases. It is immutable once loaded, so one may
// serve any number of goroutines.
type DB struct {
	v4     []range4
	v6     []range6
	owners []Owner
	// services is Service of each owner, worked out at load: per row it
	// cost more than the lookup.
	services []string
	mmdb     []*maxminddb.Reader
}

// MaxFile caps each ASN file: @ip-location-db's CSVs are about 20 MB each,
// GeoLite2-ASN 8 MB; a larger file is refused before it is read.
const MaxFile = 256 << 20

// Load reads the files, each a CSV of @ip-location-db/asn or an MMDB
// (told apart by the name ending in .mmdb). Every error names the file and,
// for a CSV, the line.
func Load(paths ...string) (*DB, error) {
	db := &DB{}
	index := map[Owner]uint32{}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Size() > MaxFile {
			db.Close()
			return nil, fmt.Errorf("%s: %d bytes, more than the %d MiB an ASN database may hold", p, st.Size(), MaxFile>>20)
		}
		if strings.HasSuffix(strings.ToLower(p), ".mmdb") {
			r, err := maxminddb.Open(p)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if t := r.Metadata.DatabaseType; !strings.Contains(strings.ToLower(t), "asn") {
				r.Close()
				db.Close()
				return nil, fmt.Errorf("%s: an MMDB of type %q, not an ASN database", p, t)
			}
			db.mmdb = append(db.mmdb, r)
			continue
		}
		if err := db.loadCSV(p, index); err != nil {
			db.Close()
			return nil, err
		}
	}
	slices.SortStableFunc(db.v4, func(a, b range4) int { return cmp.Compare(a.start, b.start) })
	slices.SortStableFunc(db.v6, func(a, b range6) int {
		if a.start.less(b.start) {
			return -1
		}
		if b.start.less(a.start) {
			return 1
		}
		return 0
	})
	db.v4 = slices.Clip(flatten4(db.v4))
	db.v6 = slices.Clip(flatten6(db.v6))
	db.services = make([]string, len(db.owners))
	for i, o := range db.owners {
		db.services[i] = Service(o)
	}
	return db, nil
}

// The lookup finds the last range that starts at or before the address,
// so it needs ranges that do not overlap. Nested or overlapping ranges (a
// /16 and a /24 of it announced by another AS; two files of different
// sources) are cut at load into disjoint pieces, each owned by the
// narrowest range that covers it: the most specific announcement, as
// routing picks it. Among equally narrow ones the one starting first wins,
// and for the same range twice the first loaded. Data without overlaps,
// such as @ip-location-db/asn, is left as it is (it holds one overlap).

// span is a range of either family as flatten works on it: IPv4 values in
// lo, and the range's position in the loaded order to settle ties.
type span struct {
	start, end u128
	owner      uint32
	order      uint32
}

func (a u128) add1() (u128, bool) {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}, hi == 0 && lo == 0
}

func (a u128) sub(b u128) u128 {
	lo := a.lo - b.lo
	borrow := uint64(0)
	if a.lo < b.lo {
		borrow = 1
	}
	return u128{a.hi - b.hi - borrow, lo}
}

// flattenRanges returns rs, sorted by start, with each cluster of
// overlapping ranges cut into disjoint pieces; rs itself when nothing
// overlaps. Only the clusters go through flatten, so real data, with a
// handful of overlaps among half a million ranges, costs little more to
// load.
func flattenRanges[R any](rs []R, toSpan func(R) span, fromSpan func(span) R) []R {
	overlap := false
	for i := 1; i < len(rs) && !overlap; i++ {
		// A range that reaches into a later one reaches into its
		// successor too, so neighbours are enough.
		overlap = !toSpan(rs[i-1]).end.less(toSpan(rs[i]).start)
	}
	if !overlap {
		return rs
	}
	out := make([]R, 0, len(rs))
	var cluster []span
	for i := 0; i < len(rs); {
		first := toSpan(rs[i])
		reach := first.end
		j := i + 1
		for ; j < len(rs); j++ {
			s := toSpan(rs[j])
			if reach.less(s.start) {
				break
			}
			if reach.less(s.end) {
				reach = s.end
			}
		}
		if j == i+1 {
			out = append(out, rs[i])
			i = j
			continue
		}
		cluster = cluster[:0]
		for k := i; k < j; k++ {
			s := toSpan(rs[k])
			s.order = uint32(k)
			cluster = append(cluster, s)
		}
		for _, s := range flatten(cluster) {
			out = append(out, fromSpan(s))
		}
		i = j
	}
	return out
}

func flatten4(rs []range4) []range4 {
	return flattenRanges(rs,
		func(r range4) span {
			return span{start: u128{0, uint64(r.start)}, end: u128{0, uint64(r.end)}, owner: r.owner}
		},
		func(s span) range4 { return range4{uint32(s.start.lo), uint32(s.end.lo), s.owner} })
}

func flatten6(rs []range6) []range6 {
	return flattenRanges(rs,
		func(r range6) span { return span{start: r.start, end: r.end, owner: r.owner} },
		func(s span) range6 { return range6{s.start, s.end, s.owner} })
}

// narrower orders spans for the heap: the narrowest first, then the first
// loaded.
func narrower(a, b span) bool {
	wa, wb := a.end.sub(a.start), b.end.sub(b.start)
	if wa != wb {
		return wa.less(wb)
	}
	return a.order < b.order
}

// flatten cuts spans sorted by start (stably, so order is the load order
// among equal starts) into disjoint spans sorted by start, each point
// owned by the narrowest span covering it. A sweep over the points where
// a span starts or ends, with the covering spans in a heap, narrowest on
// top: O(n log n).
func flatten(sp []span) []span {
	// Where ownership may change: every start and every end+1.
	cuts := make([]u128, 0, 2*len(sp))
	for _, s := range sp {
		cuts = append(cuts, s.start)
		if e, wrapped := s.end.add1(); !wrapped {
			cuts = append(cuts, e)
		}
	}
	slices.SortFunc(cuts, func(a, b u128) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
	cuts = slices.Compact(cuts)

	var heap []span // a binary min-heap by narrower
	push := func(s span) {
		heap = append(heap, s)
		for i := len(heap) - 1; i > 0; {
			p := (i - 1) / 2
			if !narrower(heap[i], heap[p]) {
				break
			}
			heap[i], heap[p] = heap[p], heap[i]
			i = p
		}
	}
	pop := func() {
		n := len(heap) - 1
		heap[0] = heap[n]
		heap = heap[:n]
		for i := 0; ; {
			l, m := 2*i+1, i
			if l < n && narrower(heap[l], heap[m]) {
				m = l
			}
			if l+1 < n && narrower(heap[l+1], heap[m]) {
				m = l + 1
			}
			if m == i {
				break
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}

	out := make([]span, 0, len(sp))
	next := 0
	for k, at := range cuts {
		for next < len(sp) && sp[next].start == at {
			push(sp[next])
			next++
		}
		// Spans that ended before this point leave once they reach the top.
		for len(heap) > 0 && heap[0].end.less(at) {
			pop()
		}
		if len(heap) == 0 {
			continue
		}
		top := heap[0]
		// The piece runs to the next cut, or to the end of the top span
		// when this is the last cut (a span ending at the last address).
		end := top.end
		if k+1 < len(cuts) {
			end = cuts[k+1].sub(u128{0, 1})
		}
		if n := len(out); n > 0 && out[n-1].owner == top.owner {
			if e, _ := out[n-1].end.add1(); e == at {
				out[n-1].end = end
				continue
			}
		}
		out = append(out, span{start: at, end: end, owner: top.owner})
	}
	return out
}

func (db *DB) loadCSV(path string, index map[Owner]uint32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.FieldsPerRecord = 4
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fmt.Errorf("%s line %d: want start,end,asn,organisation: %v", path, pe.Line, pe.Err)
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		start, err1 := netip.ParseAddr(rec[0])
		end, err2 := netip.ParseAddr(rec[1])
		n, err3 := strconv.ParseUint(rec[2], 10, 32)
		switch {
		case err1 != nil || err2 != nil:
			return fmt.Errorf("%s line %d: want start,end,asn,organisation with two addresses, got %q,%q", path, line, rec[0], rec[1])
		case err3 != nil:
			return fmt.Errorf("%s line %d: ASN %q is not a number", path, line, rec[2])
		case start.Is4() != end.Is4() || end.Less(start):
			return fmt.Errorf("%s line %d: %s-%s is not a range", path, line, rec[0], rec[1])
		}
		o := Owner{ASN: uint32(n), Org: rec[3]}
		i, ok := index[o]
		if !ok {
			o.Org = strings.Clone(o.Org)
			i = uint32(len(db.owners))
			db.owners = append(db.owners, o)
			index[o] = i
		}
		if start.Is4() {
			s, e := start.As4(), end.As4()
			db.v4 = append(db.v4, range4{be32(s), be32(e), i})
		} else {
			db.v6 = append(db.v6, range6{u128Of(start), u128Of(end), i})
		}
	}
	return nil
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Ranges is how many CSV ranges the DB holds, nested and overlapping ones
// counted as the disjoint pieces they are cut into.
func (db *DB) Ranges() int { return len(db.v4) + len(db.v6) }

// Close releases the MMDB files.
func (db *DB) Close() error {
	var errs []error
	for _, r := range db.mmdb {
		errs = append(errs, r.Close())
	}
	db.mmdb = nil
	return errors.Join(errs...)
}

type mmdbASN struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns the owner of a, the CSV ranges first, then the MMDB files
// in the order given.
func (db *DB) Lookup(a netip.Addr) (Owner, bool) {
	if i, ok := db.find(a); ok {
		return db.owners[i], true
	}
	return db.lookupMMDB(a)
}

// Service is Service(Lookup(a)) without the work per call for the CSV
// ranges, whose owners' services are worked out at load: what a row that
// has only its address is named. "" and false when no one owns a.
func (db *DB) Service(a netip.Addr) (string, bool) {
	if i, ok := db.find(a); ok {
		return db.services[i], db.services[i] != ""
	}
	if o, ok := db.lookupMMDB(a); ok {
		s := Service(o)
		return s, s != ""
	}
	return "", false
}

// find returns the index of a's owner in the CSV ranges.
func (db *DB) find(a netip.Addr) (uint32, bool) {
	if db == nil || !a.IsValid() {
		return 0, false
	}
	a = a.Unmap()
	if a.Is4() {
		v := be32(a.As4())
		i, _ := slices.BinarySearchFunc(db.v4, v, func(r range4, v uint32) int {
			if r.start <= v {
				return -1
			}
			return 1
		})
		if i > 0 && db.v4[i-1].end >= v {
			return db.v4[i-1].owner, true
		}
		return 0, false
	}
	v := u128Of(a)
	i, _ := slices.BinarySearchFunc(db.v6, v, func(r range6, v u128) int {
		if !v.less(r.start) {
			return -1
		}
		return 1
	})
	if i > 0 && !db.v6[i-1].end.less(v) {
		return db.v6[i-1].owner, true
	}
	return 0, false
}

func (db *DB) lookupMMDB(a netip.Addr) (Owner, bool) {
	if db == nil || !a.IsValid() {
		return Owner{}, false
	}
	a = a.Unmap()
	for _, r := range db.mmdb {
		var rec mmdbASN
		res := r.Lookup(a)
		if !res.Found() {
			continue
		}
		if err := res.Decode(&rec); err != nil || rec.Number == 0 {
			continue
		}
		return Owner{ASN: rec.Number, Org: rec.Org}, true
	}
	return Owner{}, false
}
