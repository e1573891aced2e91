package devices

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A registry file over MaxRegistryFile is refused before it is read, in
// one line that states the cap; so is one of the companion files beside a
// good oui.csv.
func TestVendorFileCap(t *testing.T) {
	good := "Registry,Assignment,Organization Name,Organization Address\n" +
		"MA-L,D83062,\"Apple, Inc.\",1 Infinite Loop Cupertino CA US 95014 \n"
	for _, big := range []string{"oui.csv", "mam.csv"} {
		t.Run(big, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "oui.csv"), []byte(good), 0o644); err != nil {
				t.Fatal(err)
			}
			// Sparse: its size costs no disk; a registry that size, read,
			// would hold a million vendors.
			if err := os.Truncate(filepath.Join(dir, big), MaxRegistryFile+1); err != nil {
				if err := os.WriteFile(filepath.Join(dir, big), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(filepath.Join(dir, big), MaxRegistryFile+1); err != nil {
					t.Fatal(err)
				}
			}
			v, err := LoadVendors(filepath.Join(dir, "oui.csv"))
			if err == nil || !strings.Contains(err.Error(), "more than the 32 MiB a vendor registry may hold") ||
				!strings.Contains(err.Error(), big) || strings.Contains(err.Error(), "\n") {
				t.Errorf("LoadVendors = %v, %v; want an error naming %s and the cap", v, err, big)
			}
		})
	}
}
