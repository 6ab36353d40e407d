#!/usr/bin/env bash
# Builds helm from the pinned Go module in hack/helm into bin/helm (or the path
# given as the first argument), for the chart tests in test/chart. Skips the
# build when the binary already exists at the pinned version.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/bin/helm"}
mkdir -p "$(dirname "$out")"
cd "$root/hack/helm"

version=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)
stamp="$out.version"
want="helm=$version"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	exit 0
fi

pkg=helm.sh/helm/v4/internal/version
ldflags="-s -w -X $pkg.version=$version -X $pkg.metadata= -X $pkg.gitTreeState=clean"

echo "Building helm $version into $out; a cold build takes a few minutes"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out" helm.sh/helm/v4/cmd/helm
echo "$want" > "$stamp"
