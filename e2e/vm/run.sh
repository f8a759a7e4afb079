#!/bin/bash
# Run a command as root inside a throwaway QEMU VM that boots Debian's stock
# kernel and uses the host's own filesystem (read-only over virtio-9p) with
# the repository mounted read-write at its host path. With --platform
# trixie it boots a cached Debian 13 root (e2e/vm/root.sh) with that root's
# own kernel instead of the host's files. Exits with the command's exit
# code. See docs/testing.md, section "VM runner".
set -eu

usage() {
	cat <<'EOF'
usage: e2e/vm/run.sh [options] -- CMD [ARGS...]

Runs CMD as root in a fresh VM, with the repository root as cwd, and exits
with CMD's exit code (124: timeout, 125: the VM failed before CMD finished).

options:
  -m MEM           guest memory (default 4096M)
  -smp N           guest CPUs (default 2)
  -e NAME=VALUE    set an environment variable for CMD (repeatable);
                   -e NAME passes the caller's value of NAME
  --timeout SECS   kill the VM after SECS seconds and exit 124 (default 3600)
  --platform P     bookworm (default): the host's own files and kernel
                   (Debian 12, FRR 8.4); trixie: the Debian 13 root that
                   e2e/vm/root.sh builds once and caches (kernel 6.12,
                   FRR 10.3), booted with its own kernel. EVPNHOST_PLATFORM
                   sets the default.
  --alt-platform P also export platform P's root, read-only, at
                   /run/evpnhost-alt in the guest (CMD gets
                   EVPNHOST_ALT_ROOT=/run/evpnhost-alt and
                   EVPNHOST_ALT_PLATFORM=P): the lab runs the TORs' FRR
                   from it (LAB_TOR_ROOT) to mix FRR versions
  --kernel PATH    kernel image (default: newest vmlinuz-*-amd64 in the
                   platform's /boot whose lib/modules/VERSION exists)
  -v, --verbose    show kernel boot messages and the runner's steps
  -h, --help       this text

In a terminal the console is interactive (e.g. `e2e/vm/run.sh -- bash`):
Ctrl-C goes to CMD; Ctrl-A x kills the VM.
EOF
}

die() {
	echo "e2e/vm/run.sh: $*" >&2
	exit 125
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

mem=4096M
smp=2
timeout=3600
kernel=
platform=${EVPNHOST_PLATFORM:-bookworm}
alt_platform=
verbose=0
envs=()
while [ $# -gt 0 ]; do
	case $1 in
	-m) [ $# -ge 2 ] || die "-m needs a value"; mem=$2; shift 2 ;;
	-smp) [ $# -ge 2 ] || die "-smp needs a value"; smp=$2; shift 2 ;;
	-e)
		[ $# -ge 2 ] || die "-e needs NAME=VALUE"
		name=${2%%=*}
		[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad variable name in -e $2"
		if [[ $2 == *=* ]]; then
			envs+=("$2")
		elif [ -n "${!name+x}" ]; then
			envs+=("$name=${!name}")
		fi
		shift 2
		;;
	--timeout) [ $# -ge 2 ] || die "--timeout needs a value"; timeout=$2; shift 2 ;;
	--kernel) [ $# -ge 2 ] || die "--kernel needs a value"; kernel=$2; shift 2 ;;
	--platform) [ $# -ge 2 ] || die "--platform needs a value"; platform=$2; shift 2 ;;
	--alt-platform) [ $# -ge 2 ] || die "--alt-platform needs a value"; alt_platform=$2; shift 2 ;;
	-v | --verbose) verbose=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) usage >&2; exit 125 ;;
	esac
done
[ $# -gt 0 ] || { usage >&2; exit 125; }
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
[[ $smp =~ ^[0-9]+$ ]] || die "-smp must be a number"

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run e2e/vm/deps.sh"
[ -x /bin/busybox ] || die "/bin/busybox missing: run e2e/vm/deps.sh"
command -v cpio >/dev/null || die "cpio missing: run e2e/vm/deps.sh"
command -v modprobe >/dev/null || die "modprobe missing: run e2e/vm/deps.sh"

# --- platform: the guest's root filesystem -------------------------------------
# sysroot is the host directory the guest boots as its / ("" = the host's
# own /). The kernel and its modules come from that same tree.
# platform_root P: print platform P's root directory ("" for the host's /).
platform_root() {
	local r
	case $1 in
	bookworm) echo "" ;;
	trixie)
		r=$("$here/root.sh" trixie) || die "cannot build the trixie root (e2e/vm/root.sh)"
		[ -f "$r/.evpnhost-root-ok" ] || die "e2e/vm/root.sh printed $r, which is not a finished root"
		echo "$r"
		;;
	*) die "unknown platform $1 (bookworm or trixie)" ;;
	esac
}
sysroot=$(platform_root "$platform") || exit 125
altroot=
if [ -n "$alt_platform" ]; then
	[ "$alt_platform" != "$platform" ] || die "--alt-platform $alt_platform is the platform itself"
	altroot=$(platform_root "$alt_platform") || exit 125
	envs+=(EVPNHOST_ALT_ROOT=/run/evpnhost-alt "EVPNHOST_ALT_PLATFORM=$alt_platform")
