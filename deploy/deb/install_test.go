package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// These tests run from `make test-deb`, which builds the packages first and
// says where they are:
//   NETMON_DEB_DIR      the directory holding netmon_VERSION_ARCH.deb
//   NETMON_DEB_VERSION  VERSION (the Debian one)
//   NETMON_VERSION      what netmon version prints (git describe's)
//   NETMON_DEB_TOOL     the packager, for the upgrade's second package
//   NETMON_DEB_CACHE    where the chroot's tarball is kept

// missing skips the test, saying what is missing, or fails it under CI=true.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", msg)
	}
	t.Skip(msg)
}

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		missing(t, "%s is not set: run make test-deb", name)
	}
	return v
}

// deb is the path of the built package for arch.
func deb(t *testing.T, arch string) string {
	t.Helper()
	p := filepath.Join(env(t, "NETMON_DEB_DIR"), fmt.Sprintf("netmon_%s_%s.deb", env(t, "NETMON_DEB_VERSION"), arch))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no package: %v", err)
	}
	return p
}

func needCommand(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing(t, "%s not found: apt-get install %s", n, map[string]string{
				"lintian": "lintian", "dpkg-deb": "dpkg", "debootstrap": "debootstrap", "chroot": "coreutils",
				"qemu-aarch64-static": "qemu-user-static", "dpkg-shlibdeps": "dpkg-dev", "tar": "tar",
			}[n])
		}
	}
}

func exe(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestLintian: lintian finds nothing on any of the three packages beyond
// what deploy/deb/lintian-overrides explains, info-level tags included.
func TestLintian(t *testing.T) {
	needCommand(t, "lintian")
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		p := deb(t, arch)
		// Tags go to standard output; standard error has lintian's notes
		// (such as that it runs as root).
		cmd := exec.Command("lintian", "--fail-on", "error,warning,info", "--display-info", "--tag-display-limit", "0", p)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		t.Logf("lintian %s: %q; %s", filepath.Base(p), strings.TrimSpace(string(out)), strings.TrimSpace(stderr.String()))
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("lintian %s: %v\n%s%s", filepath.Base(p), err, out, stderr.Bytes())
		}
	}
}

// TestContents: each package is for its architecture, holds the files the
// issue asks for with the right modes, its binary is that architecture's
// (checked with file), and it depends on libc6 and libpcap0.8 and
// recommends ieee-data.
func TestContents(t *testing.T) {
	needCommand(t, "dpkg-deb")
	elfs := map[string]string{
		"amd64": "ELF 64-bit LSB .*x86-64",
		"arm64": "ELF 64-bit LSB .*ARM aarch64",
		"armhf": "ELF 32-bit LSB .*ARM, EABI5",
	}
	for arch, elfRe := range elfs {
		p := deb(t, arch)
		field := func(f string) string {
			return strings.TrimSpace(exe(t, "dpkg-deb", "--field", p, f))
		}
		if got := field("Architecture"); got != arch {
			t.Errorf("%s: Architecture %q", p, got)
		}
		if got := field("Version"); got != env(t, "NETMON_DEB_VERSION") {
			t.Errorf("%s: Version %q", p, got)
		}
		if dep := field("Depends"); !regexp.MustCompile(`^libc6 \(>= 2\.[0-9]+\), libpcap0\.8 \(>= 1\.[0-9.]+\), adduser$`).MatchString(dep) {
			t.Errorf("%s: Depends %q", p, dep)
		}
		if got := field("Recommends"); got != "ieee-data" {
			t.Errorf("%s: Recommends %q", p, got)
		}
		list := exe(t, "dpkg-deb", "--contents", p)
		if strings.Contains(list, ".go\n") {
			t.Errorf("%s holds Go source:\n%s", filepath.Base(p), list)
		}
		for path, mode := range map[string]string{
			"./usr/bin/netmon":                                                "-rwxr-xr-x",
			"./lib/systemd/system/netmon.service":                             "-rw-r--r--",
			"./etc/netmon/netmon.yaml":                                        "-rw-r--r--",
			"./usr/share/doc/netmon/copyright":                                "-rw-r--r--",
			"./usr/share/doc/netmon/changelog.gz":                             "-rw-r--r--",
			"./usr/share/doc/netmon/examples/netmon.yaml":                     "-rw-r--r--",
			"./usr/share/netmon/grafana/dashboards/netmon.json":               "-rw-r--r--",
			"./usr/share/netmon/grafana/provisioning/datasources/netmon.yaml": "-rw-r--r--",
		} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + ` root/root .* ` + regexp.QuoteMeta(path) + `$`).MatchString(list) {
				t.Errorf("%s has no %s %s:\n%s", filepath.Base(p), mode, path, list)
			}
		}
		if got := strings.TrimSpace(exe(t, "sh", "-c", "dpkg-deb --ctrl-tarfile \"$1\" | tar -xOf - ./conffiles", "sh", p)); got != "/etc/netmon/netmon.yaml" {
			t.Errorf("%s: conffiles %q, want /etc/netmon/netmon.yaml", filepath.Base(p), got)
		}
		dir := t.TempDir()
		exe(t, "dpkg-deb", "-x", p, dir)
		if out := exe(t, "file", "-b", filepath.Join(dir, "usr/bin/netmon")); !regexp.MustCompile(elfRe).MatchString(out) {
			t.Errorf("%s: usr/bin/netmon is %s, want %s", filepath.Base(p), out, elfRe)
		}
	}
}

