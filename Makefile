# osdr — run `make help` for the targets.

GO            ?= go
LOCAL_IMAGE   := osdr/mariadb:local
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOTESTSUM     := gotest.tools/gotestsum@v1.13.0

# Tests start their MariaDB through testcontainers-go. Without Ryuk (it cannot be pulled everywhere) testenv
# stops its containers itself and removes those a killed run left. Published ports are reached on localhost.
export TESTCONTAINERS_RYUK_DISABLED ?= true
export TESTCONTAINERS_HOST_OVERRIDE ?= localhost
# Use the locally built image when there is one (`make image`); otherwise testenv pulls the official image.
OSDR_TEST_MYSQL_IMAGE ?= $(shell docker image inspect $(LOCAL_IMAGE) >/dev/null 2>&1 && echo $(LOCAL_IMAGE))
export OSDR_TEST_MYSQL_IMAGE

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Every report and metric names the build that made it. The date is the commit's, not the clock's, so two
# builds of one commit are the same binary.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null)
VERSION_PKG := github.com/osdr/osdr/internal/version
LDFLAGS := -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).date=$(DATE)

# Static binaries: the image is FROM scratch, and an operator copies osdr onto a broken cloud's hosts as is.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: build
build: bin/osdr bin/osdr-lab ## Build bin/osdr (the operator binary) and bin/osdr-lab (simulated cloud, demo), static

# Phony, so every build asks go, which knows what changed.
.PHONY: bin/osdr bin/osdr-lab
bin/osdr:
	$(GOBUILD) -o $@ ./cmd/osdr
bin/osdr-lab:
	$(GOBUILD) -o $@ ./cmd/osdr-lab

.PHONY: demo
demo: build ## Run a complete drill against a simulated cloud (MariaDB in a container when an engine answers, else embedded)
	bin/osdr-lab demo

.PHONY: container
container: bin/osdr ## Build the osdr container image from bin/osdr alone (FROM scratch, static binary)
	cp /etc/ssl/certs/ca-certificates.crt bin/ca-certificates.crt
	docker build -t osdr:latest .

.PHONY: test
test: ## Run every test (needs a container engine or OSDR_TEST_MYSQL_DSN)
	@echo "MySQL for tests: $${OSDR_TEST_MYSQL_DSN:+the server in OSDR_TEST_MYSQL_DSN}$${OSDR_TEST_MYSQL_DSN:-a container from $${OSDR_TEST_MYSQL_IMAGE:-the official MariaDB image}}"
	@# The fault-injection tests are skipped under -race (the detector flags reused memory there, see the
	@# tests); run them without.
	$(GO) run $(GOTESTSUM) --format testname -- -count=1 -run 'TestFaultsKeepTheDatabasesConsistent|TestFaultPhases' ./testenv/cloud ./testenv/cloud/osapi
	$(GO) run $(GOTESTSUM) --format testname -- -race -count=1 ./...

# The figures osdr is held to, measured side by side in one run (ratios: the machines are shared and noisy).
# BENCH_LARGE=1 adds the 10,000-instance and 100,000-volume rows; BENCH_JSON=path writes every figure as JSON.
BENCH_PACKAGES := ./cmd/osdr ./recover ./inject ./suites ./testenv/cloud
BENCH_OUT      := bin/bench.txt

.PHONY: bench
bench: SHELL := /bin/bash
bench: build ## Benchmarks: a table of ratios (to the lower bound, to the guide's sequence); BENCH_LARGE=1, BENCH_JSON=path
	@mkdir -p bin
	set -o pipefail; BENCH_LARGE=$(BENCH_LARGE) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 45m $(BENCH_PACKAGES) | tee $(BENCH_OUT)
	@echo
	bin/osdr-lab bench-table $(if $(BENCH_JSON),--json $(BENCH_JSON)) < $(BENCH_OUT)

# Kill a large recovery as `kill -9` would at seeded journal points and resume it (outside CI: about a minute
# per point at 1,000 instances).
KILL_POINTS    ?= 50
KILL_INSTANCES ?= 1000
KILL_SEED      ?= 1

.PHONY: kill-points
kill-points: SHELL := /bin/bash
kill-points: ## Kill a 1,000-instance recovery at KILL_POINTS seeded journal points and resume each (outside CI)
	set -o pipefail; OSDR_KILL_POINTS=$(KILL_POINTS) OSDR_KILL_INSTANCES=$(KILL_INSTANCES) OSDR_KILL_SEED=$(KILL_SEED) \
		$(GO) test -count=1 -timeout 4h -run '^TestKillPointsAtScale$$' -v ./cmd/osdr \
		| grep --line-buffered -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|killpoints_e2e_test.go'

# Every fuzz target, FUZZTIME each, one after another: the packages whose tests hold one, each asked for its
# list (go test -list). An input that fails is written to the package's testdata/fuzz/, where it stays as a
# regression test once checked in.
FUZZTIME ?= 5m

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 5m), one after another
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for target in $$($(GO) test -list '^Fuzz' $$dir | grep '^Fuzz'); do \
	    echo "== $$dir $$target for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

.PHONY: lint
lint: ## gofmt check, go vet, staticcheck
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

.PHONY: image
image: ## Build the local MariaDB test image (osdr/mariadb:local) with debootstrap
	testenv/mariadb-image/build.sh $(LOCAL_IMAGE)
