package asn

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mmdbString encodes s as a MaxMind DB UTF-8 string.
func mmdbString(s string) []byte {
	switch n := len(s); {
	case n < 29:
		return append([]byte{2<<5 | byte(n)}, s...)
	default: // up to 284 bytes
		return append([]byte{2<<5 | 29, byte(n - 29)}, s...)
	}
}

// mmdbUint encodes v as a MaxMind DB unsigned integer of type typ (5:
// uint16, 6: uint32), big-endian without leading zeros.
func mmdbUint(typ byte, v uint32) []byte {
	var b []byte
	for ; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return append([]byte{typ<<5 | byte(len(b))}, b...)
}

// writeMMDB writes an IPv4 MMDB of type dbType that maps prefix to an ASN
// record, built here byte by byte as the MaxMind DB format describes: a
// 24-bit search tree, 16 zero bytes, the data section, the metadata.
func writeMMDB(t *testing.T, dbType string, prefix netip.Prefix, asn uint32, org string) string {
	t.Helper()
	bits := prefix.Bits()
	nodes := uint32(bits)
	a := prefix.Addr().As4()
	data := []byte{7<<5 | 2} // a map of two pairs
	data = append(data, mmdbString("autonomous_system_number")...)
	data = append(data, mmdbUint(6, asn)...)
	data = append(data, mmdbString("autonomous_system_organization")...)
	data = append(data, mmdbString(org)...)
	var tree []byte
	put := func(v uint32) { tree = append(tree, byte(v>>16), byte(v>>8), byte(v)) }
	for i := 0; i < bits; i++ {
		next := uint32(i + 1)
		if i == bits-1 {
			next = nodes + 16 // the data section's offset 0
		}
		if a[i/8]>>(7-i%8)&1 == 0 {
			put(next)
			put(nodes)
		} else {
			put(nodes)
			put(next)
		}
	}
	var b []byte
	b = append(b, tree...)
	b = append(b, make([]byte, 16)...)
	b = append(b, data...)
	b = append(b, "\xab\xcd\xefMaxMind.com"...)
	b = append(b, 7<<5|6)
	b = append(b, mmdbString("node_count")...)
	b = append(b, mmdbUint(6, nodes)...)
	b = append(b, mmdbString("record_size")...)
	b = append(b, mmdbUint(5, 24)...)
	b = append(b, mmdbString("ip_version")...)
	b = append(b, mmdbUint(5, 4)...)
	b = append(b, mmdbString("database_type")...)
	b = append(b, mmdbString(dbType)...)
	b = append(b, mmdbString("binary_format_major_version")...)
	b = append(b, mmdbUint(5, 2)...)
	b = append(b, mmdbString("binary_format_minor_version")...)
	b = append(b, mmdbUint(5, 0)...)
	p := filepath.Join(t.TempDir(), "test.mmdb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMMDB(t *testing.T) {
	p := writeMMDB(t, "GeoLite2-ASN", netip.MustParsePrefix("23.246.0.0/18"), 2906, "NETFLIX-ASN")
	// A CSV range elsewhere: both kinds of file together.
	csv := writeCSV(t, "5.9.0.0,5.9.255.255,24940,Hetzner Online GmbH\n")
	db, err := Load(csv, p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tt := range []struct {
		addr  string
		owner Owner
		found bool
	}{
		{"23.246.11.141", Owner{2906, "NETFLIX-ASN"}, true},
		{"23.246.63.255", Owner{2906, "NETFLIX-ASN"}, true},
		{"23.246.64.0", Owner{}, false},
		{"5.9.1.2", Owner{24940, "Hetzner Online GmbH"}, true},
		{"192.0.2.1", Owner{}, false},
	} {
		o, ok := db.Lookup(netip.MustParseAddr(tt.addr))
		if o != tt.owner || ok != tt.found {
			t.Errorf("Lookup(%s) = %+v %v, want %+v %v", tt.addr, o, ok, tt.owner, tt.found)
		}
		if s, ok := db.Service(netip.MustParseAddr(tt.addr)); s != Service(tt.owner) || ok != tt.found {
			t.Errorf("Service(%s) = %q %v, want %q %v", tt.addr, s, ok, Service(tt.owner), tt.found)
		}
	}
	if o, _ := db.Lookup(netip.MustParseAddr("23.246.11.141")); Service(o) != "Netflix" {
		t.Errorf("Service = %q, want Netflix", Service(o))
	}
	// An MMDB of another kind (a country database) is refused by name.
	city := writeMMDB(t, "GeoLite2-Country", netip.MustParsePrefix("23.246.0.0/18"), 1, "x")
	if _, err := Load(city); err == nil || !strings.Contains(err.Error(), "not an ASN database") || !strings.Contains(err.Error(), city) {
		t.Errorf("Load(country MMDB) error %v", err)
	}
}
