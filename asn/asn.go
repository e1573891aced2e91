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
	mmdb   []*maxminddb.Reader
}

// Load reads the files, each a CSV of @ip-location-db/asn or an MMDB
// (told apart by the name ending in .mmdb). Every error names the file and,
// for a CSV, the line.
func Load(paths ...string) (*DB, error) {
	db := &DB{}
	index := map[Owner]uint32{}
	for _, p := range paths {
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
	slices.SortFunc(db.v4, func(a, b range4) int { return cmp.Compare(a.start, b.start) })
	slices.SortFunc(db.v6, func(a, b range6) int {
		if a.start.less(b.start) {
			return -1
		}
		if b.start.less(a.start) {
			return 1
		}
		return 0
	})
	db.v4 = slices.Clip(db.v4)
	db.v6 = slices.Clip(db.v6)
	return db, nil
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

// Ranges is how many CSV ranges the DB holds.
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
	if db == nil || !a.IsValid() {
		return Owner{}, false
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
			return db.owners[db.v4[i-1].owner], true
		}
	} else {
		v := u128Of(a)
		i, _ := slices.BinarySearchFunc(db.v6, v, func(r range6, v u128) int {
			if !v.less(r.start) {
				return -1
			}
			return 1
		})
		if i > 0 && !db.v6[i-1].end.less(v) {
			return db.owners[db.v6[i-1].owner], true
		}
	}
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
