#!/bin/bash
# Where the test VM's vCPUs are, for a guest that makes no progress with
# QEMU at full CPU: for each running e2e/vm/run.sh VM (or the QMP socket
# given), each vCPU's privilege level (kernel or user), RIP and, in the
# kernel, the symbol it is in (run.sh boots with nokaslr, and guest.sh
# keeps the kernel's text symbols in e2e/vm/.cache/kallsyms-VERSION). Run
# it a few times: a vCPU always in the same kernel function is where the
# guest spins.
#
#   e2e/vm/cpus.sh [QMP-SOCKET] [KALLSYMS]
#
# KALLSYMS defaults to the newest e2e/vm/.cache/kallsyms-* (give the one of
# the VM's kernel when both platforms' are there). Read-only: it only asks
# QEMU for registers.
set -euo pipefail
if [ $# -ge 1 ]; then
	socks=("$1")
else
	mapfile -t socks < <(ls "${TMPDIR:-/tmp}"/evpnhost-vm.*.qmp 2>/dev/null)
fi
[ ${#socks[@]} -gt 0 ] || { echo "cpus.sh: no running test VM (no ${TMPDIR:-/tmp}/evpnhost-vm.*.qmp)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
map=${2:-$(ls -t "$here"/.cache/kallsyms-* 2>/dev/null | head -1)}
for s in "${socks[@]}"; do
	echo "== $s"
	python3 - "$s" "$map" <<'PY'
import bisect, json, re, socket, sys
sock, mapfile = sys.argv[1], sys.argv[2]
c = socket.socket(socket.AF_UNIX); c.connect(sock); f = c.makefile("rw")
def cmd(o):
    f.write(json.dumps(o) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r: return r
f.readline(); cmd({"execute": "qmp_capabilities"})
out = cmd({"execute": "human-monitor-command", "arguments": {"command-line": "info registers -a"}})["return"]
syms = []
try:
    for l in open(mapfile):
        a, _, n = l.split()[:3]
        syms.append((int(a, 16), n))
    syms.sort()
except OSError:
    pass
addrs = [a for a, _ in syms]
for cpu, block in enumerate(re.split(r"\n(?=CPU#)", out.strip())):
    rip = int(re.search(r"RIP=([0-9a-f]+)", block).group(1), 16)
    cpl = int(re.search(r"CPL=(\d)", block).group(1))
    where = "user"
    if cpl == 0:
        i = bisect.bisect_right(addrs, rip) - 1
        where = "kernel %s+0x%x" % (syms[i][1], rip - syms[i][0]) if i >= 0 else "kernel ?"
    print("vCPU %d: CPL %d RIP %016x %s" % (cpu, cpl, rip, where))
PY
done
