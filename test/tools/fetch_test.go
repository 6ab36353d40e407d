// Package tools tests how the Makefile gets its test tools: pinned,
// checksummed releases first (hack/fetch-release.sh), with a local HTTPS server
// standing in for the release hosts, and the build from the pinned Go modules
// when the download fails.
package tools

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

const repoRoot = "../.."

// The pinned releases of hack/fetch-release.sh, for this platform.
var (
	platform       = runtime.GOOS + "-" + runtime.GOARCH
	envtestArchive = "/envtest-v1.37.0/envtest-v1.37.0-" + platform + ".tar.gz"
	helmArchive    = "/helm-v4.3.0-" + platform + ".tar.gz"
)

func requirePinnedPlatform(t *testing.T) {
	t.Helper()
	switch platform {
	case "linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64":
	default:
		t.Skipf("hack/fetch-release.sh pins no release for %s", platform)
	}
}

// tarball returns a gzipped tar of files (name to content), all executable.
func tarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha512Hex(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }
func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// releaseHost is a local HTTPS server standing in for the release hosts; it
// counts the requests of each path.
type releaseHost struct {
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	requests map[string]int
}

func newReleaseHost(t *testing.T, files map[string][]byte) *releaseHost {
	t.Helper()
	h := &releaseHost{requests: map[string]int{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests[r.URL.Path]++
		h.mu.Unlock()
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(h.srv.Close)
	h.caFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw})
	if err := os.WriteFile(h.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *releaseHost) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[path]
}

// script runs a script of hack/ with env added to the environment; curl
// trusts the release host's certificate and reaches it directly.
func script(t *testing.T, h *releaseHost, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "hack", name), args...)
	// Only loopback, never through a proxy.
	for _, kv := range os.Environ() {
		// The test's settings only.
		if !strings.HasPrefix(kv, "ENVTEST_") && !strings.HasPrefix(kv, "HELM_") && !strings.HasPrefix(kv, "TOOLS_DOWNLOAD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	cmd.Env = append(cmd.Env, env...)
	if h != nil {
		cmd.Env = append(cmd.Env, "CURL_CA_BUNDLE="+h.caFile)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var envtestFiles = map[string]string{
	"controller-tools/envtest/kube-apiserver": "#!/bin/sh\necho kube-apiserver from the release\n",
	"controller-tools/envtest/etcd":           "#!/bin/sh\necho etcd from the release\n",
	"controller-tools/envtest/kubectl":        "#!/bin/sh\necho kubectl from the release\n",
}

// The envtest release is downloaded, checked and unpacked into the assets
// directory; a second run finds it there and downloads nothing.
func TestFetchEnvtest(t *testing.T) {
	requirePinnedPlatform(t)
	g := NewWithT(t)
	archive := tarball(t, envtestFiles)
	h := newReleaseHost(t, map[string][]byte{envtestArchive: archive})
	dir := t.TempDir()
	env := []string{"ENVTEST_BASE_URL=" + h.srv.URL, "ENVTEST_SHA512=" + sha512Hex(archive)}

	out, err := script(t, h, env, "fetch-release.sh", "envtest", dir)
	g.Expect(err).NotTo(HaveOccurred(), out)
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		b, err := os.ReadFile(filepath.Join(dir, bin))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(b)).To(Equal(envtestFiles["controller-tools/envtest/"+bin]))
		st, err := os.Stat(filepath.Join(dir, bin))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.Mode() & 0o111).NotTo(BeZero())
	}
	stamp, err := os.ReadFile(filepath.Join(dir, ".version"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.Fields(string(stamp))).To(ContainElement("envtest=v1.37.0"))
	g.Expect(h.count(envtestArchive)).To(Equal(1))

	out, err = script(t, h, env, "fetch-release.sh", "envtest", dir)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(h.count(envtestArchive)).To(Equal(1), "present at the pinned version: not downloaded again")
}

// helm is downloaded, checked and unpacked to the given path.
func TestFetchHelm(t *testing.T) {
	requirePinnedPlatform(t)
	g := NewWithT(t)
	archive := tarball(t, map[string]string{platform + "/helm": "#!/bin/sh\necho helm from the release\n", platform + "/LICENSE": "x"})
	h := newReleaseHost(t, map[string][]byte{helmArchive: archive})
	dest := filepath.Join(t.TempDir(), "bin", "helm")

	out, err := script(t, h, []string{"HELM_BASE_URL=" + h.srv.URL, "HELM_SHA256=" + sha256Hex(archive)}, "fetch-release.sh", "helm", dest)
	g.Expect(err).NotTo(HaveOccurred(), out)
	b, err := os.ReadFile(dest)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(Equal("#!/bin/sh\necho helm from the release\n"))
	stamp, err := os.ReadFile(dest + ".version")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(stamp))).To(Equal("helm=v4.3.0"))
}