// TestDependsMatchesShlibdeps: for the amd64 binary, whose libraries are
// installed here, Depends says what dpkg-shlibdeps itself works out.
func TestDependsMatchesShlibdeps(t *testing.T) {
	needCommand(t, "dpkg-deb", "dpkg-shlibdeps")
	if runtime.GOARCH != "amd64" {
		t.Skip("dpkg-shlibdeps checks this machine's architecture only")
	}
	p := deb(t, "amd64")
	dir := t.TempDir()
	exe(t, "dpkg-deb", "-x", p, dir)
	if err := os.MkdirAll(filepath.Join(dir, "debian"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "debian/control"), []byte("Source: netmon\n\nPackage: netmon\nArchitecture: any\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dpkg-shlibdeps", "-O", "usr/bin/netmon")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-shlibdeps: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^shlibs:Depends=(.*)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("dpkg-shlibdeps printed no shlibs:Depends:\n%s", out)
	}
	want := string(m[1])
	got := strings.TrimSuffix(strings.TrimSpace(exe(t, "dpkg-deb", "--field", p, "Depends")), ", adduser")
	if got != want {
		t.Errorf("Depends %q; dpkg-shlibdeps says %q", got, want)
	}
}

// TestArm64UnderQemu runs the arm64 package's binary under qemu-user:
// version, and a replay of a capture made here into SQLite, read back with
// its own netmon top.
func TestArm64UnderQemu(t *testing.T) {
	needCommand(t, "dpkg-deb", "qemu-aarch64-static")
	if _, err := os.Stat("/lib/ld-linux-aarch64.so.1"); err != nil {
		missing(t, "no arm64 loader (/lib/ld-linux-aarch64.so.1): make cross-deps-arm64 installs libpcap-dev:arm64 with it")
	}
	dir := t.TempDir()
	exe(t, "dpkg-deb", "-x", deb(t, "arm64"), dir)
	bin := filepath.Join(dir, "usr/bin/netmon")
	if out := exe(t, "qemu-aarch64-static", bin, "version"); !strings.Contains(out, env(t, "NETMON_VERSION")) {
		t.Errorf("netmon version under qemu: %q, want %s", out, env(t, "NETMON_VERSION"))
	}
	pcap := filepath.Join(dir, "test.pcap")
	writeCapture(t, pcap)
	db := filepath.Join(dir, "pi.db")
	exe(t, "qemu-aarch64-static", bin, "--config", "", "replay", "--db", db, "--state-dir", filepath.Join(dir, "state"), "--no-ptr", pcap)
	checkTop(t, exe(t, "qemu-aarch64-static", bin, "--config", "", "top", "--db", db, "--since", "all", "--by", "domain", "--json"))
}

// The capture the replays read: a device (192.168.1.10) asks the local
// resolver for www.example.org and then talks TLS to the address it got.
var (
	device   = net.IPv4(192, 168, 1, 10).To4()
	resolver = net.IPv4(192, 168, 1, 1).To4()
	server   = net.IPv4(93, 184, 216, 34).To4()
)

const (
	serverName  = "www.example.org"
	dataPackets = 6
)

