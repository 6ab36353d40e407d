#!/usr/bin/env bash
# Writes the release artifacts of VERSION into OUT_DIR:
#   install.yaml                                 CRD, RBAC, Secret admission policy, manager Deployment
#   tokenator-X.Y.Z.tgz                          the Helm chart, version X.Y.Z, appVersion VERSION
#   kubectl-tokenator_VERSION_OS_ARCH.tar.gz     the kubectl plugin, per platform
#   tokenator.yaml                               the Krew manifest, with the archives' sha256
#   checksums.txt                                sha256 of every file above
#
# Usage: hack/release.sh VERSION OUT_DIR
# Needs GNU tar and coreutils (sha256sum, realpath).
# Environment: KUSTOMIZE and HELM (the binaries), IMAGE (the manager's image
# without tag, default ghcr.io/tokenator-dev/tokenator), PLATFORMS (default
# "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"), GO (default go).
set -euo pipefail

usage() { echo "usage: $0 VERSION OUT_DIR (VERSION such as v0.1.0)" >&2; exit 2; }
[ $# -eq 2 ] || usage
version=$1
out=$2
if ! [[ $version =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "VERSION must be v and a semantic version, such as v0.1.0 (got \"$version\")" >&2
  exit 2
fi
chart_version=${version#v}
: "${KUSTOMIZE:?KUSTOMIZE must name the kustomize binary}"
: "${HELM:?HELM must name the helm binary}"
GO=${GO:-go}
IMAGE=${IMAGE:-ghcr.io/tokenator-dev/tokenator}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# install.yaml: config/default with the version's image, through an overlay
# so that the tree is left as it is.
mkdir -p "$work/overlay"
# kustomize wants a relative path to a base.
base=$(realpath --relative-to="$work/overlay" "$root/config/default")
cat >"$work/overlay/kustomization.yaml" <<YAML
resources:
- $base
images:
- name: ghcr.io/tokenator-dev/tokenator
  newName: $IMAGE
  newTag: $version
YAML
{
  echo "# tokenator $version: kubectl apply --server-side -f install.yaml"
  "$KUSTOMIZE" build "$work/overlay"
} >"$out/install.yaml"
grep -q "image: $IMAGE:$version\$" "$out/install.yaml" || { echo "install.yaml does not run $IMAGE:$version" >&2; exit 1; }

# The chart: its version is the release's, its appVersion (the default image
# tag) the release's tag.
"$HELM" package "$root/charts/tokenator" --version "$chart_version" --app-version "$version" --destination "$out" >/dev/null

# The plugin, one archive per platform, with the binary at its root as Krew
# expects. Archives are reproducible: sorted, owned by root, dated at the epoch.
manifest="$work/tokenator.yaml"
sed -e '/^#/d' -e "s/{{VERSION}}/$version/g" "$root/plugins/tokenator.yaml" >"$manifest"
for platform in $PLATFORMS; do
  os=${platform%/*}
  arch=${platform#*/}
  dir="$work/plugin-$os-$arch"
  mkdir -p "$dir"
  (cd "$root" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath \
    -ldflags "-s -w -X main.version=$version" -o "$dir/kubectl-tokenator" ./cmd/kubectl-tokenator)
  cp "$root/docs/kubectl-plugin.md" "$dir/README.md"
  archive="kubectl-tokenator_${version}_${os}_${arch}.tar.gz"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" -cf - kubectl-tokenator README.md | gzip -n >"$out/$archive"
  sum=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  placeholder="{{SHA256_$(echo "${os}_${arch}" | tr '[:lower:]' '[:upper:]')}}"
  sed -i "s/$placeholder/$sum/" "$manifest"
done
cp "$manifest" "$out/tokenator.yaml"

# checksums.txt: every artifact, in sha256sum's format.
(cd "$out" && rm -f checksums.txt && sha256sum install.yaml "tokenator-$chart_version.tgz" tokenator.yaml kubectl-tokenator_"${version}"_*.tar.gz >checksums.txt.tmp && mv checksums.txt.tmp checksums.txt)
echo "tokenator $version written to $out:"
(cd "$out" && ls -1)
