#!/usr/bin/env bash
# Puts helm into bin/helm (or the path given as the first argument), for the
# chart tests in test/chart: the pinned, checksummed helm release first
# (hack/fetch-release.sh); when that fails (no internet, no pin for this
# platform, TOOLS_DOWNLOAD=0), a build from the pinned Go module in hack/helm.
# Does nothing when helm is already there at either pinned version.
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
if [[ ${TOOLS_DOWNLOAD:-1} != 0 ]]; then
	if "$root/hack/fetch-release.sh" helm "$out"; then
		exit 0
	fi
	echo "Building helm from the pinned Go module instead"
fi

pkg=helm.sh/helm/v4/internal/version
ldflags="-s -w -X $pkg.version=$version -X $pkg.metadata= -X $pkg.gitTreeState=clean"

echo "Building helm $version into $out; a cold build takes a few minutes"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out" helm.sh/helm/v4/cmd/helm
echo "$want" > "$stamp"
