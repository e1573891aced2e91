package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var (
	describeRe = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)
	hashRe     = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
	tagRe      = regexp.MustCompile(`^v?([0-9][0-9A-Za-z.+~-]*)$`)
	versionRe  = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$`)
)

// DebianVersion maps what `git describe --tags --always --dirty` says (the
// version netmon's binary reports) to a Debian version that sorts the way
// the commits do:
//
//	v1.2.0                   → 1.2.0
//	v1.2.0-3-gabc1234        → 1.2.0+3.gabc1234 (after 1.2.0, before 1.2.1)
//	v1.3.0-rc1               → 1.3.0~rc1        (before 1.3.0)
//	abc1234 (no tag yet)     → 0.0.0+N.gabc1234 (N commits: later commits sort higher)
//	...-dirty                → ...+dirty or ....dirty
//
// commits counts the commits up to HEAD; it is called only when there is
// no tag.
func DebianVersion(describe string, commits func() (int, error)) (string, error) {
	d, dirty := strings.CutSuffix(describe, "-dirty")
	var tag, hash string
	n := 0
	if m := describeRe.FindStringSubmatch(d); m != nil {
		tag, hash = m[1], m[3]
		var err error
		if n, err = strconv.Atoi(m[2]); err != nil {
			return "", fmt.Errorf("git describe %q: %v", describe, err)
		}
	} else if hashRe.MatchString(d) {
		c, err := commits()
		if err != nil {
			return "", err
		}
		tag, hash, n = "0.0.0", d, c
	} else {
		tag = d
	}
	m := tagRe.FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("git describe %q: the tag %q is not a version (vX.Y.Z)", describe, tag)
	}
	v := strings.ReplaceAll(m[1], "-", "~")
	if hash != "" {
		v += fmt.Sprintf("+%d.g%s", n, hash)
	}
	if dirty {
		if strings.Contains(v, "+") {
			v += ".dirty"
		} else {
			v += "+dirty"
		}
	}
	if !ValidVersion(v) {
		return "", fmt.Errorf("git describe %q gives %q, not a Debian version", describe, v)
	}
	return v, nil
}

// ValidVersion says whether v is a Debian version ([epoch:]upstream[-revision]).
func ValidVersion(v string) bool { return versionRe.MatchString(v) }

// CompareVersions compares two Debian versions as dpkg does (the upstream
// part and revision; no epochs here): <0, 0 or >0.
func CompareVersions(a, b string) int {
	au, ar, _ := strings.Cut(a, "-")
	bu, br, _ := strings.Cut(b, "-")
	if c := verrevcmp(au, bu); c != 0 {
		return c
	}
	return verrevcmp(ar, br)
}

// order is dpkg's order of a non-digit character: ~ before the end of the
// string, before letters, before everything else.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		return int(c)
	case c == '~':
		return -1
	case c != 0:
		return int(c) + 256
	}
	return 0
}

// verrevcmp is dpkg's lib/dpkg/version.c verrevcmp.
func verrevcmp(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		first := 0
		for i < len(a) && !digit(a[i]) || j < len(b) && !digit(b[j]) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if i < len(a) && digit(a[i]) {
				ac = 0
			}
			if j < len(b) && digit(b[j]) {
				bc = 0
			}
			if ac != bc {
				return ac - bc
			}
			i++
			j++
		}
		for at(a, i) == '0' {
			i++
		}
		for at(b, j) == '0' {
			j++
		}
		for digit(at(a, i)) && digit(at(b, j)) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if digit(at(a, i)) {
			return 1
		}
		if digit(at(b, j)) {
			return -1
		}
		if first != 0 {
			return first
		}
	}
	return 0
}
