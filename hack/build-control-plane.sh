#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the pinned Go modules in hack/tools into
# bin/k8s (the KUBEBUILDER_ASSETS directory of envtest). Skips a binary that
# already exists at the pinned version.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/bin/k8s"}
k8s_version=v1.37.2
mkdir -p "$out"
cd "$root/hack/tools"

stamp="$out/.version"
want="kube-apiserver=$k8s_version etcd=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	exit 0
fi

major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"

echo "Building the test control plane ($want) into $out; a cold build takes a few minutes"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
echo "$want" > "$stamp"
