#!/bin/bash
# Fail when the work tree differs from HEAD or has untracked files that
# are not ignored. make verify has just regenerated the eBPF objects, the
# goldens and go.mod/go.sum, so a diff means something generated was not
# committed (or the tree was dirty to begin with: commit or stash first).
# Called by make verify.
set -euo pipefail
cd "$(dirname "$0")/.."

st=$(git status --porcelain)
[ -z "$st" ] && exit 0
echo "check-clean: the tree is not clean after regenerating; commit the result:" >&2
echo "$st" >&2
git --no-pager diff --stat >&2
git --no-pager diff -- ':!*.o' >&2
exit 1
