#!/bin/bash
# `make demo`: build the lab fabric (2 TORs, 3 hosts configured by
# evpnhost, workloads of tenants red and blue, a bare-metal server behind
# tor1, an external network behind tor2), then show each host's status and
# check reachability. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { printf '\n== %s\n' "$*"; }

say "building the lab (this takes a minute or more inside the VM)"
lab/lab.sh up

for h in h1 h2 h3; do
	say "evpnhost status on $h"
	ip netns exec "$h" bin/evpnhost status --frr-instance "$h"
done

fail=0
check() { # check EXPECT DESCRIPTION NS CMD...
	local expect=$1 what=$2 ns=$3
	shift 3
	if ip netns exec "$ns" "$@" >/dev/null 2>&1; then got=reachable; else got=unreachable; fi
	if [ "$got" = "$expect" ]; then mark=ok; else mark=FAIL; fail=1; fi
	printf '  %-4s %-58s %s\n' "$mark" "$what" "$got"
}

say "underlay: every other host's VTEP over two next hops (one per TOR)"
declare -A vtep=([h1]=10.0.0.1 [h2]=10.0.0.2 [h3]=10.0.0.3)
for h in h1 h2 h3; do
	for o in h1 h2 h3; do
		[ "$h" = "$o" ] && continue
		hops=$(ip -n "$h" route show "${vtep[$o]}" | grep -o 'dev up[12]' | sort -u | tr '\n' ' ')
		printf '  %s -> %s via %s\n' "$h" "${vtep[$o]}" "$hops"
		[ "$(wc -w <<<"$hops")" = 4 ] || { echo "  FAIL: expected two next hops"; fail=1; }
		check reachable "$h VTEP ${vtep[$h]} -> $o VTEP ${vtep[$o]}" "$h" ping -c1 -W2 -I "${vtep[$h]}" "${vtep[$o]}"
	done
done

say "overlay reachability"
p() { echo ping -c2 -i0.2 -W2 "$@"; }
check reachable   "red/web h1 -> red/web h2 (L2 over VXLAN)"        rweb1 $(p 10.1.10.12)
check reachable   "red/web h1 -> red/web h2, IPv6"                  rweb1 $(p -6 fd00:10::12)
check reachable   "red/web h1 -> red/app h3 (routed, symmetric IRB)" rweb1 $(p 10.1.20.13)
check reachable   "blue/web h1 -> blue/web h2 (same IPs as red)"     bweb1 $(p 10.1.10.12)
check unreachable "blue/web h1 -> red/app h3 (tenants isolated)"     bweb1 $(p 10.1.20.13)
check reachable   "red/web h1 -> bare-metal server behind tor1"      rweb1 $(p 10.1.10.100)
check reachable   "red/web h1 -> external 192.0.2.10 via tor2"       rweb1 $(p 192.0.2.10)
check unreachable "blue/web h1 -> external (red only)"              bweb1 $(p 192.0.2.10)
check reachable   "VM on a tap (h3) -> red/web h1"                   rtap3 $(p 10.1.10.11)

if command -v dockerd >/dev/null && command -v docker >/dev/null; then
	say "Docker: a container on red/web through evpnhost docker-plugin"
	. lab/demo-docker.sh
	demo_docker
else
	say "Docker: not installed here (the Debian 13 platform, make demo's default, has it)"
fi

say "demo finished in $(( $(date +%s) - t0 ))s"
if [ $fail != 0 ]; then
	echo "some checks FAILED"
	exit 1
fi
echo "all checks passed."
echo "On a full kernel the lab stays up: explore with lab/lab.sh status, lab/lab.sh exec h1 bin/evpnhost status --frr-instance h1; remove it with lab/lab.sh down. Inside the VM it is gone with the VM."
