# appbackend: one command runs every test (`make test`), one runs the benchmarks (`make bench`).
# Whatever the tests need is installed or started here, and stopped again.

GO       ?= go
NODE_DIR := testdata/node
UI_DIR   := clients/ui-extension
export APPBACKEND_NODE_MODULES := $(CURDIR)/$(NODE_DIR)/node_modules
GATEWAY_NODE := examples/gateway-node
# The gateway end-to-end tests fail instead of skipping when the Node example is missing.
export APPBACKEND_REQUIRE_EXAMPLES := 1
# The container image's test fails instead of skipping when podman is missing.
export APPBACKEND_REQUIRE_PODMAN := 1

# VERSION and COMMIT are stamped into the binary (`appbackend version`) by build and image;
# scripts/version.sh derives the version from git as Go's pseudo-versions do.
VERSION ?= $(shell ./scripts/version.sh 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := $(if $(VERSION),-X github.com/appbackend/appbackend/cli.version=$(VERSION)) $(if $(COMMIT),-X github.com/appbackend/appbackend/cli.commit=$(COMMIT))
BIN     ?= appbackend
# BUILD_PKG is the main package build makes: any binary on package cli takes the same stamp,
# e.g. `make build BUILD_PKG=./examples/invoicetagger BIN=invoicetagger`.
BUILD_PKG ?= ./cmd/appbackend
# CONTAINER builds the image: podman (BUILDAH_FORMAT=docker keeps its HEALTHCHECK) or docker.
CONTAINER ?= podman
IMAGE     ?= appbackend

.PHONY: all build image podman promtool test check node-deps ui-deps browser gotest uitest fuzz bench bench-gateway bench-retention clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) $(BUILD_PKG)

# image builds the container image (Containerfile) from golang:1.26; GO_IMAGE names another
# builder image with a Go toolchain.
image:
	BUILDAH_FORMAT=docker $(CONTAINER) build -f Containerfile -t $(IMAGE) \
		--build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) $(if $(GO_IMAGE),--build-arg GO_IMAGE=$(GO_IMAGE)) .

# node-deps installs the Node peers (stripe-node, express) the tests compare against.
node-deps: $(NODE_DIR)/node_modules/.package-lock.json $(GATEWAY_NODE)/node_modules/.package-lock.json

$(GATEWAY_NODE)/node_modules/.package-lock.json: $(GATEWAY_NODE)/package.json $(GATEWAY_NODE)/package-lock.json
	cd $(GATEWAY_NODE) && npm ci --no-audit --no-fund --loglevel=error

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

# ui-deps installs the UI-extension client's dev dependencies (TypeScript, the SDK, stripe-node).
ui-deps: $(UI_DIR)/node_modules/.package-lock.json

$(UI_DIR)/node_modules/.package-lock.json: $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	cd $(UI_DIR) && npm ci --no-audit --no-fund --loglevel=error

# browser installs Debian's chromium for the admin dashboard's browser test when missing.
browser:
	@./scripts/chromium.sh >/dev/null

# promtool installs Debian's prometheus (for promtool) when missing: the Go test
# prometheus_rules_test.go checks and unit-tests deploy/prometheus-rules.yml with it.
promtool:
	@./scripts/promtool.sh >/dev/null

# podman installs Debian's podman and runc for the container image's test when missing, and
# builds the image ahead of the test (a first build compiles for minutes).
podman:
	@./scripts/podman.sh warm >/dev/null

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

# FUZZTIME is how much each fuzz target explores beyond its seed corpus in `make test`: a
# count of inputs, not a duration. A duration races Go's fuzzing coordinator at its end
# (go.dev/issue/75804, fixed in Go 1.27): on a loaded machine a target then fails with a
# bare "context deadline exceeded" and no failing input, which a count cannot cause.
FUZZTIME ?= 100000x
FUZZ_TARGETS := ./internal/jsjson:FuzzParse ./internal/jsjson:FuzzStringify ./internal/jsjson:FuzzCanonical \
	./appauth:FuzzParseHeader ./appauth:FuzzVerifyRequest ./appauth:FuzzScanBodyMatchesParser \
	./internal/schedule:FuzzParseSpec ./internal/webhook:FuzzParseEnvelope

# test starts the services the tests need (scripts/with-services.sh), runs every Go test,
# the UI-extension client's tests and the fuzz targets, and stops the services again.
test: node-deps ui-deps browser promtool podman check
	./scripts/with-services.sh $(MAKE) --no-print-directory gotest uitest fuzz

gotest:
	$(GO) test -count=1 -timeout 12m ./...

# uitest builds and tests the UI-extension client (unit, type-check, npm pack, and end to
# end against appbackend serve and the examples; stripe-mock from with-services.sh).
uitest: ui-deps
	cd $(UI_DIR) && npm test --silent

# fuzz runs every parser's fuzz target on FUZZTIME inputs (their seed corpora already ran in gotest).
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) > .fuzz.log 2>&1 || { cat .fuzz.log; rm -f .fuzz.log; exit 1; }; \
		tail -n 1 .fuzz.log; \
	done; rm -f .fuzz.log

bench: node-deps
	@./scripts/with-services.sh ./bench/run.sh

# bench-gateway measures gateway mode: the proxy's overhead against the upstream directly
# and against Debian's nginx (scripts/nginx.sh installs it when missing), rounds taking
# turns, and event delivery (SQLite).
bench-gateway: build
	$(GO) run ./bench/cmd/gatewaybench -bin ./appbackend -nginx "$$(./scripts/nginx.sh)"

# bench-retention measures APPBACKEND_PROCESSED_RETENTION on SQLite and PostgreSQL: bytes per
# event and per tombstone, a simulated week's database size, ack p99 during a large prune.
bench-retention: build
	@./scripts/with-services.sh $(GO) run ./bench/cmd/retention -bin ./appbackend

clean:
	rm -f appbackend
