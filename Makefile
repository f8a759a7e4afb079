# evpnhost — see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
TESTBIN := $(BIN)/tests
export GOFLAGS ?= -buildvcs=false

.PHONY: help deps build generate test test-unit testbins test-priv e2e soak demo bench fuzz lint fmt verify clean

help: ## list targets (make verify checks that every target is here and in .PHONY)
	@grep -E '^[A-Za-z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install what the tests and the demo need (apt packages, Go modules); idempotent
	@scripts/deps.sh

build: ## build bin/evpnhost, bin/evpnhost-cni, and the CNI test tools (bin/cnitool, bin/cni/host-local; pinned in go.mod)
	$(GO) build -o $(BIN)/evpnhost ./cmd/evpnhost
	$(GO) build -o $(BIN)/evpnhost-cni ./cmd/evpnhost-cni
	$(GO) build -o $(BIN)/tapwire ./lab/tapwire
	$(GO) build -o $(BIN)/cnitool github.com/containernetworking/cni/cnitool
	$(GO) build -o $(BIN)/cni/host-local github.com/containernetworking/plugins/plugins/ipam/host-local

generate: ## regenerate the eBPF objects and their Go bindings (bpf2go, clang; a unit test checks the committed ones are current), the Kubernetes deepcopy code and CRDs (controller-gen)
	$(GO) generate ./internal/policy/ebpf
	@GO=$(GO) scripts/kube-gen.sh

test: deps build test-unit test-priv ## everything: unit, FRR goldens, privileged netns tests and the lab e2e (in the VM when the kernel lacks VRF/802.1Q)

# The pure core: it must build for any OS (internal/archtest checks what it
# imports).
PURE_PKGS := ./api ./internal/plan ./internal/kernel ./internal/frr ./internal/policy

test-unit: ## the pure core built for darwin, then unit, golden and fuzz-seed tests with the race detector (FRR's parser checks the goldens; internal/kube and e2e without it), then each fuzz target for 3s; native
	GOOS=darwin CGO_ENABLED=0 $(GO) build $(PURE_PKGS)
	EVPNHOST_REQUIRE_FRR=1 EVPNHOST_REQUIRE_ETCD=1 $(GO) test -race $$($(GO) list ./... | grep -v -e /internal/kube -e /e2e$$)
	@# internal/kube and e2e link the whole Kubernetes API server (its test
	@# server): without -race, so a fresh machine compiles it once, not twice.
	EVPNHOST_REQUIRE_ETCD=1 $(GO) test ./internal/kube/... ./e2e
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

testbins: build ## compile the privileged test binaries into bin/tests/ (test-priv runs them, in the VM if needed)
	@mkdir -p $(TESTBIN)
	$(GO) test -c -o $(TESTBIN)/linux.test ./internal/linux
	$(GO) test -c -o $(TESTBIN)/e2e.test ./e2e
	$(GO) test -c -o $(TESTBIN)/policy-ebpf.test ./internal/policy/ebpf
	$(GO) test -c -o $(TESTBIN)/policy-nft.test ./internal/policy/nft
	$(GO) test -c -o $(TESTBIN)/frrctl.test ./internal/frrctl

