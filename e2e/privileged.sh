#!/bin/bash
# The privileged test tiers, run by `make test-priv` natively or inside the
# VM (e2e/vm/run-or-native.sh): kernel round trips in throwaway namespaces,
# then the lab scenarios. Test binaries are built beforehand on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export EVPNHOST_E2E=1
t0=$(date +%s)
echo "== privileged kernel tests (netlink round trips in fresh namespaces)"
(cd internal/linux && "$root/bin/tests/linux.test" -test.run Privileged -test.v)
echo "== privileged policy tests (eBPF and nftables, real traffic between namespaces)"
(cd internal/policy/ebpf && "$root/bin/tests/policy-ebpf.test" -test.run Privileged -test.v)
(cd internal/policy/nft && "$root/bin/tests/policy-nft.test" -test.run Privileged -test.v)
echo "== FRR as installed (8.4 or 10.x): version, every golden loaded and checked, mgmtd's silent drop, daemons restarted alone"
(cd internal/frrctl && EVPNHOST_REQUIRE_FRR=1 "$root/bin/tests/frrctl.test" -test.run RealFRR -test.v)
echo "== lab end-to-end scenarios"
(cd e2e && "$root/bin/tests/e2e.test" -test.v -test.timeout 45m ${E2E_RUN:+-test.run "$E2E_RUN"})
echo "== privileged tiers passed in $(( $(date +%s) - t0 ))s"
