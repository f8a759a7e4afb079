#!/bin/bash
# make bench: Go micro-benchmarks of the pure parts (natively), then the
# kernel scale benchmark (cmd/evpnhost-bench: evpnhost vs ip/bridge -batch
# vs ifupdown2, each in a fresh network namespace; in the VM when the
# kernel lacks VRF/802.1Q), then docs/benchmarks.md and its plot.
#
# Environment: BENCH_CASES (e.g. 100x10,1000x10; default the full matrix),
# BENCH_IFUPDOWN2_MAX (largest L2VNI count ifupdown2 runs at; default 1000;
# 0 skips it), BENCH_MICRO=0 skips the micro-benchmarks,
# EVPNHOST_BENCH_CPUPROFILE=PATH writes a CPU profile per evpnhost case,
# BENCH_KERNEL=0 skips the kernel scale benchmark and its report,
# BENCH_SINGLE=0 the single VXLAN device cases on the Debian 13 VM
# (BENCH_SINGLE_CASES, default 100x10s,4000x10s,1000x100s,1000x10s:
# ifupdown2 at 1000 last, it takes longest;
# BENCH_SINGLE_IFUPDOWN2_MAX, default 1000, 0 skips ifupdown2 there;
# BENCH_SINGLE_IFUPDOWN2_TIMEOUT, default 8m, per ifreload -a),
# BENCH_POLICY=0 the policy enforcement benchmark (BENCH_POLICY_RULES:
# rule counts, default 10,100,1000,10000), BENCH_FAILOVER=0 the failover
# benchmark on the lab (BENCH_FAILOVER_REPS: repetitions, default 5),
# BENCH_CONVERGENCE=0 the lab convergence benchmark
# (BENCH_CONVERGENCE_REPS: repetitions, default 5).
#
# ifupdown2 is never installed: its Debian package is unpacked into
# bin/bench/ifupdown2 with its own configuration pointing at a generated
# interfaces file, so neither this machine's /etc/network nor ifupdown is
# touched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
GO=${GO:-go}
out=$root/bin/bench
mkdir -p "$out"
t0=$(date +%s)

$GO build -o bin/evpnhost-bench ./cmd/evpnhost-bench

ifu_max=${BENCH_IFUPDOWN2_MAX:-1000}
ifu_args=()
if [ "$ifu_max" != 0 ] && [ "${BENCH_KERNEL:-1}" != 0 ]; then
	ifu=$out/ifupdown2
	if [ ! -e "$ifu/ifreload" ]; then
		echo "== unpacking ifupdown2 into $ifu (not installed)"
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download ifupdown2 >/dev/null 2>&1 || { apt-get update -qq && apt-get download ifupdown2; })
		dpkg -x "$tmp"/ifupdown2_*.deb "$tmp/root"
		rm -rf "$ifu" && mkdir -p "$ifu"
		cp -a "$tmp/root/usr/share/ifupdown2" "$ifu/share"
		# ifupdown2 reads its configuration next to its code when
		# /etc/network/ifupdown2 does not exist (ifupdown/config.py).
		[ ! -e /etc/network/ifupdown2/ifupdown2.conf ] || { echo "bench: /etc/network/ifupdown2 exists: ifupdown2 would read it" >&2; exit 1; }
		mkdir -p "$ifu/share/etc/network/ifupdown2"
		cp "$tmp/root/etc/network/ifupdown2/addons.conf" "$ifu/share/etc/network/ifupdown2/"
		sed -e "s|^default_interfaces_configfile=.*|default_interfaces_configfile=$ifu/interfaces|" \
			-e 's|^template_enable=.*|template_enable=0|' -e 's|^addon_scripts_support=.*|addon_scripts_support=0|' \
			"$tmp/root/etc/network/ifupdown2/ifupdown2.conf" >"$ifu/share/etc/network/ifupdown2/ifupdown2.conf"
		ln -s share/__main__.py "$ifu/ifreload"
		rm -rf "$tmp"
	fi
	ifu_args=(-ifupdown2 "$ifu" -ifupdown2-max "$ifu_max")
fi

