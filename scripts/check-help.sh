#!/bin/bash
# Fail unless the targets make help prints, the .PHONY list and the rules
# of the Makefile are the same set: every target has a "## " description
# and is declared phony. Called by make verify.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}

help=$($MAKE -s --no-print-directory help | awk '{print $1}' | sort -u)
# make's database resolves continuation lines of .PHONY.
phony=$({ $MAKE -pRrq -f Makefile : 2>/dev/null || true; } | sed -n 's/^\.PHONY: *//p' | tr ' ' '\n' | sed '/^$/d' | sort -u)
rules=$(grep -E '^[A-Za-z0-9_.-]+:([^=]|$)' Makefile | cut -d: -f1 | grep -v '^\.' | sort -u)

ok=true
report() { # name, set a, set b: what a has that b lacks
	local d
	d=$(comm -23 <(echo "$2") <(echo "$3"))
	if [ -n "$d" ]; then
		echo "check-help: $1:" $d >&2
		ok=false
	fi
}
report "rules make help does not list (give them a '## ' description)" "$rules" "$help"
report "rules missing from .PHONY" "$rules" "$phony"
report ".PHONY names without a rule" "$phony" "$rules"
report "make help lists names that are not rules" "$help" "$rules"
$ok