// A download whose checksum is not the pinned one is refused, and nothing is
// installed; so is one without a pinned checksum, or from an unreachable host.
func TestFetchRefusesUncheckedFiles(t *testing.T) {
	requirePinnedPlatform(t)
	archive := tarball(t, envtestFiles)
	h := newReleaseHost(t, map[string][]byte{envtestArchive: archive})
	tampered := append(bytes.Clone(archive), 0)
	for _, tc := range []struct {
		name, baseURL, sum, want string
	}{
		// The pinned checksum, that of the real release, is not this file's.
		{"the pinned checksum", h.srv.URL, "pinned", "refusing envtest-v1.37.0-" + platform + ".tar.gz: its SHA-512 is " + sha512Hex(archive)},
		{"another file's checksum", h.srv.URL, sha512Hex(tampered), "the pinned one " + sha512Hex(tampered)},
		{"no checksum", h.srv.URL, "", "no pinned SHA-512"},
		{"a checksum of the wrong length", h.srv.URL, sha256Hex(archive), "no pinned SHA-512"},
		{"an unreachable host", "https://127.0.0.1:1", sha512Hex(archive), "could not download"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			env := []string{"ENVTEST_BASE_URL=" + tc.baseURL}
			if tc.sum != "pinned" {
				env = append(env, "ENVTEST_SHA512="+tc.sum)
			}
			out, err := script(t, h, env, "fetch-release.sh", "envtest", dir)
			g.Expect(err).To(HaveOccurred(), out)
			g.Expect(out).To(ContainSubstring(tc.want))
			entries, err := os.ReadDir(dir)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(entries).To(BeEmpty(), "nothing installed")
		})
	}
	// Only the first two cases downloaded: a missing checksum is known before.
	NewWithT(t).Expect(h.count(envtestArchive)).To(Equal(2))
}