if [ "${BENCH_MICRO:-1}" != 0 ]; then
	echo "== Go micro-benchmarks (native)"
	$GO test -run XXX -bench . -benchmem -benchtime 2x ./internal/kernel ./internal/plan ./internal/frr | tee "$out/micro.txt"
	grep -E '^(Benchmark|ok|goos|cpu)' "$out/micro.txt" >"$out/micro.sum" || true
else
	: >"$out/micro.sum"
fi

mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
export EVPNHOST_BENCH_HOST="$cpu, $(nproc) cores, $mem, kernel $(uname -r)"
export EVPNHOST_BENCH_CPUPROFILE=${EVPNHOST_BENCH_CPUPROFILE:-}

if [ "${BENCH_KERNEL:-1}" != 0 ]; then
echo "== kernel scale benchmark ($(e2e/vm/needed.sh))"
# ifupdown2's VRF addon writes /etc/iproute2/rt_tables.d: give it a private
# tmpfs there (private mount namespace), the host's /etc stays untouched.
inner="mount -t tmpfs bench /etc/iproute2/rt_tables.d && exec bin/evpnhost-bench run -out bin/bench/results.json ${BENCH_CASES:+-cases $BENCH_CASES} ${ifu_args[*]}"
e2e/vm/run-or-native.sh --timeout 3600 -e EVPNHOST_BENCH_HOST -e EVPNHOST_BENCH_CPUPROFILE -- \
	unshare -m --propagation private sh -c "$inner"

bin/evpnhost-bench report -results bin/bench/results.json -micro "$out/micro.sum" \
	-md docs/benchmarks.md -svg docs/benchmarks.svg -duration "$(( ($(date +%s) - t0) / 60 )) min"
fi

if [ "${BENCH_SINGLE:-1}" != 0 ]; then
	# The single VXLAN device (host.vxlanDevice: single) needs FRR >= 9 and
	# vnifilter (kernel >= 5.18): the Debian 13 platform's VM (kernel 6.12,
	# FRR 10.3, ifupdown2 3.0.0). Its ifupdown2 is unpacked from that root
	# like the one above (its own configuration, the guest's
	# /etc/network/ifupdown2 hidden under a tmpfs); FRR's zebra and bgpd run
	# in each case's namespace for the "FRR shows every VNI" time. Replaces
	# its own section of docs/benchmarks.md.
	troot=$(e2e/vm/root.sh trixie)
	sifu_args=()
	if [ "${BENCH_SINGLE_IFUPDOWN2_MAX:-1000}" != 0 ]; then
		sifu=$out/ifupdown2-trixie
		if [ ! -e "$sifu/ifreload" ]; then
			echo "== copying Debian 13's ifupdown2 into $sifu (not installed)"
			rm -rf "$sifu" && mkdir -p "$sifu"
			cp -a "$troot/usr/share/ifupdown2" "$sifu/share"
			mkdir -p "$sifu/share/etc/network/ifupdown2"
			cp "$troot/etc/network/ifupdown2/addons.conf" "$sifu/share/etc/network/ifupdown2/"
			sed -e "s|^default_interfaces_configfile=.*|default_interfaces_configfile=$sifu/interfaces|" \
				-e 's|^template_enable=.*|template_enable=0|' -e 's|^addon_scripts_support=.*|addon_scripts_support=0|' \
				"$troot/etc/network/ifupdown2/ifupdown2.conf" >"$sifu/share/etc/network/ifupdown2/ifupdown2.conf"
			ln -s share/__main__.py "$sifu/ifreload"
		fi
		sifu_args=(-ifupdown2 "$sifu" -ifupdown2-max "${BENCH_SINGLE_IFUPDOWN2_MAX:-1000}" -ifupdown2-timeout "${BENCH_SINGLE_IFUPDOWN2_TIMEOUT:-8m}")
	fi
	echo "== single VXLAN device scale benchmark (Debian 13 VM)"
	t1=$(date +%s)
	# Debian 13 has /etc/iproute2 without rt_tables.d (iproute2 6.15 reads
	# its defaults from /usr/share/iproute2): a tmpfs copy of /etc/iproute2
	# with an empty rt_tables.d.
	rtt="if [ -d /etc/iproute2/rt_tables.d ]; then mount -t tmpfs bench /etc/iproute2/rt_tables.d; else cp -a /etc/iproute2 /tmp/bench-iproute2 && mount -t tmpfs bench /etc/iproute2 && cp -a /tmp/bench-iproute2/. /etc/iproute2/ && mkdir /etc/iproute2/rt_tables.d; fi"
	inner="$rtt && { [ ! -d /etc/network/ifupdown2 ] || mount -t tmpfs bench /etc/network/ifupdown2; } && exec bin/evpnhost-bench run -out bin/bench/single.json -cases ${BENCH_SINGLE_CASES:-100x10s,4000x10s,1000x100s,1000x10s} -frr /usr/lib/frr ${sifu_args[*]}"
	e2e/vm/run-or-native.sh --platform trixie --timeout 3600 -e EVPNHOST_BENCH_HOST -e EVPNHOST_BENCH_CPUPROFILE -- \
		unshare -m --propagation private sh -c "$inner"
	bin/evpnhost-bench single -results bin/bench/single.json -md docs/benchmarks.md -svg docs/benchmarks-single.svg \
		-duration "$(( ($(date +%s) - t1) / 60 )) min"
