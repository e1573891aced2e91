# netmon — see README.md. `sudo make run IFACE=eth0` sets up, builds, migrates
# and captures; `make test` runs every test, as CI does.

GO       ?= go
BIN      ?= bin/netmon
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/netmon/netmon/cmd.version=$(VERSION)
IFACE    ?= eth0
# The database netmon writes to; migrate creates it when it is missing.
DSN      ?= $(if $(NETMON_DSN),$(NETMON_DSN),root@tcp(127.0.0.1:3306)/netmon)
ARGS     ?=

# Debian packages the build and the tests need.
DEB_PKGS := libpcap-dev tcpreplay tcpdump iproute2 mariadb-server mariadb-client

.PHONY: all build run deps mariadb test lint unit bench fuzz clean

all: build

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/netmon

# The main job: install what is missing, build, create/migrate the schema, capture.
run: deps mariadb build
	$(BIN) migrate --dsn '$(DSN)'
	$(BIN) run -i $(IFACE) --dsn '$(DSN)' $(ARGS)

# Installs the Debian packages that are missing (needs root).
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
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

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