// fakeGo writes a `go` that stands in for the Go toolchain in the build
// scripts: `go list -m` prints the pinned versions, `go build -o FILE PKG`
// writes FILE naming PKG; every call is recorded in the returned log.
func fakeGo(t *testing.T) (pathEnv, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	body := `#!/usr/bin/env bash
echo "$*" >>` + log + `
case $1 in
list) for a in "$@"; do case $a in go.etcd.io/etcd/server/v3) echo v3.7.0;; helm.sh/helm/v4) echo v4.3.1;; esac; done ;;
build) while [[ $# -gt 0 ]]; do [[ $1 == -o ]] && { out=$2; shift; }; pkg=$1; shift; done; echo "built $pkg" >"$out"; chmod +x "$out" ;;
*) exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"), log
}

// When the download is refused, hack/build-control-plane.sh builds
// kube-apiserver and etcd from the pinned modules; with a good download it
// builds only kube-controller-manager, which envtest releases do not hold.
func TestControlPlaneFallsBackToTheBuild(t *testing.T) {
	requirePinnedPlatform(t)
	archive := tarball(t, envtestFiles)
	h := newReleaseHost(t, map[string][]byte{envtestArchive: archive})

	t.Run("refused download", func(t *testing.T) {
		g := NewWithT(t)
		pathEnv, log := fakeGo(t)
		dir := t.TempDir()
		out, err := script(t, h, []string{pathEnv, "ENVTEST_BASE_URL=" + h.srv.URL, "ENVTEST_SHA512=" + sha512Hex(append(bytes.Clone(archive), 0))},
			"build-control-plane.sh", dir)
		g.Expect(err).NotTo(HaveOccurred(), out)
		g.Expect(out).To(ContainSubstring("refusing"))
		for bin, pkg := range map[string]string{"kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver", "etcd": "go.etcd.io/etcd/server/v3"} {
			b, err := os.ReadFile(filepath.Join(dir, bin))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(b)).To(Equal("built "+pkg+"\n"), bin)
		}
		g.Expect(filepath.Join(dir, "kubectl")).NotTo(BeAnExistingFile())
		calls, err := os.ReadFile(log)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(calls)).To(ContainSubstring("-X k8s.io/component-base/version.gitVersion=v1.37.2"), "version stamping")
		stamp, err := os.ReadFile(filepath.Join(dir, ".version"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(strings.Fields(string(stamp))).To(ConsistOf("kube-apiserver=v1.37.2", "etcd=v3.7.0"))
	})

	t.Run("good download", func(t *testing.T) {
		g := NewWithT(t)
		pathEnv, log := fakeGo(t)
		dir := t.TempDir()
		out, err := script(t, h, []string{pathEnv, "ENVTEST_BASE_URL=" + h.srv.URL, "ENVTEST_SHA512=" + sha512Hex(archive)},
			"build-control-plane.sh", dir, "kube-apiserver", "etcd", "kube-controller-manager")
		g.Expect(err).NotTo(HaveOccurred(), out)
		b, err := os.ReadFile(filepath.Join(dir, "kube-apiserver"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(b)).To(ContainSubstring("from the release"))
		b, err = os.ReadFile(filepath.Join(dir, "kube-controller-manager"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(b)).To(Equal("built k8s.io/kubernetes/cmd/kube-controller-manager\n"))
		calls, err := os.ReadFile(log)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(strings.Count(string(calls), "build ")).To(Equal(1), "only kube-controller-manager is built:\n%s", calls)
		stamp, err := os.ReadFile(filepath.Join(dir, ".version"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(strings.Fields(string(stamp))).To(ConsistOf("envtest=v1.37.0", "kube-controller-manager=v1.37.2"))

		// Everything there: a second run neither downloads nor builds.
		before := h.count(envtestArchive)
		out, err = script(t, h, []string{pathEnv, "ENVTEST_BASE_URL=" + h.srv.URL, "ENVTEST_SHA512=" + sha512Hex(archive)},
			"build-control-plane.sh", dir, "kube-apiserver", "etcd", "kube-controller-manager")
		g.Expect(err).NotTo(HaveOccurred(), out)
		g.Expect(h.count(envtestArchive)).To(Equal(before))
		calls, _ = os.ReadFile(log)
		g.Expect(strings.Count(string(calls), "build ")).To(Equal(1))
	})
}

// When the helm download is refused, hack/build-helm.sh builds it from the
// pinned module.
func TestHelmFallsBackToTheBuild(t *testing.T) {
	requirePinnedPlatform(t)
	g := NewWithT(t)
	archive := tarball(t, map[string]string{platform + "/helm": "#!/bin/sh\n"})
	h := newReleaseHost(t, map[string][]byte{helmArchive: archive})
	pathEnv, _ := fakeGo(t)
	dest := filepath.Join(t.TempDir(), "helm")
	out, err := script(t, h, []string{pathEnv, "HELM_BASE_URL=" + h.srv.URL, "HELM_SHA256=" + sha256Hex([]byte("another file"))}, "build-helm.sh", dest)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("refusing"))
	b, err := os.ReadFile(dest)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(Equal("built helm.sh/helm/v4/cmd/helm\n"))
	stamp, err := os.ReadFile(dest + ".version")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(stamp))).To(Equal("helm=v4.3.1"))
}
