package main

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Depends is the package's Depends field for binary, worked out as
// dpkg-shlibdeps would (which cannot run here for the foreign
// architectures without their libraries installed):
//   - libc6 at the highest GLIBC_x.y symbol version the binary asks for;
//   - libpcap0.8 at the highest version that dpkg's symbols file of
//     libpcap0.8 (symbols, or the installed package's) gives for a libpcap
//     function the binary calls. libpcap has the same functions on every
//     architecture, so this machine's file serves for all three.
func Depends(binary, symbols string) ([]string, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", binary, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", binary, err)
	}
	if !slices.Contains(libs, "libpcap.so.0.8") {
		return nil, fmt.Errorf("%s does not load libpcap.so.0.8 (a build without cgo?)", binary)
	}
	syms, err := f.ImportedSymbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", binary, err)
	}
	glibc := ""
	for _, s := range syms {
		if v, ok := strings.CutPrefix(s.Version, "GLIBC_"); ok && ValidVersion(v) && (glibc == "" || CompareVersions(v, glibc) > 0) {
			glibc = v
		}
	}
	if glibc == "" {
		return nil, fmt.Errorf("%s asks for no GLIBC_ symbol version", binary)
	}

	if symbols == "" {
		m, _ := filepath.Glob("/var/lib/dpkg/info/libpcap0.8:*.symbols")
		m2, _ := filepath.Glob("/var/lib/dpkg/info/libpcap0.8.symbols")
		if m = append(m, m2...); len(m) == 0 {
			return nil, fmt.Errorf("no /var/lib/dpkg/info/libpcap0.8:*.symbols: apt-get install libpcap0.8 (or give -libpcap-symbols)")
		}
		symbols = m[0]
	}
	minver, err := readSymbols(symbols)
	if err != nil {
		return nil, err
	}
	pcap := ""
	for _, s := range syms {
		if v, ok := minver[s.Name]; ok && (pcap == "" || CompareVersions(v, pcap) > 0) {
			pcap = v
		}
	}
	if pcap == "" {
		return nil, fmt.Errorf("%s calls no libpcap function that %s lists", binary, symbols)
	}
	return []string{"libc6 (>= " + glibc + ")", "libpcap0.8 (>= " + pcap + ")"}, nil
}

// readSymbols reads a dpkg symbols file of libpcap.so.0.8: function name →
// the first version of libpcap0.8 that has it.
func readSymbols(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "libpcap.so.0.8 "):
			in = true
		case line == "" || line[0] != ' ':
			if line != "" && line[0] != '*' && line[0] != '|' && line[0] != '#' {
				in = false // another library's block
			}
		case in:
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				name, _, _ := strings.Cut(fields[0], "@")
				m[name] = fields[1]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s lists no symbol of libpcap.so.0.8", path)
	}
	return m, nil
}
