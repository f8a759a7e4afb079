#!/bin/bash
# Fail when git tracks a compiled binary: an ELF executable or shared
# object, a Mach-O or a PE file. ELF relocatable objects (e_type 1) are
# allowed: bpf2go's eBPF object internal/policy/ebpf/policy_bpfel.o is one
# and is committed on purpose (a unit test checks it is current).
# Called by make verify.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=()
while IFS= read -r -d '' f; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue # deleted in the work tree, or a symlink
	read -r -a b <<<"$(od -An -tx1 -N18 -v "$f" | tr '\n' ' ')"
	[ ${#b[@]} -ge 4 ] || continue
	magic="${b[0]}${b[1]}${b[2]}${b[3]}"
	case $magic in
	7f454c46) # ELF; e_type at offset 16, little-endian (EI_DATA 1) or big-endian
		if [ ${#b[@]} -ge 18 ]; then
			if [ "${b[5]}" = 01 ]; then etype=${b[17]}${b[16]}; else etype=${b[16]}${b[17]}; fi
			[ "$etype" = 0001 ] && continue
		fi
		bad+=("$f (ELF)") ;;
	feedface | feedfacf | cefaedfe | cffaedfe | cafebabe) bad+=("$f (Mach-O)") ;;
	4d5a*) bad+=("$f (PE)") ;;
	esac
done < <(git ls-files -z)

if [ ${#bad[@]} -gt 0 ]; then
	echo "check-binaries: compiled binaries are tracked by git (git rm --cached them; .gitignore covers the usual ones):" >&2
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
