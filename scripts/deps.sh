#!/bin/bash
# Install what evpnhost's tests and demo need on a Debian 12 machine, as
# root: FRR and the network tools, the VM runner's packages (only when the
# running kernel lacks VRF, 802.1Q or dummy), and the Go modules.
# Fast and silent when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(frr frr-pythontools iproute2 iputils-ping tcpdump procps kmod jq make etcd-server etcd-client curl
	clang llvm libbpf-dev iperf3 # these four: make generate (eBPF policy) and make bench
	gcc libc6-dev # cgo for go test -race (make test-unit)
	docker.io containerd runc iptables) # the Docker network plugin's lab test (TestDocker) starts its own dockerd per lab host
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# docker.io's and containerd's services are not started by the install
	# (the lab test runs its own daemons, in the lab's namespaces): a
	# system dockerd would set the host's FORWARD policy to DROP. A
	# policy-rc.d of the machine's own is left alone.
	# The trap removes ours however the install ends (a failure, Ctrl-C).
	own_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		own_policy=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
	fi
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	if [ "$own_policy" = 1 ]; then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
	# Not started now, and not at the next boot either, when deps.sh
	# installed them (a machine that already had Docker keeps its setup).
	for p in "${missing[@]}"; do
		case $p in
		docker.io) systemctl disable docker.service docker.socket >/dev/null 2>&1 || true ;;
		containerd) systemctl disable containerd.service >/dev/null 2>&1 || true ;;
		esac
	done
fi
# No service is started by the install (policy-rc.d above), frr's system
# instance neither: evpnhost's tests and demo use their own pathspaces and
# never touch it.
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
