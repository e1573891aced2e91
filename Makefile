# netmon — see README.md. `sudo make run IFACE=eth0` sets up, builds, migrates
# and captures; `make test` runs every test, as CI does.

GO       ?= go
BIN      ?= bin/netmon
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/netmon/netmon/cmd.version=$(VERSION)
IFACE    ?= eth0
# The database netmon writes to. Empty (and no NETMON_DSN): netmon's own
# SQLite file, /var/lib/netmon/netmon.db as root, which it creates and
# migrates itself. Otherwise MariaDB, e.g. DSN='root@tcp(127.0.0.1:3306)/netmon',
# whose database migrate creates when it is missing.
DSN      ?= $(NETMON_DSN)
ARGS     ?=

# Debian packages the build and the tests need; the build alone needs libpcap.
DEB_PKGS   := libpcap-dev tcpreplay tcpdump iproute2 mariadb-server mariadb-client systemd
BUILD_PKGS := libpcap-dev
PKGS       ?= $(DEB_PKGS)

.PHONY: all build run deps mariadb test lint unit bench fuzz fuzz-short clean install

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

# Installs the Debian packages that are missing (needs root).
deps:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

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
# captures, real MariaDB, live capture on a veth pair, short fuzz runs).
test: deps mariadb lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz-short

# Every fuzz target for FUZZTIME each, one at a time (go test -fuzz takes
# one target per run). A longer hunt: make fuzz-short FUZZTIME=10m.
FUZZTIME    ?= 10s
FUZZTARGETS := capture:FuzzDecode resolver:FuzzDNS resolver:FuzzDNSTCP resolver:FuzzTLS resolver:FuzzHTTP resolver:FuzzQUIC
fuzz-short:
	@set -e; for t in $(FUZZTARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Speed, as BENCHMARKS.md reports it: every Go benchmark with -benchmem (each
# stage and the whole pipeline), then the whole-process comparison with
# tcpdump on a >= 2M-packet workload built from the shared captures, then
# the live drop test on a veth pair (root).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash bench/compare.sh
	bash bench/live.sh

# Installs the binary, the systemd unit and an example environment file.
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

clean:
	rm -rf bin
