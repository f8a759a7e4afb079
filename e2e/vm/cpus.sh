#!/bin/bash
# Where the test VM's vCPUs are, for a guest that makes no progress with
# QEMU at full CPU: for each running e2e/vm/run.sh VM (or the QMP socket
# given), each vCPU's privilege level (kernel or user), RIP and, in the
# kernel, the symbol it is in (run.sh boots with nokaslr, and guest.sh
# keeps the kernel's text symbols in e2e/vm/.cache/kallsyms-VERSION). Run
# it a few times: a vCPU always in the same kernel function is where the
# guest spins.
#
#   e2e/vm/cpus.sh [--stack] [QMP-SOCKET] [KALLSYMS]
#
# --stack also prints, per vCPU in the kernel, the kernel text addresses
# found on its stack up to the end of the stack's page (a rough call
# chain: read the first lines), and the network device of the skb when
# RBP/R12 point to one (the 6.1/6.12 sk_buff layout: dev at offset 16). The
# VM is stopped for those reads and continued at once.
#
# KALLSYMS defaults to the newest e2e/vm/.cache/kallsyms-* (give the one of
# the VM's kernel when both platforms' are there). Read-only: it only asks
# QEMU for registers.
set -euo pipefail
stack=0
if [ "${1:-}" = --stack ]; then
	stack=1
	shift
fi
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
	python3 - "$s" "$map" "$stack" <<'PY'
import bisect, json, os, re, socket, struct, sys, tempfile
sock, mapfile, stack = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
c = socket.socket(socket.AF_UNIX); c.connect(sock); f = c.makefile("rw")
def cmd(o):
    f.write(json.dumps(o) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r: return r
def hmp(line):
    return cmd({"execute": "human-monitor-command", "arguments": {"command-line": line}})["return"]
tmp = tempfile.mkdtemp()
def mem(cpu, addr, size):
    # memsave takes a signed 64-bit address; the guest's virtual address
    # through that vCPU's page tables.
    p = os.path.join(tmp, "m")
    r = cmd({"execute": "memsave", "arguments": {"val": addr - (1 << 64) if addr >= 1 << 63 else addr,
                                                 "size": size, "filename": p, "cpu-index": cpu}})
    if "error" in r:
        return None
    with open(p, "rb") as fh:
        return fh.read()
f.readline(); cmd({"execute": "qmp_capabilities"})
if stack:
    hmp("stop")
try:
    out = hmp("info registers -a")
    frames = {}
    if stack:
        for cpu, block in enumerate(re.split(r"\n(?=CPU#)", out.strip())):
            regs = {k: int(v, 16) for k, v in re.findall(r"\b(R[A-Z0-9]+)\s*=([0-9a-f]{16})", block)}
            if int(re.search(r"CPL=(\d)", block).group(1)) != 0:
                continue
            rsp = regs["RSP"]
            b = mem(cpu, rsp, 0x1000 - (rsp & 0xfff)) or b""
            words = [w for (w,) in struct.iter_unpack("<Q", b[: len(b) // 8 * 8])]
            devs = []
            for r in ("RBP", "R12"):
                a = regs.get(r, 0)
                if 0xffff888000000000 <= a < 0xffffc80000000000:
                    sk = mem(cpu, a, 24)
                    dev = struct.unpack("<3Q", sk)[2] if sk else 0
                    nm = mem(cpu, dev, 16) if 0xffff888000000000 <= dev < 0xffffc80000000000 else None
                    if nm and nm.split(b"\0")[0].isascii() and nm[:1].isalnum():
                        devs.append("%s=%x dev %s" % (r, a, nm.split(b"\0")[0].decode()))
            frames[cpu] = (words, devs)
finally:
    if stack:
        hmp("cont")
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
    if cpu in frames:
        words, devs = frames[cpu]
        n = 0
        for w in words:
            if 0xffffffff81000000 <= w < 0xffffffffc0000000:
                i = bisect.bisect_right(addrs, w) - 1
                if i >= 0 and w - syms[i][0] < 0x10000:
                    print("    %s+0x%x" % (syms[i][1], w - syms[i][0]))
                    n += 1
                    if n >= 16:
                        break
        for d in devs:
            print("    skb? %s" % d)
PY
done
