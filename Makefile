# netmon — see README.md. `sudo make run IFACE=eth0` sets up, builds, migrates
# and captures; `make test` runs every test, as CI does.

GO       ?= go
BIN      ?= bin/netmon
# Worked out once (:=), so that the binaries and the Debian packages built
# in one run carry the same version even if a commit lands meanwhile.
ifeq ($(origin VERSION),undefined)
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
LDFLAGS  := -s -w -X github.com/netmon/netmon/cmd.version=$(VERSION)
IFACE    ?= eth0
# The database netmon writes to. Empty (and no NETMON_DSN): netmon's own
# SQLite file, /var/lib/netmon/netmon.db as root, which it creates and
# migrates itself. Otherwise MariaDB, e.g. DSN='root@tcp(127.0.0.1:3306)/netmon',
# whose database migrate creates when it is missing.
DSN      ?= $(NETMON_DSN)
ARGS     ?=

# Debian packages the build and the tests need; the build alone needs libpcap.
# ieee-data: the vendor table (oui.csv) that devices/ reads, in its tests too.
# chromium: the web page's real-browser test (web/, headless).
DEB_PKGS   := libpcap-dev tcpreplay tcpdump iproute2 mariadb-server mariadb-client systemd ieee-data npm chromium
BUILD_PKGS := libpcap-dev
PKGS       ?= $(DEB_PKGS)

# The Raspberry Pi builds (make release, make test-arm64), per dpkg
# architecture: Debian's cross compiler, and that architecture's own libpcap
# from dpkg's multiarch (libpcap0.8-dev is Multi-Arch: same, so it installs
# beside the host's). qemu-user-static runs the arm64 tests; file checks
# what was built.
CROSS_PKGS_arm64 := gcc-aarch64-linux-gnu libpcap-dev:arm64 qemu-user-static file
CROSS_PKGS_armhf := gcc-arm-linux-gnueabihf libpcap-dev:armhf file
DIST             ?= dist
# The release builds are hardened as Debian builds its own packages (and
# lintian checks the packages for): position-independent, full RELRO with
# immediate binding, and the C parts (libpcap's cgo glue) with fortified
# string functions and stack protection.
RELEASE_BUILD  := -trimpath -buildmode=pie
HARDEN_CFLAGS  := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
HARDEN_LDFLAGS := -Wl,-z,relro,-z,now
RELEASES         := $(DIST)/netmon-linux-arm64 $(DIST)/netmon-linux-armv7

.PHONY: web-assets
# web-assets re-vendors the chart library the web page embeds, from the npm
# registry at the version web/npm/package-lock.json pins, with its license;
# web's TestVendoredAssets checks the copies against web/static/vendor/SHA256SUMS.
web-assets:
	cd web/npm && npm ci --no-audit --no-fund --ignore-scripts
	cp web/npm/node_modules/uplot/dist/uPlot.iife.min.js web/npm/node_modules/uplot/dist/uPlot.min.css \
		web/npm/node_modules/uplot/LICENSE web/static/vendor/
	cd web/static/vendor && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE > SHA256SUMS
	rm -rf web/npm/node_modules

.PHONY: all build run deps mariadb test test-arm64 test-deb lint unit bench fuzz fuzz-short clean install release armhf-sysroot deb $(RELEASES) $(DIST)/netmon-linux-amd64

all: build

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/netmon

# The main job: install what is missing, build, capture. Without a DSN netmon
# writes to its embedded SQLite file and needs no server; with one, the local
# MariaDB is installed and started when missing and the schema migrated first.
# The DSN goes through the environment, unechoed: a password on a command line
# would show in every user's process list.
run:
ifeq ($(strip $(DSN)),)
	@$(MAKE) --no-print-directory deps build PKGS='$(BUILD_PKGS)'
	@$(BIN) run -i $(IFACE) $(ARGS)
else
	@$(MAKE) --no-print-directory deps mariadb build
	@NETMON_DSN='$(DSN)' $(BIN) migrate
	@NETMON_DSN='$(DSN)' $(BIN) run -i $(IFACE) $(ARGS)
endif

# Installs the Debian packages that are missing (needs root). A name without
# an architecture means this machine's own (or an arch: all package): once
# dpkg has a foreign architecture, a bare `dpkg -s libpcap-dev` is ambiguous
# with libpcap-dev:arm64 installed, or answers for it alone. npm and chromium
# count as present when their command is on PATH: a Node.js installed from
# elsewhere makes Debian's npm uninstallable (held broken packages).
NATIVE_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
deps:
	@missing=""; for p in $(PKGS); do \
		case $$p in *:*) q=$$p ;; *) q="$$p:$(NATIVE_ARCH) $$p:all" ;; esac; \
		ok=; for x in $$q; do dpkg -s $$x >/dev/null 2>&1 && ok=1; done; \
		case $$p in npm|chromium) command -v $$p >/dev/null && ok=1 ;; esac; \
		[ -n "$$ok" ] || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq || echo "apt-get update failed (above): installing from the package lists apt has"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# cross-deps-arm64, cross-deps-armhf: adds the architecture to dpkg when it
