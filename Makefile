# appbackend: one command runs every test (`make test`), one runs the benchmarks (`make bench`).
# Whatever the tests need is installed or started here, and stopped again.

GO       ?= go
NODE_DIR := testdata/node
export APPBACKEND_NODE_MODULES := $(CURDIR)/$(NODE_DIR)/node_modules

.PHONY: all build test check node-deps gotest bench clean

all: build

build:
	$(GO) build -o appbackend ./cmd/appbackend

# node-deps installs the Node peers (stripe-node, express) the tests compare against.
node-deps: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: node-deps check
	$(GO) test -count=1 -timeout 12m ./...

bench: node-deps
	./bench/run.sh

clean:
	rm -f appbackend
