#!/bin/bash
# The privileged test tiers, run by `make test-priv` (e2e/test-priv.sh) on
# each platform, natively or inside the VM: kernel round trips in throwaway
# namespaces, policy, then the lab scenarios (E2E_RUN), then, when the
# other platform's root is mounted (EVPNHOST_ALT_ROOT) and E2E_RUN_MIXED is
# set, the lab once more with the TORs on that root's FRR. Test binaries
# are built beforehand on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export EVPNHOST_E2E=1
t0=$(date +%s)
# Which platform this is (e2e/test-priv.sh runs this file on several).
os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
# tier NAME TEXT: a tier's header, with the seconds since the start (the
# summary of e2e/test-priv.sh lists them: where a cut-short run spent
# its time).
tier() { echo "== [$(( $(date +%s) - t0 ))s tier $1] $2"; }
echo "== platform: ${os:-unknown}, kernel $(uname -r), $(/usr/lib/frr/zebra --version 2>/dev/null | head -1 || echo "no FRR")"
tier kernel "privileged kernel tests (netlink round trips in fresh namespaces)"
# LINUX_SKIP: kernel tests to skip here (e2e/test-priv.sh skips the
# 4000-VNI scale test on bookworm: it runs on trixie, whose kernel it is for).
(cd internal/linux && "$root/bin/tests/linux.test" -test.run Privileged ${LINUX_SKIP:+-test.skip "$LINUX_SKIP"} -test.v)
tier policy "privileged policy tests (eBPF and nftables, real traffic between namespaces)"
(cd internal/policy/ebpf && "$root/bin/tests/policy-ebpf.test" -test.run Privileged -test.v)
(cd internal/policy/nft && "$root/bin/tests/policy-nft.test" -test.run Privileged -test.v)
tier frr "FRR as installed (8.4 or 10.x): version, every golden loaded and checked, mgmtd's silent drop, daemons restarted alone"
(cd internal/frrctl && EVPNHOST_REQUIRE_FRR=1 "$root/bin/tests/frrctl.test" -test.run RealFRR -test.v)
tier lab "lab end-to-end scenarios"
# The mixed pass below runs even when this one failed: its result is
# worth having either way.
lab_rc=0
(cd e2e && "$root/bin/tests/e2e.test" -test.v -test.timeout 45m ${E2E_RUN:+-test.run "$E2E_RUN"}) || lab_rc=$?
# Mixed FRR versions: the lab again, its TORs' FRR from the other platform's
# root (e2e/vm/run.sh --alt-platform, or run-or-native.sh natively, sets
# EVPNHOST_ALT_ROOT), the hosts' from this one: TestMixedFRRVersions.
if [ -n "${EVPNHOST_ALT_ROOT:-}" ] && [ -n "${E2E_RUN_MIXED:-}" ]; then
	tier mixed "lab end-to-end, mixed FRR versions: TORs from the ${EVPNHOST_ALT_PLATFORM:-other} root $EVPNHOST_ALT_ROOT"
	(cd e2e && LAB_TOR_ROOT=$EVPNHOST_ALT_ROOT E2E_REQUIRE_MIXED=1 \
		"$root/bin/tests/e2e.test" -test.v -test.timeout 20m -test.run "$E2E_RUN_MIXED") || lab_rc=1
fi
if [ "$lab_rc" != 0 ]; then
	echo "== lab end-to-end FAILED ($(( $(date +%s) - t0 ))s)"
	exit 1
fi
echo "== privileged tiers passed in $(( $(date +%s) - t0 ))s"
