#!/bin/bash
# Installs what the VM runner (e2e/vm/run.sh) needs on a Debian 12 machine,
# and only what is missing: nothing to do (and no apt-get update) when all
# is there. Needs root.
#   qemu-system-x86   qemu-system-x86_64
#   linux-image-amd64 a stock kernel with VRF, 802.1Q, dummy... as modules
#   busybox-static    the initramfs's shell and tools, and poweroff
#   cpio              to pack the initramfs
#   kmod              modprobe (module dependency order, guest modprobe)
#   xz-utils          to unpack the kernel for the fast PVH boot (optional)
set -eu

pkgs=(qemu-system-x86 linux-image-amd64 busybox-static cpio kmod xz-utils)
missing=()
for p in "${pkgs[@]}"; do
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "e2e/vm/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