# is missing, then installs what CROSS_PKGS_<arch> lists (needs root). When
# that fails, an architecture added here is taken out again: a foreign
# architecture whose package lists the mirror cannot serve makes every later
# apt-get update on the machine fail.
cross-deps-%:
	@added=; dpkg --print-foreign-architectures | grep -qx $* || \
		{ echo "dpkg --add-architecture $*"; dpkg --add-architecture $*; added=1; }; \
	$(MAKE) --no-print-directory deps PKGS='$(CROSS_PKGS_$*)' || { \
		[ -z "$$added" ] || { echo "dpkg --remove-architecture $*"; dpkg --remove-architecture $*; }; \
		echo "could not install $(CROSS_PKGS_$*): see apt's message above"; exit 1; }

# Starts the local MariaDB when it does not answer, and waits for it.
mariadb:
	@if ! mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1; then \
		echo "starting mariadbd"; \
		mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld; \
		[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null; \
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql; \
		for i in $$(seq 60); do mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done; \
		mariadb-admin -uroot -h127.0.0.1 ping >/dev/null || { echo "MariaDB did not start"; exit 1; }; \
	fi

# Every test: formatting, vet, and the race-enabled suite (unit, real
# captures, real MariaDB, live capture on a veth pair, short fuzz runs),
# then the unit tests again as arm64 code under qemu, then the Debian
# packages (test-deb). -tags e2e adds cmd's end-to-end tests (the files
# cmd/*_e2e_test.go: the built binary, veth, browser, private MariaDB
# servers, floods, make install), which a plain go test ./cmd leaves out to
# stay quick; TestE2ETag in cmd checks that the two lines here keep it.
test: deps mariadb lint
	$(GO) test -race -count=1 -timeout 20m -tags e2e ./...
	$(MAKE) fuzz-short
	$(MAKE) test-arm64
	$(MAKE) test-deb

# The unit tests of every package but cmd, built for arm64 and run under
# qemu-user: qemu-aarch64-static is go test's -exec, so binfmt_misc is not
# needed. They use the same MariaDB (TCP 127.0.0.1) and shared captures as
# make test. Left out, because they test the host rather than arm64 code:
# - cmd, whose tests build and run the host binary, set up network
#   namespaces and replay live (integration tests);
# - deploy/grafana, whose tests build the host binary to replay captures
#   and test the dashboards' SQL, not arm64 code;
# - the live capture tests, TestLive* and TestOpenLive*: qemu 7.2 does not
#   emulate the SIOCETHTOOL ioctl libpcap opens an interface with, and
#   cannot start the arm64 child process one of them runs without binfmt.
# No -race: ThreadSanitizer needs a 48-bit address space, and qemu-user
# gives the guest 39 bits ("unsupported VMA range").
# No -L: the loader and libraries are the multiarch ones libpcap-dev:arm64
# brought (/lib/ld-linux-aarch64.so.1, /usr/lib/aarch64-linux-gnu); with
# -L /usr/aarch64-linux-gnu (the cross compiler's own libc) a cgo binary
# spins forever before main under Debian's qemu 7.2.
test-arm64: cross-deps-arm64 mariadb
	CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GO) test -count=1 -timeout 20m \
		-exec qemu-aarch64-static -skip '^Test(Live|OpenLive)' $$($(GO) list ./... | grep -v -e '/cmd' -e '/deploy/grafana')

