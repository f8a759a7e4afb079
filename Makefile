# evpnhost — see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
TESTBIN := $(BIN)/tests
export GOFLAGS ?= -buildvcs=false

.PHONY: help deps build test test-unit test-priv e2e demo lab-up lab-down bench fuzz lint fmt clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install what the tests and the demo need (apt packages, Go modules); idempotent
	@scripts/deps.sh

build: ## build bin/evpnhost
	$(GO) build -o $(BIN)/evpnhost ./cmd/evpnhost

test: deps build test-unit test-priv ## everything: unit, FRR goldens, privileged netns tests and the lab e2e (in the VM when the kernel lacks VRF/802.1Q)

test-unit: ## unit, golden and fuzz-seed tests (FRR's parser checks the goldens); native
	EVPNHOST_REQUIRE_FRR=1 $(GO) test ./...

testbins: build
	@mkdir -p $(TESTBIN)
	$(GO) test -c -o $(TESTBIN)/kernel.test ./internal/kernel
	$(GO) test -c -o $(TESTBIN)/e2e.test ./e2e

test-priv: testbins ## privileged netns tests and lab scenarios, booting the VM once if needed
	e2e/vm/run-or-native.sh -e EVPNHOST_REQUIRE_KERNEL=1 -e EVPNHOST_REQUIRE_FRR=1 -e E2E_RUN -- e2e/privileged.sh

e2e: test-priv ## alias of test-priv

demo: deps build ## bring up the demo fabric (2 TORs, 3 hosts), print status and reachability
	e2e/vm/run-or-native.sh -- lab/demo.sh

bench: build ## benchmarks (pure parts)
	$(GO) test -run XXX -bench . -benchmem ./...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	$(GO) test ./api -run XXX -fuzz FuzzParseValidate -fuzztime $${FUZZTIME:-30s}

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...

fmt: ## gofmt -w
	gofmt -w .

clean: ## remove build output
	rm -rf $(BIN)
