#!/bin/bash
# Stage 2 init of the evpnhost test VM: runs as PID 1 after switch_root, in
# the host's filesystem (read-only 9p) with the repository mounted
# read-write at its host path, and the API and tmpfs filesystems mounted by
# stage 1 (init.sh). It loads kernel modules, runs the command run.sh wrote
# into the run directory on the serial console, records its exit code and
# powers the VM off. It is read from the repository at every run, so editing
# it needs no initramfs rebuild.
#
# Not `set -e`: this is PID 1, and if it exits the kernel panics (and run.sh
# reports exit 125). Every step is best effort.
set -u

# Arguments from stage 1: the run directory's name and the repository path.
run=$1
repo=$2
out=$repo/e2e/vm/.out/$run
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

# Settings written by run.sh (plain NAME=value lines, values validated there).
verbose=0 interactive=0 rows=0 cols=0
# shellcheck source=/dev/null
. "$out/settings"

uptime() { local up _; read -r up _ </proc/uptime; echo "$up"; }
say() { [ "$verbose" = 0 ] || echo "evpnhost-vm stage 2 [$(uptime)s]: $*"; }

poweroff_now() {
	sync
	# Wait until the serial port has sent everything: stty applies the
	# settings with TCSADRAIN, which blocks until the output has drained.
	# Powering off right away would cut the command's last lines.
	stty -F /dev/ttyS0 "$(stty -F /dev/ttyS0 -g)" 2>/dev/null
	# busybox: the host's poweroff may be systemctl, which wants systemd. Not
	# the sysrq trigger: it prints "sysrq: Power Off" whatever the loglevel.
	/bin/busybox poweroff -f
	sleep 60
}

# --- system ----------------------------------------------------------------
# Mounts, hostname and lo were set up by stage 1 (init.sh).
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true
# Kernel features the tests need. The host's /lib/modules is visible, so
# modprobe works as on a normal Debian system. One modprobe for all: every
# process start costs under TCG. Only on failure, find out which.
mods="vrf 8021q dummy vxlan bridge veth tun macvlan sch_ingress cls_bpf act_bpf nf_tables virtio_rng"
say "loading modules"
# shellcheck disable=SC2086 # word splitting wanted
if ! modprobe -q -a $mods 2>/dev/null; then
	failed=
	for m in $mods; do
		[ -d "/sys/module/$m" ] || failed="$failed $m"
	done
	[ -z "$failed" ] || echo "evpnhost-vm: modprobe failed for:$failed"
fi

# The repository's binaries (bin/evpnhost, evpnhost-cni, tapwire, cnitool,
# bin/cni/*) on the tmpfs /run, each bound over its own path: exec reads a
# binary over 9p every time (cache=mmap), 1.9 s for evpnhost under TCG
# against 0.2 s from tmpfs, and the lab runs them hundreds of times. The
# test binaries (bin/tests) run once each and stay where they are; bin/
# itself stays writable (scripts/bench.sh writes bin/bench).
say "copying the repository's binaries to tmpfs"
for f in "$repo"/bin/* "$repo"/bin/cni/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	c=/run/evpnhost-bin${f#"$repo"/bin}
	mkdir -p "${c%/*}" && cp "$f" "$c" && mount --bind "$c" "$f" ||
		echo "evpnhost-vm: $f stays on 9p (copy to tmpfs failed)"
done
# The kernel's text symbols, once per kernel, for e2e/vm/cpus.sh (the
# guest boots with nokaslr, so they hold at every boot; Debian's System.map
# is a stub).
ks=$repo/e2e/vm/.cache/kallsyms-$(uname -r)
if [ ! -s "$ks" ] && mkdir -p "${ks%/*}"; then
	grep ' [tT] ' /proc/kallsyms >"$ks.tmp" 2>/dev/null && mv "$ks.tmp" "$ks" || rm -f "$ks.tmp"
fi
# Keep the kernel's RX timestamp static key on for the VM's whole life.
# Every ping (SO_TIMESTAMP) and capture turns netstamp_needed_key on and,
# when the last one ends, off: each change patches the receive path's code
# (text_poke_bp, an int3 on the site while it is rewritten). Under TCG,
# with both vCPUs in softirq receiving VXLAN traffic, that once became a
# guest-wide livelock: both vCPUs trapped on the int3 in
# netif_receive_skb_list_internal (from gro_cell_poll of vx4001/vx4003),
# for minutes, although memory already held the new jmp, and no process ran
# (soak, 2026-12-07, TestFaultTORDown; e2e/vm/cpus.sh --stack showed it;
# docs/testing.md). A socket holding SO_TIMESTAMP from here on keeps the key
# at 1 or more, so the site is never patched while tests run.
if command -v python3 >/dev/null; then
	# SO_TIMESTAMP is 29 on x86-64 (Python's socket module lacks the name).
	setsid python3 -c 'import socket, signal
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 29, 1)
signal.pause()' </dev/null >/dev/null &
else
	echo "evpnhost-vm: no python3: the RX timestamp key is not pinned (see guest.sh)"
fi
say "ready"

# --- the command -------------------------------------------------------------
# /dev/console can never be a controlling terminal: run the command on
# /dev/ttyS0 in its own session with it as controlling tty (setsid -c), so
# that Ctrl-C and job control of an interactive shell work.
tty=/dev/ttyS0
if [ "$interactive" = 1 ]; then
	# QEMU leaves output post-processing (OPOST, ONLCR) on in the host
	# terminal it otherwise makes raw, so the host side already turns \n
	# into \r\n: the guest must not (-onlcr), or lines end in \r\r\n.
	stty -F "$tty" sane -onlcr
	if [ "$rows" -gt 0 ] && [ "$cols" -gt 0 ]; then
		stty -F "$tty" rows "$rows" cols "$cols"
	fi
else
	# Output goes to a pipe or file: no \r, no echo of stdin.
	stty -F "$tty" -onlcr -echo
fi

# PID 1's process group is 0, so the background child is not a group leader
# and setsid(1) execs without forking: $! is the command itself and wait
# returns its status (128+N when killed by signal N).
if [ "$interactive" = 1 ]; then
	# shellcheck disable=SC2094 # the tty is both stdin and stdout, on purpose
	setsid -c /bin/bash "$out/cmd.sh" <"$tty" >"$tty" 2>&1 &
else
	# No input: a serial port never reports end-of-file, and bytes sent
	# before the port is opened are lost anyway.
	setsid /bin/bash "$out/cmd.sh" </dev/null >"$tty" 2>&1 &
fi
wait $!
rc=$?
say "command exited with $rc"
printf '%s\n' "$rc" >"$out/rc.tmp" && mv "$out/rc.tmp" "$out/rc"
poweroff_now