fi

# --- kernel ------------------------------------------------------------------
if [ -z "$kernel" ]; then
	while read -r k; do
		if [ -d "$sysroot/lib/modules/${k##*/vmlinuz-}" ]; then
			kernel=$k
			break
		fi
	done < <(printf '%s\n' "$sysroot"/boot/vmlinuz-*-amd64 | sort -V -r)
	[ -n "$kernel" ] || die "no $sysroot/boot/vmlinuz-*-amd64 with modules: run e2e/vm/deps.sh"
fi
[ -r "$kernel" ] || die "cannot read kernel $kernel"
kver=${kernel##*/vmlinuz-}
[ -d "$sysroot/lib/modules/$kver" ] || die "no $sysroot/lib/modules/$kver for $kernel"

cache=$here/.cache
mkdir -p "$cache"

# --- uncompressed kernel for PVH boot (cached) --------------------------------
# Under TCG the bzImage's own XZ decompressor and real-mode setup take ~4 s
# before the kernel even starts. QEMU can instead boot the ELF vmlinux
# directly through its PVH entry point (CONFIG_PVH=y in Debian kernels), so
# unpack it once. Falls back to the bzImage if anything does not fit.
boot=$kernel
if grep -qx CONFIG_PVH=y "$sysroot/boot/config-$kver" 2>/dev/null && command -v xz >/dev/null; then
	vmlinux=$cache/vmlinux-$kver-$(stat -L -c %s-%Y "$kernel")
	if [ ! -s "$vmlinux" ]; then
		off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kernel" | head -1 | cut -d: -f1 || true)
		if [ -n "$off" ]; then
			tmp=$(mktemp "$cache/vmlinux.XXXXXX")
			tail -c +$((off + 1)) "$kernel" | xz -dc --single-stream >"$tmp" 2>/dev/null || true
			if [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
				find "$cache" -maxdepth 1 -name "vmlinux-$kver-*" -delete
				mv "$tmp" "$vmlinux"
			fi
			rm -f "$tmp"
		fi
	fi
	[ ! -s "$vmlinux" ] || boot=$vmlinux
fi

# --- initramfs (cached) -----------------------------------------------------
# Only 9p over virtio-pci is needed to reach the guest's root filesystem;
# the rest of the modules are loaded from its /lib/modules after
# switch_root. modprobe prints them in load order (dependencies first), as
# paths under -d ROOT. Compressed modules (Debian 13: .ko.xz) are unpacked
# here: busybox insmod takes plain ELF.
modules=$(modprobe -d "${sysroot:-/}" -a -S "$kver" --show-depends 9p 9pnet_virtio virtio_pci |
	awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
[ -n "$modules" ] || die "cannot resolve the 9p modules of kernel $kver"
key=$({ cat "$here/init.sh"; echo "$sysroot"; echo "$modules"; } | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [ ! -s "$initrd" ]; then
	[ "$verbose" = 0 ] || echo "e2e/vm/run.sh: building $initrd" >&2
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	mkdir -p "$tmp/bin" "$tmp/modules"
	cp /bin/busybox "$tmp/bin/busybox"
	install -m 755 "$here/init.sh" "$tmp/init"
	for m in $modules; do
		b=${m##*/}
		case $b in
		*.ko.xz) xz -dc "$m" >"$tmp/modules/${b%.xz}" || die "cannot unpack $m (xz-utils)"; b=${b%.xz} ;;
		*.ko.zst) zstd -qdc "$m" >"$tmp/modules/${b%.zst}" || die "cannot unpack $m (zstd)"; b=${b%.zst} ;;
		*.ko.gz) gzip -dc "$m" >"$tmp/modules/${b%.gz}" || die "cannot unpack $m"; b=${b%.gz} ;;
		*) cp "$m" "$tmp/modules/" ;;
		esac
		echo "$b" >>"$tmp/modules/order"
	done
	(cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$tmp.cpio.gz"
	mv "$tmp.cpio.gz" "$initrd" # atomic: concurrent runs see all or nothing
	rm -rf "$tmp"
	# Drop older images of this kernel (other init.sh versions or roots);
	# the other platform's kernel keeps its own.
	find "$cache" -maxdepth 1 -name "initramfs-$kver-*.cpio.gz" ! -path "$initrd" -delete
fi

# --- run directory ------------------------------------------------------------
# Shared with the guest through the repo mount: the guest reads settings,
# repo-path and cmd.sh from it and writes rc into it. One per run, so
# concurrent runs in one repository do not clash.
mkdir -p "$here/.out"
outdir=$(mktemp -d "$here/.out/run.XXXXXX")
run=${outdir##*/}
# QEMU's QMP socket, for e2e/vm/cpus.sh (where the vCPUs are when a guest
# makes no progress). Short: a unix socket path has at most 107 bytes.
qmp=${TMPDIR:-/tmp}/evpnhost-vm.$run.qmp
# shellcheck disable=SC2317 # called by the trap
cleanup() { rm -rf "$outdir" "$qmp"; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%s\n' "$repo" >"$outdir/repo-path"
# The guest mounts the repository over its own path, which must exist in
# the guest's (read-only) root: in a platform root, make it on the host.
# Under a directory the guest covers with a tmpfs (/root, /tmp...), init.sh
# makes it again in that tmpfs.
if [ -n "$sysroot" ] && [ ! -d "$sysroot$repo" ]; then
	mkdir -p "$sysroot$repo" || die "cannot make the repository's mount point $sysroot$repo"
fi

interactive=0
rows=0 cols=0
if [ -t 0 ] && [ -t 1 ]; then
	interactive=1
	read -r rows cols < <(stty size 2>/dev/null || echo "0 0")
fi
printf 'verbose=%d\ninteractive=%d\nrows=%d\ncols=%d\n' \
	"$verbose" "$interactive" "$rows" "$cols" >"$outdir/settings"

# The command and its environment go in a script, quoted for the shell,
# rather than on the kernel command line.
q() { local s=$1; printf "'%s'" "${s//\'/\'\\\'\'}"; }
{
	echo '# generated by e2e/vm/run.sh'
	printf 'cd %s || exit 125\n' "$(q "$repo")"
	# --default-signal: the guest starts CMD as an asynchronous command of a
	# non-interactive shell, which ignores SIGINT and SIGQUIT; undo that, or
	# neither Ctrl-C nor tests that send SIGINT would work.
	printf 'exec env -i --default-signal --'
	printf ' %s' "$(q PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)" \
		"$(q HOME=/root)"
	if [ "$interactive" = 1 ]; then
		printf ' %s' "$(q "TERM=${TERM:-vt100}")"
	else
		printf ' %s' "$(q TERM=dumb)"
	fi
	for e in "${envs[@]+"${envs[@]}"}"; do
		printf ' %s' "$(q "$e")"
	done
	for a in "$@"; do
		printf ' %s' "$(q "$a")"
	done
	printf '\n'
} >"$outdir/cmd.sh"

# --- one VM at a time -----------------------------------------------------------
# Two VMs under TCG on a small machine each run several times slower than one
# alone, so runs queue on a host-wide lock (EVPNHOST_VM_LOCK=none skips it).
lock=${EVPNHOST_VM_LOCK:-/tmp/evpnhost-vm.lock}
if [ "$lock" != none ] && command -v flock >/dev/null; then
	exec 9>>"$lock"
	if ! flock -n 9; then
		echo "e2e/vm/run.sh: another VM is running; waiting for $lock" >&2
		flock 9
	fi
fi

# --- QEMU ---------------------------------------------------------------------
# panic=-1 with -no-reboot: a guest panic ends QEMU at once (exit 125).
# The rest only shortens boot under TCG (~1 s): no CPU-bug mitigations (PTI
# makes every emulated syscall dearer), no probing of the PS/2 controller
# and spare UARTs, no crypto self-tests, no TSC/timer sanity checks.
append="console=ttyS0 panic=-1 rdinit=/init evpnhost.run=$run"
[ -z "$alt_platform" ] || append="$append evpnhost.alt=1"
append="$append mitigations=off i8042.noaux i8042.nokbd i8042.nopnp i8042.dumbkbd"
append="$append 8250.nr_uarts=1 cryptomgr.notests no_timer_check tsc=reliable"
# nokaslr: a vCPU's RIP (e2e/vm/cpus.sh) maps straight to the kernel
# symbols guest.sh keeps (the same at every boot).
append="$append nokaslr"
if [ "$verbose" = 1 ]; then
	append="$append loglevel=7 evpnhost.verbose=1"
else
	# loglevel=0: not even KERN_EMERG (the "reboot: Power down" line at every
	# poweroff). The price: a panic may go unseen, hence "rerun with -v".
	append="$append quiet loglevel=0"
fi

if [ "$interactive" = 1 ]; then
	# signal=off: Ctrl-C reaches the guest (and CMD) instead of killing QEMU;
	# the mux gives Ctrl-A x to quit and Ctrl-A c for the QEMU monitor.
	# shellcheck disable=SC2054 # commas are QEMU's
	serial=(-chardev stdio,id=con,mux=on,signal=off -serial chardev:con
		-mon chardev=con,mode=readline)
else
	serial=(-serial stdio)
fi

# KVM guests hang on this kind of machine: use TCG, one host thread per vCPU.
# -nodefaults: no VGA, no default NIC, no monitor, no floppy/cdrom.
# shellcheck disable=SC2054 # commas are QEMU's
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot
	-accel tcg,thread=multi -cpu max -m "$mem" -smp "$smp"
	-display none -nic none "${serial[@]}" -qmp "unix:$qmp,server=on,wait=off"
	-kernel "$boot" -initrd "$initrd" -append "$append"
	-device virtio-rng-pci
	-fsdev "local,id=root,path=${sysroot:-/},security_model=none,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=root,mount_tag=root
	-fsdev "local,id=repo,path=$repo,security_model=none,multidevs=remap"
	-device virtio-9p-pci,fsdev=repo,mount_tag=repo)
if [ -n "$alt_platform" ]; then
	# shellcheck disable=SC2054 # commas are QEMU's
	qemu+=(-fsdev "local,id=alt,path=${altroot:-/},security_model=none,readonly=on,multidevs=remap"
		-device virtio-9p-pci,fsdev=alt,mount_tag=alt)
fi
case $repo$sysroot$altroot in
*,*) die "the repository and root paths must not contain a comma (QEMU -fsdev syntax): $repo $sysroot $altroot" ;;
esac

saved_tty=
[ "$interactive" = 0 ] || saved_tty=$(stty -g)
set +e
# --foreground: keep QEMU in the terminal's foreground process group so it
# can use the terminal; -k: SIGKILL if SIGTERM did not end it.
if [ "$interactive" = 1 ]; then
	timeout --foreground -k 10 "$timeout" "${qemu[@]}"
else
	# CMD gets /dev/null as stdin in the guest; keep QEMU off ours too.
	timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null
fi
qrc=$?
set -e
if [ "$interactive" = 1 ]; then
	# QEMU restores the terminal itself, unless it was SIGKILLed.
	stty "$saved_tty" 2>/dev/null || true
fi

if [ -s "$outdir/rc" ]; then
	rc=$(cat "$outdir/rc")
	[[ $rc =~ ^[0-9]+$ ]] || die "bad exit code from the guest: $rc"
	exit "$rc"
fi
if [ "$qrc" = 124 ]; then
	echo "e2e/vm/run.sh: timed out after ${timeout}s, VM killed" >&2
	exit 124
fi
die "the VM stopped (QEMU exit $qrc) before the command finished; rerun with -v to see kernel messages"
