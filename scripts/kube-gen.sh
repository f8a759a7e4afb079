#!/bin/bash
# Regenerate the evpnhost.io/v1alpha1 deepcopy functions and the CRD
# manifests from the markers in internal/kube/apis/v1alpha1 (controller-gen,
# pinned as a tool in go.mod). With --check, fail (exit 1, showing the diff)
# when the committed files were stale: they are regenerated in place, so
# commit the result. Called by make generate and make verify.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
apis=internal/kube/apis/v1alpha1
crds=contrib/kubernetes/crds
rm -f "$crds"/evpnhost.io_*.yaml
$GO tool controller-gen object paths=./$apis/... \
	crd:crdVersions=v1 output:crd:artifacts:config=$crds
[ "${1:-}" = --check ] || exit 0
st=$(git status --porcelain -- "$apis" "$crds")
[ -z "$st" ] && exit 0
echo "kube-gen: the generated deepcopy functions or CRDs were stale; commit the regenerated files:" >&2
echo "$st" >&2
git --no-pager diff -- "$apis" "$crds" >&2
exit 1
