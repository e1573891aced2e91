package devices

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Vendors maps MAC address prefixes to the organisations the IEEE assigned
// them to, read from Debian's ieee-data files. The registry is not copied
// into the binary: it changes every week, and the package keeps it fresh.
//
// The ~46,000 assignments are held as sorted prefix arrays and one string
// of all distinct names, so the full registry costs about 1 MB instead of
// the several a map of strings would; a lookup is a binary search, made
// once per new device.
type Vendors struct {
	// tables, most specific first: MA-S and IAB (36 bits), MA-M (28
	// bits), MA-L (24 bits). A MA-L block the IEEE split into smaller
	// ones is registered to "IEEE Registration Authority", so the more
	// specific tables must be asked first.
	tables [3]prefixTable
	names  string   // every distinct organisation name, concatenated
	offs   []uint32 // name i is names[offs[i]:offs[i+1]]
}

// prefixTable is the assignments of one prefix length, sorted by prefix.
type prefixTable struct {
	bits   uint
	prefix []uint64
	name   []uint32 // index into Vendors.offs
}

// registryFiles are the files read beside the MA-L file, with the prefix
// length of their assignments. A missing one is skipped.
var registryFiles = [...]struct {
	file  string
	table int
	bits  uint
}{
	{"oui36.csv", 0, 36}, {"iab.csv", 0, 36}, {"mam.csv", 1, 28},
}

// MaxRegistryFile caps each registry file: Debian's oui.csv is 3.5 MB, and
// the four together about 5 MB; a larger file is refused, not read.
const MaxRegistryFile = 32 << 20

// ErrNoRegistry is returned by LoadVendors when the MA-L file does not
// exist: vendors are then unknown, which is no reason to stop.
var ErrNoRegistry = errors.New("no IEEE OUI registry (apt-get install ieee-data)")

// LoadVendors reads the MA-L registry at path (oui.csv) and, from the same
// folder, the MA-M (mam.csv), MA-S (oui36.csv) and IAB (iab.csv)
// registries when they are there. A missing oui.csv is ErrNoRegistry.
func LoadVendors(path string) (*Vendors, error) {
	v := &Vendors{offs: []uint32{0}}
	intern := map[string]uint32{}
	var names strings.Builder
	add := func(table int, bits uint, prefix uint64, org string) {
		i, ok := intern[org]
		if !ok {
			i = uint32(len(v.offs) - 1)
			intern[org] = i
			names.WriteString(org)
			v.offs = append(v.offs, uint32(names.Len()))
		}
		t := &v.tables[table]
		t.bits = bits
		t.prefix = append(t.prefix, prefix)
		t.name = append(t.name, i)
	}
	if err := readRegistry(path, 2, 24, add); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is missing", ErrNoRegistry, path)
		}
		return nil, err
	}
	dir := filepath.Dir(path)
	for _, f := range registryFiles {
		err := readRegistry(filepath.Join(dir, f.file), f.table, f.bits, add)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	v.names = names.String()
	for i := range v.tables {
		t := &v.tables[i]
		sortTable(t)
		t.prefix, t.name = slices.Clip(t.prefix), slices.Clip(t.name)
	}
	v.offs = slices.Clip(v.offs)
	return v, nil
}

// readRegistry reads one IEEE CSV file (Registry, Assignment, Organization
// Name, Organization Address) and calls add for every assignment of the
// expected length.
func readRegistry(path string, table int, bits uint, add func(int, uint, uint64, string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxRegistryFile {
		return fmt.Errorf("read %s: %d bytes, more than the %d MiB a vendor registry may hold", path, st.Size(), MaxRegistryFile>>20)
	}
	// A pipe or a file that grows is cut at the cap: what is past it is
	// no registry IEEE publishes.
	r := csv.NewReader(io.LimitReader(f, MaxRegistryFile))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	digits := int(bits / 4)
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if line == 1 || len(rec) < 3 || len(rec[1]) != digits {
			continue // the header, or a row that is no assignment
		}
		prefix, err := strconv.ParseUint(rec[1], 16, 64)
		if err != nil {
			continue
		}
		org := strings.TrimSpace(rec[2])
		if org == "" {
			continue
		}
		add(table, bits, prefix, org)
	}
}

func sortTable(t *prefixTable) {
	idx := make([]int, len(t.prefix))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case t.prefix[a] < t.prefix[b]:
			return -1
		case t.prefix[a] > t.prefix[b]:
			return 1
		}
		return 0
	})
	prefix := make([]uint64, len(idx))
	name := make([]uint32, len(idx))
	for i, j := range idx {
		prefix[i], name[i] = t.prefix[j], t.name[j]
	}
	t.prefix, t.name = prefix, name
}

// Lookup returns the organisation the MAC's prefix was assigned to, or ""
// when none is known. A nil *Vendors knows none.
func (v *Vendors) Lookup(mac [6]byte) string {
	if v == nil {
		return ""
	}
	m := uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 | uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
	for i := range v.tables {
		t := &v.tables[i]
		if len(t.prefix) == 0 {
			continue
		}
		key := m >> (48 - t.bits)
		if j, ok := slices.BinarySearch(t.prefix, key); ok {
			n := t.name[j]
			return v.names[v.offs[n]:v.offs[n+1]]
		}
	}
	return ""
}

// Len is the number of assignments held.
func (v *Vendors) Len() int {
	if v == nil {
		return 0
	}
	n := 0
	for i := range v.tables {
		n += len(v.tables[i].prefix)
	}
	return n
}

// Bytes is the memory the registry holds, for the record of its cost.
func (v *Vendors) Bytes() int {
	if v == nil {
		return 0
	}
	n := len(v.names) + 4*len(v.offs)
	for i := range v.tables {
		n += 12 * len(v.tables[i].prefix)
	}
	return n
}
