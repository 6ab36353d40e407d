#!/usr/bin/env bash
# Fetches a pinned, checksummed release of a test tool instead of building it:
#
#   hack/fetch-release.sh envtest DIR   kube-apiserver, etcd and kubectl of the
#                                       envtest release into DIR (KUBEBUILDER_ASSETS)
#   hack/fetch-release.sh helm FILE     helm into FILE
#
# The versions, URLs and checksums are pinned below, and nowhere else. A file
# whose checksum differs from the pin is refused; without a pin for this
# platform nothing is downloaded. The exit status is not 0 when nothing was
# installed: hack/build-control-plane.sh and hack/build-helm.sh then build the
# tools from the pinned Go modules. A download that cannot connect fails within
# seconds (offline machines, CI). Exits 0 at once when the pinned release is
# already installed.
#
# For tests, ENVTEST_BASE_URL, HELM_BASE_URL, ENVTEST_SHA512 and HELM_SHA256
# replace the release hosts and the pinned checksums.
set -euo pipefail

# envtest: the controller-tools releases of setup-envtest, listed with their
# SHA-512 in https://raw.githubusercontent.com/kubernetes-sigs/controller-tools/HEAD/envtest-releases.yaml
# v1.37.0 is the release nearest to the kube-apiserver v1.37.2 that
# hack/build-control-plane.sh builds (no envtest release of v1.37.2 is listed).
envtest_version=v1.37.0
envtest_sha512_linux_amd64=1d1c453633b72c161a5d5a886cde7ac850be1a2ac796a9e1d4ffacacc64868295bdd2d57aa66cd0c158f5ce510f5dfe3fbc61ac21bd3dcfb875bd70658aa663a
envtest_sha512_linux_arm64=ae6a670502988200b0131c943758cfd3d3a58cf4e6247ef7f0e6a6467f1cd9a333c802e86101f0446b1b92a0e327387224e1e44fe1a4693da0929c6e529cfe9a
envtest_sha512_darwin_amd64=19a2a5376a8aa57a7b25ec5198834db29bf2ba0d6ff572d7f45ba683b13fb14c3ebec8069e92db66c39f1c7a9cff1bc2be879e2aacdc9fa8b8a7e861959bdf7b
envtest_sha512_darwin_arm64=fb38cfacdd71b5e97a4d4cceac861af5f55069cf783f0e49cf181bfc32eb3e557c2091a534dc5d38f1b92c5ba142bc1979f215a5385b3630ea6a661be6fa161b
envtest_base_url=${ENVTEST_BASE_URL:-https://github.com/kubernetes-sigs/controller-tools/releases/download}

# helm: https://get.helm.sh/helm-vX.Y.Z-OS-ARCH.tar.gz, with its SHA-256 in the
# .sha256sum file next to it and in the release notes. v4.3.0: the release
# nearest to the helm v4.3.1 module of hack/helm whose checksum is pinned here.
helm_version=v4.3.0
helm_sha256_linux_amd64=86584a54def73570558f66f5111cc53dfed56689637ae32c1201205d494f54fb
helm_sha256_linux_arm64=31c5794dd55c66a51e6b7d2e2ac7a114ae8b1de41ff1d9ba51748ac973b06a08
helm_sha256_darwin_amd64=347a784877e0e20eac865e8d1c36a80f6bb0861d6f29abd34defb6570ef95d92
helm_sha256_darwin_arm64=d3870437e1e95b67f8edbde964156c84a26503f560821d40c542441658934fba
helm_base_url=${HELM_BASE_URL:-https://get.helm.sh}

usage() {
	echo "usage: hack/fetch-release.sh envtest DIR | helm FILE" >&2
	exit 2
}
[[ $# -eq 2 ]] || usage
tool=$1
dest=$2

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case $(uname -m) in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac
platform=${os}_${arch}

# stamp_has FILE WORD: whether the stamp FILE lists WORD.
stamp_has() {
	[[ -f $1 ]] && tr ' ' '\n' <"$1" | grep -qxF "$2"
}

case $tool in
envtest)
	version=$envtest_version
	pin_var=envtest_sha512_$platform
	want=${ENVTEST_SHA512-${!pin_var:-}}
	algo=512
	archive=envtest-$version-$os-$arch.tar.gz
	url=$envtest_base_url/envtest-$version/$archive
	stamp=$dest/.version
	if [[ -x $dest/kube-apiserver && -x $dest/etcd ]] && stamp_has "$stamp" "envtest=$version"; then
		exit 0
	fi
	;;
helm)
	version=$helm_version
	pin_var=helm_sha256_$platform
	want=${HELM_SHA256-${!pin_var:-}}
	algo=256
	archive=helm-$version-$os-$arch.tar.gz
	url=$helm_base_url/$archive
	stamp=$dest.version
	if [[ -x $dest ]] && stamp_has "$stamp" "helm=$version"; then
		exit 0
	fi
	;;
*) usage ;;
esac

if [[ ! $want =~ ^[0-9a-f]+$ ]] || ((${#want} != algo / 4)); then
	echo "fetch-release.sh: no pinned SHA-$algo for $tool $version on $platform: not downloading" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "Downloading $url"
if ! curl --fail --silent --show-error --location --proto '=https' \
	--connect-timeout 5 --max-time 600 --output "$tmp/$archive" "$url"; then
	echo "fetch-release.sh: could not download $url" >&2
	exit 1
fi
if command -v "sha${algo}sum" >/dev/null; then
	got=$("sha${algo}sum" "$tmp/$archive")
else
	got=$(shasum -a "$algo" "$tmp/$archive")
fi
got=${got%% *}
if [[ $got != "$want" ]]; then
	echo "fetch-release.sh: refusing $archive: its SHA-$algo is $got, the pinned one $want" >&2
	exit 1
fi
mkdir "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x"

case $tool in
envtest)
	src=$tmp/x/controller-tools/envtest
	for bin in kube-apiserver etcd kubectl; do
		if [[ ! -f $src/$bin ]]; then
			echo "fetch-release.sh: $archive has no controller-tools/envtest/$bin" >&2
			exit 1
		fi
	done
	mkdir -p "$dest"
	for bin in kube-apiserver etcd kubectl; do
		install -m 0755 "$src/$bin" "$dest/$bin.tmp"
		mv "$dest/$bin.tmp" "$dest/$bin"
	done
	# The downloaded binaries replace the built ones: their words go.
	words=$( (cat "$stamp" 2>/dev/null || true) | tr ' ' '\n' | grep -Ev '^(kube-apiserver|etcd|envtest)=' | grep . || true)
	echo $words "envtest=$version" >"$stamp"
	echo "Installed kube-apiserver, etcd and kubectl of envtest $version into $dest"
	;;
helm)
	src=$tmp/x/$os-$arch/helm
	if [[ ! -f $src ]]; then
		echo "fetch-release.sh: $archive has no $os-$arch/helm" >&2
		exit 1
	fi
	mkdir -p "$(dirname "$dest")"
	install -m 0755 "$src" "$dest.tmp"
	mv "$dest.tmp" "$dest"
	echo "helm=$version" >"$stamp"
	echo "Installed helm $version as $dest"
	;;
esac