# Every fuzz target for FUZZTIME each, one at a time (go test -fuzz takes
# one target per run). A count, not a duration: Go 1.26's coordinator can
# fail a duration-bound run with a bare "context deadline exceeded" when a
# loaded machine starves its workers at the deadline (go.dev/issue/75804,
# fixed in Go 1.27; seen here in CI). 100,000 inputs take 5-10 s a target.
# A longer hunt: make fuzz-short FUZZTIME=10000000x (or FUZZTIME=30m).
FUZZTIME    ?= 100000x
FUZZTARGETS := capture:FuzzDecode resolver/dns:FuzzDNS resolver/dns:FuzzDNSTCP resolver/firstbytes:FuzzTLS resolver/firstbytes:FuzzHTTP resolver/firstbytes:FuzzQUIC resolver:FuzzFlowTCP resolver:FuzzFlowQUIC devices:FuzzAnnouncements
fuzz-short:
	@set -e; for t in $(FUZZTARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; echo "fuzz $$fn ($$pkg), -fuzztime $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags e2e ./...

# Speed, as BENCHMARKS.md reports it: every Go benchmark with -benchmem (each
# stage and the whole pipeline), then the whole-process comparison with
# tcpdump on a >= 2M-packet workload built from the shared captures, then
# the live drop test on a veth pair (root).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash bench/compare.sh
	bash bench/live.sh

# Raspberry Pi binaries (README.md, "Raspberry Pi notes") with cgo and each
# architecture's libpcap: $(DIST)/netmon-linux-arm64 for 64-bit Raspberry Pi
# OS, $(DIST)/netmon-linux-armv7 for 32-bit (one alone: make
# dist/netmon-linux-arm64), and SHA256SUMS. Each binary is checked with file
# (the right ELF and loader) and readelf (it loads libpcap.so.0.8, which the
# Pi's libpcap0.8 package provides; file does not show it).
release: $(RELEASES)
	cd $(DIST) && sha256sum $(notdir $(RELEASES)) > SHA256SUMS && ls -l
$(DIST)/netmon-linux-arm64: cross-deps-arm64
	@mkdir -p $(DIST)
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	CGO_CFLAGS='$(HARDEN_CFLAGS)' CGO_LDFLAGS='$(HARDEN_LDFLAGS)' \
		$(GO) build $(RELEASE_BUILD) -ldflags '$(LDFLAGS)' -o $@ ./cmd/netmon
	@$(call check-elf,$@,ELF 64-bit LSB .*ARM aarch64.*dynamically linked.*/lib/ld-linux-aarch64\.so\.1)
# armhf's libpcap comes through multiarch like arm64's. Multiarch needs the
# armhf libraries at exactly the host's versions, which a mirror in mid-sync
# or a host behind the mirror cannot always offer; then the same Debian
# packages (libpcap0.8, libpcap0.8-dev for armhf) are unpacked into
# ARMHF_SYSROOT and linked from there. Their own libraries (libdbus) are the
# Pi's business at run time, hence --allow-shlib-undefined.
ARMHF_SYSROOT := $(DIST)/.armhf-sysroot
$(DIST)/netmon-linux-armv7:
	@mkdir -p $(DIST)
	@set -e; if $(MAKE) --no-print-directory cross-deps-armhf; then \
		cflags=; ldflags=; \
	else \
		echo "multiarch libpcap-dev:armhf is not installable here: unpacking Debian's armhf libpcap into $(ARMHF_SYSROOT)"; \
		$(MAKE) --no-print-directory armhf-sysroot; \
		cflags="-I$(abspath $(ARMHF_SYSROOT))/usr/include"; \
		ldflags="-L$(abspath $(ARMHF_SYSROOT))/usr/lib/arm-linux-gnueabihf -Wl,--allow-shlib-undefined"; \
	fi; \
	echo "go build GOARCH=arm GOARM=7 $(RELEASE_BUILD) -o $@"; \
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
	CGO_CFLAGS="$(HARDEN_CFLAGS) $$cflags" CGO_LDFLAGS="$(HARDEN_LDFLAGS) $$ldflags" \
		$(GO) build $(RELEASE_BUILD) -ldflags '$(LDFLAGS)' -o $@ ./cmd/netmon
	@$(call check-elf,$@,ELF 32-bit LSB .*ARM.*EABI5.*dynamically linked.*/lib/ld-linux-armhf\.so\.3)
# This machine's own binary, built the same way, for the amd64 package.
$(DIST)/netmon-linux-amd64:
	@mkdir -p $(DIST)
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 CGO_CFLAGS='$(HARDEN_CFLAGS)' CGO_LDFLAGS='$(HARDEN_LDFLAGS)' \
		$(GO) build $(RELEASE_BUILD) -ldflags '$(LDFLAGS)' -o $@ ./cmd/netmon
	@$(call check-elf,$@,ELF 64-bit LSB .*x86-64.*dynamically linked.*/lib64/ld-linux-x86-64\.so\.2)
# Downloads (not installs) the armhf libpcap packages and unpacks them into
# ARMHF_SYSROOT; armhf is added to dpkg only for the download.
armhf-sysroot:
	@$(MAKE) --no-print-directory deps PKGS='gcc-arm-linux-gnueabihf file'
	@added=; dpkg --print-foreign-architectures | grep -qx armhf || { dpkg --add-architecture armhf; added=1; }; \
	apt-get update -qq || echo "apt-get update failed (above): downloading from the package lists apt has"; \
	rm -rf $(ARMHF_SYSROOT) && mkdir -p $(ARMHF_SYSROOT)/debs; \
	(cd $(ARMHF_SYSROOT)/debs && apt-get download -qq libpcap0.8:armhf libpcap0.8-dev:armhf); rc=$$?; \
	[ -z "$$added" ] || dpkg --remove-architecture armhf; \
	[ $$rc = 0 ] || { echo "could not download libpcap0.8:armhf and libpcap0.8-dev:armhf"; exit 1; }; \
	for d in $(ARMHF_SYSROOT)/debs/*.deb; do dpkg-deb -x $$d $(ARMHF_SYSROOT); done

# Debian packages (docs/install.md): $(DIST)/netmon_VERSION_ARCH.deb for
# amd64, arm64 and armhf (the Raspberry Pi's 64- and 32-bit Raspberry Pi OS),
# from the binaries above. deploy/deb/ is the packager, a Go program of its
# own module that uses nfpm as a library (the files, the maintainer scripts
# and the conffile are there too); VERSION, git describe's, becomes a Debian
# version (v1.2.0-3-gabc1234 -> 1.2.0+3.gabc1234; before any tag,
# 0.0.0+COMMITS.gHASH).
DEBTOOL     := bin/netmon-deb
DEB_ARCHES  := amd64 arm64 armhf
DEB_VERSION  = $(shell $(DEBTOOL) -print-version -version '$(VERSION)')
.PHONY: $(DEBTOOL)
$(DEBTOOL):
	$(GO) -C deploy/deb build -o $(abspath $(DEBTOOL)) .
deb: $(DIST)/netmon-linux-amd64 $(RELEASES) $(DEBTOOL)
	@set -e; for a in $(DEB_ARCHES); do $(DEBTOOL) -arch $$a -version '$(VERSION)' -out $(DIST); done
	@cd $(DIST) && ls -l $(foreach a,$(DEB_ARCHES),netmon_$(DEB_VERSION)_$(a).deb)

# The packages' tests: the packager's own, lintian on all three, and an
# install test of the amd64 package with dpkg in a Debian chroot (made with
# debootstrap once, then kept as a tarball in DEB_CACHE): the user, the
# unit (systemd-analyze verify), netmon version, a replay as netmon, an
# upgrade, remove and purge, and what is left; the arm64 package's binary
# runs under qemu. Nothing is installed on this machine itself.
DEB_TEST_PKGS := lintian debootstrap dpkg-dev qemu-user-static file
DEB_CACHE     ?= /var/cache/netmon/deb-test
test-deb: deb
	@$(MAKE) --no-print-directory deps PKGS='$(DEB_TEST_PKGS)'
	$(GO) -C deploy/deb vet ./...
	NETMON_DEB_DIR=$(abspath $(DIST)) NETMON_DEB_VERSION=$(DEB_VERSION) NETMON_VERSION='$(VERSION)' \
	NETMON_DEB_TOOL=$(abspath $(DEBTOOL)) NETMON_DEB_CACHE=$(DEB_CACHE) \
		$(GO) -C deploy/deb test -count=1 -v -timeout 20m ./...

# $(call check-elf,FILE,PATTERN): file's description of FILE matches the
# grep PATTERN, and FILE loads libpcap.so.0.8.
check-elf = f=$$(file -b $(1)); echo "$(1): $$f"; \
	echo "$$f" | grep -q '$(2)' || { echo "$(1) is not $(2)"; exit 1; }; \
	readelf -d $(1) | grep -q 'NEEDED.*\[libpcap\.so\.0\.8\]' || { echo "$(1) does not load libpcap.so.0.8"; exit 1; }

# Installs the binary, the systemd unit, an example environment file and an
# example configuration file.
# DESTDIR stages the files elsewhere (packaging, the tests); PREFIX moves the
# binary. With a PREFIX other than /usr/local, edit ExecStart= to match.
# Then, as README.md "Operations" says: useradd --system netmon, copy the
# example to /etc/netmon/netmon.env (mode 600), systemctl enable --now netmon.
PREFIX     ?= /usr/local
UNITDIR    ?= /etc/systemd/system
SYSCONFDIR ?= /etc
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/netmon
	install -D -m 0644 deploy/systemd/netmon.service $(DESTDIR)$(UNITDIR)/netmon.service
	install -D -m 0600 deploy/systemd/netmon.env.example $(DESTDIR)$(SYSCONFDIR)/netmon/netmon.env.example
	install -D -m 0644 deploy/netmon.yaml $(DESTDIR)$(SYSCONFDIR)/netmon/netmon.yaml.example

clean:
	rm -rf bin $(DIST)
