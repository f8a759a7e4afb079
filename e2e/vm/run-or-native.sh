#!/bin/bash
# usage: e2e/vm/run-or-native.sh [run.sh options] -- CMD [ARGS...]
#
# Runs CMD natively when e2e/vm/needed.sh says the running kernel is enough,
# else in a VM through e2e/vm/run.sh, so that make targets work either way.
# Natively, CMD runs like in the VM: from the repository root, with the -e
# variables set and --timeout applied (exit 124); -m, -smp, --kernel and -v
# only concern the VM and are ignored. EVPNHOST_RUNNER=native|vm forces one.
# --platform other than bookworm (the host's own system) always takes the
# VM; --alt-platform trixie natively sets EVPNHOST_ALT_ROOT to the Debian 13
# root (e2e/vm/root.sh) and EVPNHOST_ALT_PLATFORM, as the VM does.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

mode=$("$here/needed.sh")
# A platform other than the host's own needs the VM.
prev=
for a in "$@"; do
	[ "$a" != -- ] || break
	if [ "$prev" = --platform ] && [ "$a" != bookworm ]; then
		mode=vm
	fi
	prev=$a
done
if [ "$mode" = vm ]; then
	exec "$here/run.sh" "$@"
fi

timeout=3600
while [ $# -gt 0 ]; do
	case $1 in
	-m | -smp | --kernel | --platform) shift 2 ;;
	--alt-platform)
		[ "${2:-}" = trixie ] || { echo "run-or-native.sh: natively, --alt-platform can only be trixie" >&2; exit 125; }
		EVPNHOST_ALT_ROOT=$("$here/root.sh" trixie) || exit 125
		export EVPNHOST_ALT_ROOT EVPNHOST_ALT_PLATFORM=trixie
		shift 2
		;;
	-v | --verbose) shift ;;
	-e)
		[ $# -ge 2 ] || { echo "run-or-native.sh: -e needs NAME=VALUE" >&2; exit 125; }
		case $2 in
		*=*) export "${2?}" ;;
		*) ;; # -e NAME: the caller's value is already in the environment
		esac
		shift 2
		;;
	--timeout) timeout=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "run-or-native.sh: unknown option $1 (see e2e/vm/run.sh -h)" >&2; exit 125 ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: e2e/vm/run-or-native.sh [run.sh options] -- CMD [ARGS...]" >&2; exit 125; }
cd "$here/../.."
exec timeout --foreground -k 10 "$timeout" "$@"
