#!/bin/bash
# Builds (once) a Debian 13 "trixie" root for the VM runner's second
# platform: kernel 6.12, FRR 10.3 and the tools the lab uses, made with
# debootstrap from the mirror that this machine's own apt sources name.
# Prints the root's path. The root is cached under $EVPNHOST_ROOTS
# (default /var/cache/evpnhost/roots), keyed by this script's package list,
# so a changed list builds a new root and an unchanged one costs nothing.
# Needs root. See docs/testing.md, "Two platforms".
set -euo pipefail

usage() {
	cat <<'EOF'
usage: e2e/vm/root.sh [--print-key] [trixie]

Builds the Debian 13 (trixie) root the VM runner boots with
`e2e/vm/run.sh --platform trixie`, if it is not cached yet, and prints its
path. The mirror is the first Debian URI in /etc/apt/sources.list{,.d/*}.

  --print-key   print the cache key (a hash of the package list) and exit
  -h, --help    this text

Environment: EVPNHOST_ROOTS (cache directory, default /var/cache/evpnhost/roots).
EOF
}

die() {
	echo "e2e/vm/root.sh: $*" >&2
	exit 1
}

suite=trixie
print_key=0
while [ $# -gt 0 ]; do
	case $1 in
	--print-key) print_key=1; shift ;;
	-h | --help) usage; exit 0 ;;
	trixie) suite=$1; shift ;;
	*) usage >&2; exit 2 ;;
	esac
done

# What the lab needs inside the guest (the Debian 12 path gets the same from
# scripts/deps.sh on the host). The kernel brings its modules; busybox-static
# is not needed (the initramfs uses the host's busybox).
pkgs=(linux-image-amd64 kmod systemd-sysv
	frr frr-pythontools python3
	iproute2 iputils-ping tcpdump procps jq curl nftables
	etcd-server etcd-client iperf3 ca-certificates
	ifupdown2                         # make bench: its single-VXLAN-device syntax
	docker.io docker-cli containerd runc iptables # the Docker network plugin's lab test
	busybox-static)                   # the root tree of the lab's Docker image

key=$(printf '%s\n' "$suite" "${pkgs[@]}" | sha256sum | cut -c1-12)
if [ "$print_key" = 1 ]; then
	echo "$key"
	exit 0
fi

roots=${EVPNHOST_ROOTS:-/var/cache/evpnhost/roots}
root=$roots/$suite-$key
if [ -f "$root/.evpnhost-root-ok" ]; then
	echo "$root"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "building the $suite root needs root"

mirror=$(
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' || true
)
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' || true)
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*}"

if ! command -v debootstrap >/dev/null; then
	echo "e2e/vm/root.sh: installing debootstrap" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null; }
fi

# One builder at a time; a second caller waits and then finds the root.
mkdir -p "$roots"
exec 8>>"$roots/.lock"
flock 8
if [ -f "$root/.evpnhost-root-ok" ]; then
	echo "$root"
	exit 0
fi

echo "e2e/vm/root.sh: building the $suite root in $root (a few minutes, once)" >&2
tmp=$root.build
rm -rf "$tmp"
include=$(
	IFS=,
	echo "${pkgs[*]}"
)
log=$roots/$suite-$key.log
if ! debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" >"$log" 2>&1; then
	tail -20 "$log" >&2
	die "debootstrap failed (full log: $log)"
fi
# The guest mounts its own tmpfs and 9p shares; FRR's system instance must
# not start at boot (the lab runs its own pathspaced instances).
chroot "$tmp" /bin/sh -c 'rm -f /etc/machine-id; : >/etc/machine-id' || true
rm -rf "$tmp/var/cache/apt/archives/"*.deb
ls "$tmp"/boot/vmlinuz-* >/dev/null 2>&1 || die "no kernel in the $suite root"
touch "$tmp/.evpnhost-root-ok"
mv "$tmp" "$root"
# Roots of older package lists are left alone: a VM may still be running
# on one. They are listed here so that they can be removed by hand.
for old in "$roots/$suite"-*; do
	case $old in "$root" | *.log | *.build) continue ;; esac
	[ -d "$old" ] && echo "e2e/vm/root.sh: older root, unused by this tree: $old (rm -rf it when no VM uses it)" >&2
done
echo "$root"
