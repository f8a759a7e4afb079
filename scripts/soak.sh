#!/bin/bash
# scripts/soak.sh [N] -- run the lab's fault tests N times in a row (default
# SOAK_N or 10) in ONE lab (one VM boot, one `lab.sh up`: e2e.test
# -test.count N) and report, per run, each test's result and time, then the
# passes and failures. A run that stops making progress is ended by
# SOAK_TIMEOUT (default: 15 min per run) and counted as failed.
#
#   make soak SOAK_N=3                 # from the host: in the VM if needed
#   SOAK_RUN='TestFaultTORDown' scripts/soak.sh 5
#
# SOAK_RUN is the test regex (default ^TestFault). The full log stays in
# SOAK_LOG (default /tmp/evpnhost-soak.log), the summary is printed at the
# end. Needs bin/tests/e2e.test (make testbins) and root; outside a kernel
# with VRF/802.1Q it re-runs itself in the VM (e2e/vm/run-or-native.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-${SOAK_N:-10}}
run=${SOAK_RUN:-^TestFault}
log=${SOAK_LOG:-/tmp/evpnhost-soak.log}
per=${SOAK_TIMEOUT:-900}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: N must be a positive number, not '$n'" >&2; exit 2; }
[[ -x bin/tests/e2e.test ]] || { echo "soak.sh: bin/tests/e2e.test missing: run make testbins" >&2; exit 2; }

if [[ ${SOAK_INNER:-} != 1 ]]; then
	exec e2e/vm/run-or-native.sh --timeout $((per * n + 900)) -e SOAK_INNER=1 -e SOAK_RUN="$run" \
		-e SOAK_LOG="$log" -e SOAK_TIMEOUT="$per" -e E2E_L3VNI_CHECK -- scripts/soak.sh "$n"
fi

export EVPNHOST_E2E=1
t0=$(date +%s)
echo "== soak: $run x $n in one lab (log: $log)"
set +e
(cd e2e && ../bin/tests/e2e.test -test.v -test.count "$n" -test.run "$run" \
	-test.timeout "$((per * n + 600))s") 2>&1 | tee "$log" |
	grep --line-buffered -E '^(=== RUN   Test[A-Za-z]+$|--- (PASS|FAIL|SKIP): Test[A-Za-z]+ |e2e: lab up|panic: test timed out)'
rc=${PIPESTATUS[0]}
set -e
echo
echo "== soak summary ($run x $n; e2e.test exit $rc; $(( $(date +%s) - t0 ))s in all)"
# Top-level results in order; with -test.count the tests repeat in order,
# so the k-th result of a test belongs to run k.
awk -v n="$n" '
	/^--- (PASS|FAIL|SKIP): Test[A-Za-z]+ / {
		name = $3; res = $2; sub(":", "", res); t = $4; gsub(/[()]/, "", t)
		k = ++seen[name]; if (!(name in order)) { order[name] = ++names; list[names] = name }
		r[k, name] = res " " t; if (k > runs) runs = k
		if (res == "FAIL") fail[k] = 1
		secs[k] += t + 0
	}
	/^panic: test timed out/ { timedout = 1 }
	END {
		pass = 0
		for (k = 1; k <= n; k++) {
			line = sprintf("run %2d:", k); done = 1
			for (i = 1; i <= names; i++) {
				v = ((k, list[i]) in r) ? r[k, list[i]] : "NOT RUN"
				if (v == "NOT RUN") done = 0
				line = line sprintf("  %s %s", list[i], v)
			}
			ok = done && !fail[k] && names > 0
			pass += ok
			printf "%s  => %s (%.0fs)\n", line, ok ? "pass" : "FAIL", secs[k]
		}
		printf "passes %d, failures %d of %d runs%s\n", pass, n - pass, n, timedout ? " (timed out: a run stopped making progress, see the log)" : ""
		exit pass == n ? 0 : 1
	}' "$log"
