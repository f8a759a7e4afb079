#!/bin/bash
# Install what evpnhost's tests and demo need on a Debian 12 machine, as
# root: FRR and the network tools, the VM runner's packages (only when the
# running kernel lacks VRF, 802.1Q or dummy), and the Go modules.
# Fast and silent when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(frr frr-pythontools iproute2 iputils-ping tcpdump procps kmod jq make etcd-server etcd-client curl
	clang llvm libbpf-dev iperf3 # these four: make generate (eBPF policy) and make bench
	gcc libc6-dev) # cgo for go test -race (make test-unit)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# frr's package starts the system instance when systemd runs; evpnhost's
# tests use their own pathspaces and never touch it.
# The trixie platform (Debian 13, FRR 10.3: make demo's default and make
# test's second pass) always runs in the VM, booting a root that
# e2e/vm/root.sh builds with debootstrap once (a few minutes) and caches.
# Skipped only when neither wants it (EVPNHOST_PLATFORMS without trixie and
# PLATFORM=bookworm).
trixie=0
case " ${EVPNHOST_PLATFORMS:-bookworm trixie} ${PLATFORM:-trixie} " in
*" trixie "*) trixie=1 ;;
esac
if [ "$trixie" = 1 ] || [ "$(e2e/vm/needed.sh)" = vm ]; then
	e2e/vm/deps.sh
fi
if [ "$trixie" = 1 ]; then
	e2e/vm/root.sh trixie >/dev/null
fi
go mod download
# CNI test tools, pinned by go.mod's tool directives (no Debian
# containernetworking-plugins): cnitool drives the plugin in the e2e tests,
# host-local is the IPAM plugin the lab's CNI configs delegate to.
export GOFLAGS=${GOFLAGS:--buildvcs=false}
go build -o bin/cnitool github.com/containernetworking/cni/cnitool
go build -o bin/cni/host-local github.com/containernetworking/plugins/plugins/ipam/host-local
