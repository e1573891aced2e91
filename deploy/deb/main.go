// Command netmon-deb builds netmon's Debian package for one architecture
// with nfpm (used as a library): `make deb` runs it once for each of amd64,
// arm64 and armhf, on the binaries `make release` built.
//
//	netmon-deb -arch arm64 [-binary dist/netmon-linux-arm64] [-version GIT-DESCRIBE] [-out dist]
//
// It runs from the top of the repository (or -root): the files it packs are
// the repository's own (deploy/, docs/, README.md, LICENSE). What it writes
// itself, into a scratch directory, is only what Debian wants in a form the
// repository does not keep: the unit with ExecStart=/usr/bin/netmon, the
// gzipped changelog and docs, the copyright file and lintian's overrides.
package main

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// binaries maps a Debian architecture to the file `make release` builds
// for it under dist/.
var binaries = map[string]string{
	"amd64": "netmon-linux-amd64",
	"arm64": "netmon-linux-arm64",
	"armhf": "netmon-linux-armv7",
}

const (
	homepage          = "https://github.com/netmon/netmon"
	defaultMaintainer = "netmon maintainers <maintainers@users.noreply.r-seed-90fd9829.example>"
	synopsis          = "which web services each device on a network talks to"
	// The long description: lines of Debian's control-file form are made
	// by nfpm from these lines.
	description = synopsis + "\n" +
		"netmon watches a home network from a machine that sees its traffic (a\n" +
		"Raspberry Pi on a mirror port, or the router itself). It captures with\n" +
		"libpcap, learns the names of servers from DNS answers, TLS SNI, HTTP Host\n" +
		"and QUIC Initial packets, counts packets and bytes per device and\n" +
		"service in 10-second windows, and writes them to an SQLite file or\n" +
		"MariaDB, where netmon top, its web page and Grafana read them.\n" +
		"\n" +
		"The service starts once an interface is set in /etc/netmon/netmon.yaml."
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "netmon-deb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("netmon-deb", flag.ContinueOnError)
	arch := fs.String("arch", "", "Debian architecture: amd64, arm64 or armhf")
	binary := fs.String("binary", "", "the netmon binary to pack (default dist/ and the architecture's release name)")
	describe := fs.String("version", "", "the version as `git describe --tags --always --dirty` says it (default: run it)")
	debVersion := fs.String("deb-version", "", "the package version itself, instead of the one mapped from -version")
	out := fs.String("out", "dist", "directory the .deb is written to")
	root := fs.String("root", ".", "the top of the netmon repository")
	maintainer := fs.String("maintainer", defaultMaintainer, "the Maintainer field")
	printVersion := fs.Bool("print-version", false, "print the Debian version -version maps to, and build nothing")
	symbols := fs.String("libpcap-symbols", "", "dpkg's symbols file of libpcap0.8 (default /var/lib/dpkg/info/libpcap0.8:*.symbols)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%v (see the comment at the top of deploy/deb/main.go)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	if *describe == "" {
		d, err := git(*root, "describe", "--tags", "--always", "--dirty")
		if err != nil {
			return err
		}
		*describe = d
	}
	version := *debVersion
	if version == "" {
		var err error
		version, err = DebianVersion(*describe, func() (int, error) {
			n, err := git(*root, "rev-list", "--count", "HEAD")
			if err != nil {
				return 0, err
			}
			return strconv.Atoi(n)
		})
		if err != nil {
			return err
		}
	} else if !ValidVersion(version) {
		return fmt.Errorf("-deb-version %q is not a Debian version", version)
	}

	if *printVersion {
		fmt.Println(version)
		return nil
	}
	name, ok := binaries[*arch]
	if !ok {
		return fmt.Errorf("-arch %q: want amd64, arm64 or armhf", *arch)
	}
	if *binary == "" {
		*binary = filepath.Join(*root, "dist", name)
	}
	if _, err := os.Stat(*binary); err != nil {
		return fmt.Errorf("no binary to pack: %v (make deb builds it)", err)
	}

	depends, err := Depends(*binary, *symbols)
	if err != nil {
		return err
	}
	mtime, err := sourceTime(*root)
	if err != nil {
		return err
	}

	scratch, err := os.MkdirTemp("", "netmon-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	contents, err := stage(*root, scratch, *binary, version, *describe, *maintainer, mtime)
	if err != nil {
		return err
	}

	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "netmon",
		Arch:          *arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none", // version is a Debian version already
		Section:       "net",
		Priority:      "optional",
		Maintainer:    *maintainer,
		Description:   description,
		Homepage:      homepage,
		License:       "Apache-2.0",
		MTime:         mtime,
		Overridables: nfpm.Overridables{
			Depends:    append(depends, "adduser"),
			Recommends: []string{"ieee-data"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(*root, "deploy/deb/scripts/postinst"),
				PreRemove:   filepath.Join(*root, "deploy/deb/scripts/prerm"),
				PostRemove:  filepath.Join(*root, "deploy/deb/scripts/postrm"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	})
	if err := nfpm.Validate(info); err != nil {
		return err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// Written beside the target and renamed: a failed build leaves no
	// half-written package behind under the final name.
	target := filepath.Join(*out, fmt.Sprintf("netmon_%s_%s.deb", version, *arch))
	tmp, err := os.CreateTemp(*out, ".netmon-deb-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := pkg.Package(info, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("nfpm: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	fmt.Println(target)
	return nil
}

// git runs git in dir and returns its trimmed output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// sourceTime is the time the package's files and changelog carry:
// SOURCE_DATE_EPOCH when set, else the commit's time, so that two builds of
// one commit are the same bytes.
func sourceTime(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(root, "log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, err
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// stage writes the generated files into scratch and returns the package's
// contents.
func stage(root, scratch, binary, version, describe, maintainer string, mtime time.Time) (files.Contents, error) {
	in := func(p string) string { return filepath.Join(root, p) }
	gen := func(p string) string { return filepath.Join(scratch, p) }
	var c files.Contents
	add := func(typ, src, dst string, mode os.FileMode) {
		c = append(c, &files.Content{Type: typ, Source: src, Destination: dst,
			FileInfo: &files.ContentFileInfo{Mode: mode, MTime: mtime}})
	}

	unit, err := os.ReadFile(in("deploy/systemd/netmon.service"))
	if err != nil {
		return nil, err
	}
	pkgUnit, err := PackageUnit(string(unit))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(gen("netmon.service"), []byte(pkgUnit), 0o644); err != nil {
		return nil, err
	}
	if err := writeGzip(gen("changelog.gz"), []byte(Changelog(version, describe, maintainer, mtime))); err != nil {
		return nil, err
	}
	copyright, err := Copyright(binary, mtime.Year())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(gen("copyright"), []byte(copyright), 0o644); err != nil {
		return nil, err
	}

	add(files.TypeFile, binary, "/usr/bin/netmon", 0o755)
	// /lib, not /usr/lib: Debian 12 (Raspberry Pi OS) and its lintian
	// expect units there; with merged /usr both are the same directory.
	add(files.TypeFile, gen("netmon.service"), "/lib/systemd/system/netmon.service", 0o644)
	add(files.TypeConfig, in("deploy/deb/netmon.yaml"), "/etc/netmon/netmon.yaml", 0o644)
	add(files.TypeFile, in("deploy/deb/lintian-overrides"), "/usr/share/lintian/overrides/netmon", 0o644)

	doc := "/usr/share/doc/netmon/"
	add(files.TypeFile, gen("copyright"), doc+"copyright", 0o644)
	// changelog.gz, not changelog.Debian.gz: a native package (its version
	// has no Debian revision: the packaging is part of netmon itself).
	add(files.TypeFile, gen("changelog.gz"), doc+"changelog.gz", 0o644)
	// Documentation: README and the topic pages, gzipped as Debian
	// policy asks of documentation over 4 kB; the full config example and
	// the environment file example, as they are.
	pages, err := filepath.Glob(in("docs/*.md"))
	if err != nil {
		return nil, err
	}
	for _, p := range append([]string{in("README.md")}, pages...) {
		dst := filepath.Base(p)
		if filepath.Dir(p) != filepath.Clean(root) {
			dst = "docs/" + dst
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if len(b) > 4096 {
			if err := os.MkdirAll(filepath.Dir(gen(dst)), 0o755); err != nil {
				return nil, err
			}
			if err := writeGzip(gen(dst+".gz"), b); err != nil {
				return nil, err
			}
			add(files.TypeFile, gen(dst+".gz"), doc+dst+".gz", 0o644)
		} else {
			add(files.TypeFile, p, doc+dst, 0o644)
		}
	}
	add(files.TypeFile, in("deploy/netmon.yaml"), doc+"examples/netmon.yaml", 0o644)
	add(files.TypeFile, in("deploy/systemd/netmon.env.example"), doc+"examples/netmon.env", 0o644)

	// Grafana's dashboard and provisioning files, to copy or point at.
	err = filepath.WalkDir(in("deploy/grafana"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(in("deploy/grafana"), p)
		if err != nil {
			return err
		}
		// Only the files Grafana reads: deploy/grafana is also a Go
		// package, whose tests run the dashboards' SQL.
		if ext := filepath.Ext(p); ext != ".json" && ext != ".yaml" && ext != ".yml" {
			return nil
		}
		add(files.TypeFile, p, "/usr/share/netmon/grafana/"+filepath.ToSlash(rel), 0o644)
		return nil
	})
	return c, err
}

// writeGzip writes b gzipped at maximum compression, with no name and no
// time in the header (gzip -9n), as Debian wants.
func writeGzip(path string, b []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// PackageUnit turns deploy/systemd/netmon.service (written for make
// install) into the package's unit: the binary is /usr/bin/netmon, and
// /etc/netmon/netmon.env is optional, since the package configures netmon
// through /etc/netmon/netmon.yaml. It fails when the unit no longer has the
// lines it rewrites, rather than shipping a unit that runs the wrong file.
func PackageUnit(unit string) (string, error) {
	for _, r := range [][2]string{
		{"\nExecStart=/usr/local/bin/netmon ", "\nExecStart=/usr/bin/netmon "},
		{"\nEnvironmentFile=/etc/netmon/netmon.env\n", "\nEnvironmentFile=-/etc/netmon/netmon.env\n"},
	} {
		if strings.Count(unit, r[0]) != 1 {
			return "", fmt.Errorf("deploy/systemd/netmon.service: no line %q to rewrite for the package", strings.TrimSpace(r[0]))
		}
		unit = strings.Replace(unit, r[0], r[1], 1)
	}
	head := "# The unit of netmon's Debian package (made from deploy/systemd/netmon.service).\n" +
		"# Set interface: in /etc/netmon/netmon.yaml, then: systemctl enable --now netmon\n"
	return head + unit, nil
}

// Changelog is the package's Debian changelog: one entry, for this build.
func Changelog(version, describe, maintainer string, t time.Time) string {
	return fmt.Sprintf("netmon (%s) unstable; urgency=medium\n\n"+
		"  * Built from git %s.\n  * Changes: %s/commits\n\n"+
		" -- %s  %s\n", version, describe, homepage, maintainer, t.Format(time.RFC1123Z))
}

// Copyright is the machine-readable copyright file: netmon's own license,
// and the Go modules compiled into the binary (from its build information),
// which keep their own licenses.
func Copyright(binary string, year int) (string, error) {
	years := "2026" // the first commit's year
	if year > 2026 {
		years += "-" + strconv.Itoa(year)
	}
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("%s: no Go build information: %v", binary, err)
	}
	var mods strings.Builder
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		fmt.Fprintf(&mods, "\n  %s %s", d.Path, d.Version)
	}
	return "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n" +
		"Upstream-Name: netmon\n" +
		"Source: " + homepage + "\n" +
		"Comment: /usr/bin/netmon is a Go program: it also holds these Go modules,\n" +
		" each under its own license (the web page's uPlot is MIT-licensed):" +
		strings.ReplaceAll(mods.String(), "\n  ", "\n  ") + "\n" +
		"\n" +
		"Files: *\n" +
		"Copyright: " + years + " the netmon authors\n" +
		"License: Apache-2.0\n" +
		"\n" +
		"License: Apache-2.0\n" +
		" Licensed under the Apache License, Version 2.0 (the \"License\"); you may\n" +
		" not use this file except in compliance with the License.\n" +
		" .\n" +
		" On Debian systems, the complete text of the Apache License, Version 2.0\n" +
		" can be found in \"/usr/share/common-licenses/Apache-2.0\".\n", nil
}
