#!/usr/bin/env bash
# Puts the test control plane into bin/k8s (the KUBEBUILDER_ASSETS directory of
# envtest):
#
#   hack/build-control-plane.sh [DIR [BINARY...]]
#
# BINARY is any of kube-apiserver, etcd, kube-controller-manager (default: the
# first two, which every envtest suite needs; the e2e suite and the demo also
# need kube-controller-manager for garbage collection).
#
# kube-apiserver and etcd come first from the pinned envtest release
# (hack/fetch-release.sh, checksummed); when that fails (no internet, no pin
# for this platform, TOOLS_DOWNLOAD=0) they are built from the pinned Go
# modules in hack/tools. kube-controller-manager, which envtest releases do not
# hold, is always built from the modules. A binary already there at a pinned
# version is skipped; DIR/.version records the versions, one name=version word
# per binary (envtest=VERSION for the downloaded ones).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/bin/k8s"}
shift || true
binaries=("$@")
[[ ${#binaries[@]} -gt 0 ]] || binaries=(kube-apiserver etcd)
k8s_version=v1.37.2
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root/hack/tools"

stamp="$out/.version"
touch "$stamp"

major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"

# stamped BINARY VERSION: whether BINARY is there at VERSION.
stamped() {
	[[ -x "$out/$1" ]] && tr ' ' '\n' <"$stamp" | grep -qxF "$1=$2"
}

# kube-apiserver and etcd from the envtest release when they are not there at
# the version built here.
fetched=false
if [[ ${TOOLS_DOWNLOAD:-1} != 0 ]]; then
	for bin in "${binaries[@]}"; do
		case $bin in
		kube-apiserver) stamped kube-apiserver "$k8s_version" && continue ;;
		etcd) stamped etcd "$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)" && continue ;;
		*) continue ;;
		esac
		if "$root/hack/fetch-release.sh" envtest "$out"; then
			fetched=true
		else
			echo "Building kube-apiserver and etcd from the pinned Go modules instead"
		fi
		break
	done
fi

for bin in "${binaries[@]}"; do
	case $bin in
	kube-apiserver | kube-controller-manager)
		version=$k8s_version
		src=k8s.io/kubernetes/cmd/$bin
		flags=$ldflags
		;;
	etcd)
		version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
		src=go.etcd.io/etcd/server/v3
		flags="-s -w"
		;;
	*)
		echo "build-control-plane.sh: unknown binary $bin" >&2
		exit 2
		;;
	esac
	if stamped "$bin" "$version" || { $fetched && [[ $bin != kube-controller-manager ]]; }; then
		continue
	fi
	echo "Building $bin $version into $out; a cold build takes a few minutes"
	CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$out/$bin.tmp" "$src"
	mv "$out/$bin.tmp" "$out/$bin"
	# Replace this binary's word in the stamp, keep the others.
	words=$(tr ' ' '\n' <"$stamp" | grep -v "^$bin=" | grep . || true)
	echo $words "$bin=$version" >"$stamp"
done
