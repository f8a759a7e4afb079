#!/bin/bash
# Prints "native" (exit 0) when the running kernel can host the e2e tests
# itself: VRF devices, 802.1Q VLAN-filtering bridges, VLAN and dummy devices.
# Otherwise prints "vm": run them through e2e/vm/run.sh (still exit 0).
#
# It tries for real, in a throwaway network namespace (unshare -n, which
# leaves nothing behind even if killed), because /proc/config.gz may be
# missing and module autoloading may or may not work.
# EVPNHOST_RUNNER=native|vm overrides the probe.
set -eu

case ${EVPNHOST_RUNNER:-} in
native | vm) echo "$EVPNHOST_RUNNER"; exit 0 ;;
"") ;;
*) echo "needed.sh: EVPNHOST_RUNNER must be native or vm" >&2; exit 2 ;;
esac

probe='
ip link add v0 type vrf table 10 &&
ip link add br0 type bridge vlan_filtering 1 &&
ip link add d0 type dummy &&
ip link add link d0 name d0.10 type vlan id 10
'
# As root: a plain new netns in the initial user namespace, so the kernel
# autoloads modules as it would for the tests. Otherwise try a user namespace
# (no module autoloading there: may say "vm" although root could go native).
if [ "$(id -u)" = 0 ]; then
	ns=(unshare --net)
else
	ns=(unshare --user --map-root-user --net)
fi
if command -v ip >/dev/null && "${ns[@]}" sh -c "$probe" >/dev/null 2>&1; then
	echo native
else
	echo vm
fi