fi
if [ "${BENCH_POLICY:-1}" != 0 ]; then
	# Policy enforcement (eBPF, nftables, none; iperf3 UDP packet rate and
	# TCP throughput, ping, connects; 5 interleaved rounds, ~10 min in the VM)
	# between two workload namespaces; nftables needs bridge conntrack,
	# hence the VM on kernels without it. Replaces its own section of
	# docs/benchmarks.md (the report above keeps it).
	echo "== policy enforcement benchmark ($(e2e/vm/needed.sh))"
	e2e/vm/run-or-native.sh --timeout 3600 -e EVPNHOST_BENCH_HOST -- \
		bin/evpnhost-bench policy -out bin/bench/policy.json -md docs/benchmarks.md ${BENCH_POLICY_RULES:+-rules $BENCH_POLICY_RULES}
fi
if [ "${BENCH_FAILOVER:-1}" != 0 ]; then
	# An uplink of a lab host cut and restored under traffic, with and
	# without BFD: needs the lab (VRF, 802.1Q: the VM on kernels without
	# them). Replaces its own section of docs/benchmarks.md.
	echo "== failover benchmark ($(e2e/vm/needed.sh))"
	make --no-print-directory build >/dev/null
	e2e/vm/run-or-native.sh --timeout 3600 -e EVPNHOST_BENCH_HOST -- sh -c \
		"lab/lab.sh up && bin/evpnhost-bench failover -out bin/bench/failover.json -md docs/benchmarks.md -reps ${BENCH_FAILOVER_REPS:-5}; rc=\$?; lab/lab.sh down; exit \$rc"
fi
if [ "${BENCH_CONVERGENCE:-1}" != 0 ]; then
	# Convergence on the lab fabric (attach, move, network added through
	# the agents and etcd): e2e/bench_convergence_test.go, in the VM when
	# the kernel lacks VRF/802.1Q. Replaces its own section.
	echo "== convergence benchmark on the lab ($(e2e/vm/needed.sh))"
	t1=$(date +%s)
	$GO test -c -o bin/tests/e2e.test ./e2e
	$GO build -o bin/evpnhost ./cmd/evpnhost
	rm -f "$out/convergence.json"
	e2e/vm/run-or-native.sh --timeout 3600 -e EVPNHOST_BENCH_HOST -e EVPNHOST_E2E=1 \
		-e EVPNHOST_BENCH_CONVERGENCE="$out/convergence.json" -e EVPNHOST_BENCH_REPS="${BENCH_CONVERGENCE_REPS:-5}" -- \
		sh -c 'cd e2e && exec ../bin/tests/e2e.test -test.v -test.timeout 50m -test.run "^TestBenchConvergence$"'
	bin/evpnhost-bench convergence -in "$out/convergence.json" -md docs/benchmarks.md -duration "$(( ($(date +%s) - t1) / 60 )) min"
fi
echo "== wrote docs/benchmarks.md and docs/benchmarks.svg in $(( $(date +%s) - t0 ))s"
