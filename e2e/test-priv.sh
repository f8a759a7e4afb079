#!/bin/bash
# `make test-priv`: the privileged tiers (e2e/privileged.sh) on each test
# platform, one VM boot per platform, in this order:
#
#   bookworm  Debian 12, FRR 8.4: the host's own system, natively when the
#             running kernel has VRF/802.1Q/dummy, else in the VM booting
#             Debian's kernel over the host's files. The whole suite,
#             TestDocker included (Debian 12's docker.io, which
#             scripts/deps.sh installs).
#   trixie    Debian 13, kernel 6.12, FRR 10.3: always in the VM, booting the
#             root e2e/vm/root.sh builds once and caches. The kernel round
#             trips, the policy tests and the lab scenarios E2E_RUN_TRIXIE.
#
# On each, the lab is then built once more with the TORs' FRR taken from
# the other platform's root (--alt-platform; lab.sh LAB_TOR_ROOT), for the
# scenarios E2E_RUN_MIXED: TORs on 10.3 with hosts on 8.4 in the bookworm
# run, TORs on 8.4 with hosts on 10.3 in the trixie run.
#
# Environment:
#   EVPNHOST_PLATFORMS  platforms to run, in order (default "bookworm trixie";
#                       "bookworm" or "trixie" runs one)
#   E2E_RUN             lab scenarios (go test -run regexp) on every platform;
#                       unset: all on bookworm, E2E_RUN_TRIXIE on trixie
#   E2E_RUN_TRIXIE      trixie's scenarios when E2E_RUN is unset (the
#                       Makefile sets it; default below)
#   LINUX_SKIP_BOOKWORM kernel tests skipped on bookworm (default
#                       ^TestPrivilegedSingleVXLANScale$, run on trixie;
#                       empty: none)
#   E2E_RUN_MIXED       the mixed-version scenarios (default
#                       ^TestMixedFRRVersions$ when E2E_RUN is unset, none
#                       when it is set); empty: no mixed-version pass
# Every platform runs even if an earlier one failed; the exit status is 1
# if any failed, and the summary says which, with a line per platform of
# where the time went (timings, below). Each platform's whole output is
# kept in a directory under $TMPDIR (or /tmp) that the summary names.
set -uo pipefail
cd "$(dirname "$0")/.."

platforms=${EVPNHOST_PLATFORMS:-bookworm trixie}
# Default: the Makefile's E2E_RUN_TRIXIE (see docs/testing.md).
trixie_run=${E2E_RUN_TRIXIE:-'^(TestOverlay|TestVXLANDeviceInUse|TestLeak|TestFault|TestCNI|TestDocker|TestSingleVXLANDevice)'}
if [ -n "${E2E_RUN:-}" ]; then
	mixed_run=${E2E_RUN_MIXED:-}
else
	mixed_run=${E2E_RUN_MIXED-'^TestMixedFRRVersions$'}
fi
envs=(-e EVPNHOST_REQUIRE_KERNEL=1 -e EVPNHOST_REQUIRE_FRR=1 -e EVPNHOST_REQUIRE_ETCD=1
	-e "E2E_RUN_MIXED=$mixed_run")
# alt P: the other platform's root for the mixed-version pass (none when
# that pass is off).
alt() {
	[ -n "$mixed_run" ] || return 0
	case $1 in
	bookworm) echo --alt-platform trixie ;;
	trixie) echo --alt-platform bookworm ;;
	esac
}

# timings LOG: one line of what LOG says of the Go tests: the slowest
# ones, those that failed, and the one still running if the run was cut
# short (a VM timeout), so that a CI log's tail says where the time went.
timings() {
	local out slow failed running tiers
	out=$(tr -d '\r' <"$1")
	slow=$(sed -nE 's/^--- (PASS|FAIL): (Test[^/ ]*) \(([0-9]+)[.0-9]*s\)$/\3 \2/p' <<<"$out" |
		sort -rn | head -10 | awk '{ printf " %s %ss", $2, $1 }')
	failed=$(sed -nE 's/^--- FAIL: (Test[^/ ]*) .*/\1/p' <<<"$out" | tr '\n' ' ')
	# The last top-level test started and never ended.
	running=$(awk '
		/^=== RUN   Test[^\/]*$/ { r = $3 }
		/^--- (PASS|FAIL|SKIP): Test[^\/ ]* / { if ($3 == r) r = "" }
		END { print r }' <<<"$out")
	# When each tier started (e2e/privileged.sh's headers), and how long
	# the lab took to come up.
	tiers=$(sed -nE 's/^== \[([0-9]+)s tier ([a-z]+)\].*/ \2 at \1s/p; s/^e2e: (lab up in [0-9.]+s).*/ (\1)/p' <<<"$out" | tr -d '\n')
	echo "tiers:${tiers:- none}; slowest:${slow:- none}${failed:+; failed: $failed}${running:+; unfinished: $running}"
}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/evpnhost-test-priv.XXXXXX")
summary=()
failed=0
for p in $platforms; do
	t0=$(date +%s)
	echo "=== platform $p"
	case $p in
	bookworm)
		# shellcheck disable=SC2046 # alt's words are options
		# The 4000-VNI kernel scale test (about 4 min) runs on trixie only.
		# Docker: Debian 12's docker.io (scripts/deps.sh installs it), so
		# TestDocker runs in make test's default pass. The timeout leaves
		# room for a CI machine twice as slow as this one's 2 cores (28 min
		# here) inside CI's 90 min.
		e2e/vm/run-or-native.sh --timeout 4800 $(alt bookworm) "${envs[@]}" -e EVPNHOST_REQUIRE_DOCKER=1 -e E2E_RUN \
			-e "LINUX_SKIP=${LINUX_SKIP_BOOKWORM-^TestPrivilegedSingleVXLANScale\$}" -- e2e/privileged.sh \
			2>&1 | tee "$logdir/$p.log"
		;;
	trixie)
		# shellcheck disable=SC2046 # alt's words are options
		# The Debian 13 root has docker.io: the Docker plugin's lab test
		# must run there, not skip. 6 GiB: two dockerds beside the lab (the
		# 4 GiB VM stopped once in TestDocker after the CNI tests).
		e2e/vm/run.sh --platform trixie --timeout 3000 -m 6144M $(alt trixie) "${envs[@]}" \
			-e EVPNHOST_REQUIRE_DOCKER=1 -e "E2E_RUN=${E2E_RUN:-$trixie_run}" -- e2e/privileged.sh \
			2>&1 | tee "$logdir/$p.log"
		;;
	*)
		echo "e2e/test-priv.sh: unknown platform '$p' in EVPNHOST_PLATFORMS (bookworm, trixie)" >&2
		exit 2
		;;
	esac
	rc=${PIPESTATUS[0]}
	(( rc == 0 )) || failed=1
	summary+=("$(printf '%-9s %s in %ds' "$p" "$([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)")" $(( $(date +%s) - t0 )))")
	summary+=("          $(timings "$logdir/$p.log")")
done
echo "=== privileged tiers per platform (whole output: $logdir)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
