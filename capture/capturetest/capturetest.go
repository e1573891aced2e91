// Package capturetest finds the shared third-party captures that tests
// read. They stay outside the repository (their licence and size), so a
// missing folder fails the test with a message saying where to put it.
package capturetest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of the shared captures: $NETMON_PCAP_DIR,
// or ../shared/testdata/pcap beside the repository (tests run in their
// package's folder, one level below the repository root).
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("NETMON_PCAP_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "testdata", "pcap")
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		_, err = os.Stat(filepath.Join(abs, "MANIFEST.tsv"))
	}
	if err != nil {
		t.Fatalf("shared test captures not found in %s (%v): set NETMON_PCAP_DIR to the folder holding "+
			"MANIFEST.tsv and expected/, or put it at ../shared/testdata/pcap beside the repository", abs, err)
	}
	return abs
}