# The platforms test-priv runs on, in order (e2e/test-priv.sh):
# bookworm (Debian 12, FRR 8.4: the whole suite, natively or in the VM) and
# trixie (Debian 13, kernel 6.12, FRR 10.3, in the VM: the kernel and policy
# tiers and the lab scenarios E2E_RUN_TRIXIE). EVPNHOST_PLATFORMS=bookworm
# skips trixie; E2E_RUN, when set, selects the scenarios on every platform.
EVPNHOST_PLATFORMS ?= bookworm trixie
# trixie's scenarios (docs/testing.md, "Two platforms"): every TestOverlay*
# (the seed scenario, bare-metal interop, tenant removal) on per-VNI
# devices, the leaks, every fault test (TestFault*: TOR down, host reboot,
# uplink flaps, a TOR's FRR restarted, a lowered underlay MTU, and mgmtd and
# zebra killed alone, FRR >= 9 only), CNI, Docker, and the seed scenario
# again on the single VXLAN device (TestSingleVXLANDevice).
E2E_RUN_TRIXIE ?= ^(TestOverlay(SameNetworkAcrossHosts|RoutedOnSourceHost|TenantsIsolated|BareMetalOnSwitchVNI|BorderDefaultRoute|TapWorkload|ARPSuppression|SilentWorkload|MoveWorkload|RemoveTenant|StatusPerTenant|UnknownWorkloadKeptFresh)|TestVXLANDeviceInUse|TestLeak(SameHost|OtherHost|BlueSeesNothing|NoReexport|OneWayControlPlane|OneWayDataPlane)|TestFault.*|TestCNI.*|TestDocker|TestSingleVXLANDevice)$$
export EVPNHOST_PLATFORMS E2E_RUN_TRIXIE

test-priv: testbins ## privileged netns tests and lab scenarios on each platform (EVPNHOST_PLATFORMS: bookworm, then trixie), one VM boot each if needed
	e2e/test-priv.sh

e2e: test-priv ## alias of test-priv

SOAK_N ?= 10
soak: testbins ## run the lab's fault tests (TestFault*) SOAK_N times (default 10) in one lab, in the VM if needed; reports each run's result and time (scripts/soak.sh)
	SOAK_N=$(SOAK_N) scripts/soak.sh

# make demo's platform: trixie (Debian 13, FRR 10.3, in the VM) or bookworm
# (Debian 12, FRR 8.4: the host's own system, natively when its kernel can).
PLATFORM ?= trixie
export PLATFORM

demo: deps build ## bring up the demo fabric (2 TORs, 3 hosts), print status and reachability; PLATFORM=trixie (default) or bookworm
	@case "$(PLATFORM)" in \
	trixie) e2e/vm/run.sh --platform trixie --timeout 1800 -- lab/demo.sh ;; \
	bookworm) e2e/vm/run-or-native.sh --timeout 1800 -- lab/demo.sh ;; \
	*) echo "make demo: PLATFORM must be trixie or bookworm, not '$(PLATFORM)'" >&2; exit 2 ;; \
	esac

bench: ## benchmarks (Go micro-benchmarks; kernel apply vs ifupdown2 and ip -batch; eBPF vs nftables policy; lab convergence: attach, move, network added via agents+etcd; in the VM if needed; up to 30 min): writes docs/benchmarks.md
	scripts/bench.sh

FUZZ_TARGETS := ./api:FuzzParseValidate ./internal/cni:FuzzParseConfig ./internal/frr:FuzzRender ./internal/kernel:FuzzDiff
fuzz: ## run each fuzz target for FUZZTIME (default 30s); seed corpora in */testdata/fuzz/ (scripts/fuzz.sh)
	@GO=$(GO) scripts/fuzz.sh $(FUZZ_TARGETS)

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...

fmt: ## gofmt -w
	gofmt -w .

# The packages whose tests take -update to rewrite their goldens.
GOLDEN_PKGS := ./api ./internal/frr ./internal/plan ./internal/policy ./internal/kernel/kerneltest ./internal/reconcile ./internal/attach ./internal/kube
verify: ## regenerate the eBPF objects, the goldens and go.mod/go.sum and fail on any diff; check make help, README's layout, that git tracks no binary
	@GO=$(GO) scripts/kube-gen.sh --check
	@$(MAKE) --no-print-directory generate
	@GO=$(GO) scripts/check-ebpf.sh
	$(GO) test -count=1 $(GOLDEN_PKGS) -args -update
	$(GO) mod tidy
	@scripts/check-help.sh
	@GO=$(GO) scripts/check-layout.sh
	@scripts/check-binaries.sh
	@scripts/check-clean.sh

clean: ## remove build output
	rm -rf $(BIN)
