#!/bin/bash
# Fail when a Go package is missing from README.md's Layout section (one
# line per package directory, "dir/  what it is"). Called by make verify.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

mod=$($GO list -m)
layout=$(sed -n '/^## Layout/,/^## /p' README.md | awk '/^```/{f=!f; next} f{print $1}')
missing=()
for p in $($GO list ./...); do
	d=${p#"$mod"/}
	grep -qxF "$d/" <<<"$layout" || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "check-layout: packages missing from README.md's Layout section: ${missing[*]}" >&2
	exit 1
fi