func writeCapture(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	devMAC := net.HardwareAddr{2, 0, 0, 0, 0, 0x10}
	gwMAC := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	ts := time.Date(2026, 1, 2, 10, 0, 1, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	write := func(fromDevice bool, src, dst net.IP, l4 gopacket.SerializableLayer, proto layers.IPProtocol, payload []byte) {
		eth := &layers.Ethernet{SrcMAC: gwMAC, DstMAC: devMAC, EthernetType: layers.EthernetTypeIPv4}
		if fromDevice {
			eth.SrcMAC, eth.DstMAC = devMAC, gwMAC
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
		switch l := l4.(type) {
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(ip)
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(ip)
		}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, l4, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(100 * time.Millisecond)
	}
	dns := func(response bool) []byte {
		d := &layers.DNS{ID: 7, QR: response, RD: true, RA: response,
			Questions: []layers.DNSQuestion{{Name: []byte(serverName), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
		if response {
			d.Answers = []layers.DNSResourceRecord{{Name: []byte(serverName), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: server}}
		}
		b := gopacket.NewSerializeBuffer()
		if err := d.SerializeTo(b, gopacket.SerializeOptions{FixLengths: true}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	write(true, device, resolver, &layers.UDP{SrcPort: 40000, DstPort: 53}, layers.IPProtocolUDP, dns(false))
	write(false, resolver, device, &layers.UDP{SrcPort: 53, DstPort: 40000}, layers.IPProtocolUDP, dns(true))
	for i := range dataPackets {
		if i%2 == 0 {
			write(true, device, server, &layers.TCP{SrcPort: 50000, DstPort: 443, Seq: uint32(1000 + i), ACK: true, PSH: true, Window: 500},
				layers.IPProtocolTCP, bytes.Repeat([]byte{0x17}, 100))
		} else {
			write(false, server, device, &layers.TCP{SrcPort: 443, DstPort: 50000, Seq: uint32(9000 + i), ACK: true, PSH: true, Window: 500},
				layers.IPProtocolTCP, bytes.Repeat([]byte{0x17}, 200))
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkTop: netmon top --json over the replayed capture names the server
// after the DNS answer and counts the TLS packets under it.
func checkTop(t *testing.T, out string) {
	t.Helper()
	var top struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("netmon top --json: %v\n%s", err, out)
	}
	for _, r := range top.Rows {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "example.org") {
			if p, _ := r["packets"].(float64); p < dataPackets {
				t.Errorf("netmon top: %s has %v packets, want at least %d:\n%s", serverName, r["packets"], dataPackets, out)
			}
			return
		}
	}
	t.Errorf("netmon top names no example.org:\n%s", out)
}

// chroot is a Debian system unpacked in a directory, where the package is
// installed with dpkg: this machine itself is not touched.
type chroot struct {
	t   *testing.T
	dir string
}

// sh runs a shell command in the chroot as root, or as user (user:group).
func (c chroot) sh(user, script string) (string, error) {
	args := []string{}
	if user != "" {
		args = append(args, "--userspec="+user)
	}
	args = append(args, c.dir, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
		"HOME=/root", "DEBIAN_FRONTEND=noninteractive", "/bin/sh", "-ec", script)
	out, err := exec.Command("chroot", args...).CombinedOutput()
	return string(out), err
}

func (c chroot) must(user, script string) string {
	c.t.Helper()
	out, err := c.sh(user, script)
	if err != nil {
		c.t.Fatalf("in the chroot: %s: %v\n%s", script, err, out)
	}
	return out
}

func (c chroot) exists(path string) bool {
	_, err := os.Lstat(filepath.Join(c.dir, path))
	return err == nil
}

// chrootPackages are what debootstrap adds to a minimal system: the
// package's dependencies (dpkg -i does not fetch them), and systemd for
// systemd-analyze and deb-systemd-helper.
var chrootPackages = []string{"libpcap0.8", "adduser", "systemd", "init-system-helpers"}

// newChroot unpacks a fresh copy of the cached chroot, making the cache
// first with debootstrap (about 3 minutes and 240 MB, from the mirror this
// machine's apt uses) when it is missing.
func newChroot(t *testing.T) chroot {
	needCommand(t, "debootstrap", "chroot", "tar")
	if os.Geteuid() != 0 {
		missing(t, "not root: the install test needs chroot and dpkg as root")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the install test installs the amd64 package: this machine is " + runtime.GOARCH)
	}
	osr, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSION_CODENAME=(\w+)$`).FindSubmatch(osr)
	if m == nil {
		missing(t, "/etc/os-release names no VERSION_CODENAME: the chroot is made of this machine's Debian release")
	}
	suite := string(m[1])
	mirror := os.Getenv("NETMON_DEB_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	cache := os.Getenv("NETMON_DEB_CACHE")
	if cache == "" {
		cache = "/var/cache/netmon/deb-test"
	}
	key := sha256.Sum256([]byte(suite + " " + mirror + " " + strings.Join(chrootPackages, ",")))
	tarball := filepath.Join(cache, fmt.Sprintf("%s-%x.tar", suite, key[:4]))
	if _, err := os.Stat(tarball); err != nil {
		t.Logf("no %s: debootstrap %s from %s", tarball, suite, mirror)
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		root, err := os.MkdirTemp(cache, "root-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		// The chroot's /, which MkdirTemp made 0700: every user walks it.
		if err := os.Chmod(root, 0o755); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if out, err := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(chrootPackages, ","),
			suite, root, mirror).CombinedOutput(); err != nil {
			t.Fatalf("debootstrap: %v\n%s", err, tail(out))
		}
		t.Logf("debootstrap took %v", time.Since(start).Round(time.Second))
		tmp := tarball + ".tmp"
		exe(t, "tar", "-C", root, "-cf", tmp, ".")
		if err := os.Rename(tmp, tarball); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	exe(t, "tar", "-C", dir, "-xf", tarball)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return chroot{t: t, dir: dir}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// files lists every path in the chroot, but for what dpkg, apt and the
// logs keep for themselves and the scratch directories.
func (c chroot) files() map[string]bool {
	c.t.Helper()
	skip := []string{"/proc", "/tmp", "/var/lib/dpkg", "/var/log", "/var/cache", "/var/tmp", "/run", "/dev"}
	set := map[string]bool{}
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, c.dir)
		if slices.Contains(skip, rel) {
			return filepath.SkipDir
		}
		if rel != "" {
			set[rel] = true
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return set
}

// TestInstall installs the amd64 package with dpkg in a Debian chroot and
// takes it through its life: install (the user, the state directory, the
// unit verified, not enabled while no interface is set), netmon version,
// the conffile checked, a replay as the netmon user read back with netmon
// top, an interface configured and the service enabled, an upgrade to a
// higher version (the edit, the data and the enabling kept), remove (the
// conffile and data kept), reinstall (enabled again), purge (the state and
// the conffile gone), and what is left afterwards.
func TestInstall(t *testing.T) {
	pkg := deb(t, "amd64")
	version := env(t, "NETMON_DEB_VERSION")
	tool := env(t, "NETMON_DEB_TOOL")
	c := newChroot(t)

	// The second, higher version: the same files, as the next build would be.
	next := version + ".1"
	nextDir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "netmon")
	exe(t, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/bin/netmon > "$2"`, "sh", pkg, bin)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	exe(t, tool, "-root", root, "-arch", "amd64", "-binary", bin, "-version", env(t, "NETMON_VERSION"), "-deb-version", next, "-out", nextDir)
	for src, dst := range map[string]string{
		pkg: "tmp/v1.deb",
		filepath.Join(nextDir, fmt.Sprintf("netmon_%s_amd64.deb", next)): "tmp/v2.deb",
	} {
		exe(t, "cp", src, filepath.Join(c.dir, dst))
	}
	writeCapture(t, filepath.Join(c.dir, "tmp/test.pcap"))
	if err := os.Chmod(filepath.Join(c.dir, "tmp/test.pcap"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := c.files()

	// Install.
	out := c.must("", "dpkg -i /tmp/v1.deb")
	t.Logf("dpkg -i:\n%s", out)
	if !strings.Contains(out, "not capturing") || !strings.Contains(out, "systemctl enable --now netmon") {
		t.Errorf("dpkg -i does not say how to start netmon:\n%s", out)
	}
	passwd := c.must("", "getent passwd netmon")
	f := strings.Split(strings.TrimSpace(passwd), ":")
	if len(f) != 7 || f[5] != "/var/lib/netmon" || f[6] != "/usr/sbin/nologin" {
		t.Errorf("user netmon: %q, want home /var/lib/netmon and shell /usr/sbin/nologin", passwd)
	}
	var uid int
	if _, err := fmt.Sscan(f[2], &uid); err != nil || uid >= 1000 || uid == 0 {
		t.Errorf("user netmon has uid %q, want a system user's (1-999)", f[2])
	}
	c.must("", "getent group netmon")
	if got := strings.TrimSpace(c.must("", "stat -c '%U:%G %a' /var/lib/netmon")); got != "netmon:netmon 750" {
		t.Errorf("/var/lib/netmon is %s, want netmon:netmon 750", got)
	}
	if out, err := c.sh("", "systemd-analyze verify /lib/systemd/system/netmon.service"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	unit := c.must("", "cat /lib/systemd/system/netmon.service")
	for _, line := range []string{"ExecStart=/usr/bin/netmon run", "User=netmon", "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN", "StateDirectory=netmon"} {
		if !strings.Contains(unit, "\n"+line) {
			t.Errorf("the unit has no line %q", line)
		}
	}
	const wants = "/etc/systemd/system/multi-user.target.wants/netmon.service"
	if c.exists(wants) {
		t.Errorf("netmon.service is enabled with no interface configured")
	}
	if out := c.must("", "netmon version"); !strings.Contains(out, env(t, "NETMON_VERSION")) {
		t.Errorf("netmon version: %q, want %s", out, env(t, "NETMON_VERSION"))
	}
	if out := c.must("", "netmon config check"); !strings.Contains(out, "/etc/netmon/netmon.yaml: ok") {
		t.Errorf("netmon config check: %s", out)
	}
	if out := c.must("", "dpkg-query -W -f '${Conffiles}' netmon"); !strings.Contains(out, "/etc/netmon/netmon.yaml") {
		t.Errorf("dpkg knows no conffile /etc/netmon/netmon.yaml: %q", out)
	}

	// A replay as the netmon user, into the database the conffile names.
	c.must("netmon:netmon", "netmon replay --no-ptr /tmp/test.pcap")
	checkTop(t, c.must("netmon:netmon", "netmon top --since all --by domain --json"))
	if got := strings.TrimSpace(c.must("", "stat -c '%U:%G' /var/lib/netmon/netmon.db")); got != "netmon:netmon" {
		t.Errorf("the database is %s's, want netmon:netmon", got)
	}

	// The administrator sets the interface and enables the service; the
	// upgrade keeps both (the unchanged conffile with no question asked),
	// and the data.
	c.must("", `sed -i 's/^interface: ""$/interface: eth0/' /etc/netmon/netmon.yaml && grep -qx 'interface: eth0' /etc/netmon/netmon.yaml`)
	c.must("", "systemctl enable netmon.service")
	if !c.exists(wants) {
		t.Fatalf("systemctl enable made no %s", wants)
	}
	out = c.must("", "dpkg -i /tmp/v2.deb")
	if strings.Contains(out, "not capturing") {
		t.Errorf("after the interface is set, dpkg -i still says netmon is not capturing:\n%s", out)
	}
	if got := strings.TrimSpace(c.must("", "dpkg-query -W -f '${Version} ${Status}' netmon")); got != next+" install ok installed" {
		t.Errorf("after the upgrade: %q, want %s installed", got, next)
	}
	if !strings.Contains(c.must("", "cat /etc/netmon/netmon.yaml"), "\ninterface: eth0\n") {
		t.Errorf("the upgrade lost the interface set in /etc/netmon/netmon.yaml")
	}
	if !c.exists(wants) {
		t.Errorf("the upgrade disabled netmon.service")
	}
	checkTop(t, c.must("netmon:netmon", "netmon top --since all --by domain --json"))

	// Remove: the conffile, the data and the user stay.
	c.must("", "dpkg -r netmon")
	for _, p := range []string{"/usr/bin/netmon", "/lib/systemd/system/netmon.service"} {
		if c.exists(p) {
			t.Errorf("dpkg -r left %s", p)
		}
	}
	for _, p := range []string{"/etc/netmon/netmon.yaml", "/var/lib/netmon/netmon.db"} {
		if !c.exists(p) {
			t.Errorf("dpkg -r removed %s", p)
		}
	}
	if got := strings.TrimSpace(c.must("", "dpkg-query -W -f '${Status}' netmon")); got != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: %q", got)
	}

	// Reinstall: configured and enabled before, so enabled again.
	c.must("", "dpkg -i /tmp/v2.deb")
	if !c.exists(wants) {
		t.Errorf("reinstalling with an interface configured did not enable netmon.service")
	}
	if out, err := c.sh("", "systemctl is-enabled netmon.service"); err != nil || strings.TrimSpace(out) != "enabled" {
		t.Errorf("systemctl is-enabled netmon.service after the reinstall: %v %s", err, out)
	}

	// Purge: the package's files, its state and systemd's record of the
	// unit go; the user and group stay (postrm says why).
	c.must("", "dpkg -P netmon")
	if out, err := c.sh("", "dpkg-query -W netmon"); err == nil {
		t.Errorf("after dpkg -P, dpkg still knows netmon: %s", out)
	}
	c.must("", "getent passwd netmon")
	after := c.files()
	var added, removed []string
	for p := range after {
		if !before[p] {
			added = append(added, p)
		}
	}
	for p := range before {
		if !after[p] {
			removed = append(removed, p)
		}
	}
	// adduser's backups of the files it changed.
	allowed := []string{"/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-"}
	added = slices.DeleteFunc(added, func(p string) bool { return slices.Contains(allowed, p) })
	slices.Sort(added)
	slices.Sort(removed)
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("after dpkg -P, paths added: %q; removed: %q", added, removed)
	}
	t.Logf("left after purge: the user and group netmon (%s)", strings.TrimSpace(c.must("", "getent passwd netmon")))
}
