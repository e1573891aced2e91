// Package capturetest finds the shared third-party captures that tests
// read. They stay outside the repository (their licence and size), so a
// missing folder skips the test with a message saying where to put it —
// or fails it under CI=true, where nothing may be missing.
package capturetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Missing ends a test that needs something from outside the repository (the
// shared captures, root, a tool) which this machine lacks: a skip on a
// fresh clone, so that `go test ./...` passes there, and a failure under
// CI=true, where a skip would hide a feature that went untested.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: required here)")
	}
	t.Skip("missing: " + msg)
}

// Dir returns the absolute path of the shared captures: $NETMON_PCAP_DIR,
// or ../shared/testdata/pcap beside the repository (tests run in their
// package's folder, at any depth below the repository root, which holds
// go.mod).
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("NETMON_PCAP_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(), "..", "shared", "testdata", "pcap")
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		_, err = os.Stat(filepath.Join(abs, "MANIFEST.tsv"))
	}
	if err != nil {
		Missing(t, "shared test captures not found in %s (%v): set NETMON_PCAP_DIR to the folder holding "+
			"MANIFEST.tsv and expected/, or put it at ../shared/testdata/pcap beside the repository", abs, err)
	}
	return abs
}

// repoRoot is the nearest folder at or above the working directory that
// holds go.mod; the parent folder when there is none (a package one level
// down, as before).
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ".."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return ".."
		}
	}
}
