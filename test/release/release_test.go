// Package release_test runs hack/release.sh, what make release runs, into a
// temporary directory for the host's platform only, and checks what it
// writes: install.yaml is accepted by a real API server (server-side dry
// run) and runs the version's image, the chart carries the version, the
// plugin archive holds a binary that says its version, the Krew manifest
// names the archive's sha256, and checksums.txt is right.
//
// It needs KUSTOMIZE, HELM and KUBEBUILDER_ASSETS (make test sets them).
package release_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

var repoRoot = filepath.Join("..", "..")

const (
	version      = "v0.99.1-rc.1"
	chartVersion = "0.99.1-rc.1"
)

// release runs hack/release.sh for the host platform into a new directory.
func release(t *testing.T, version string) (dir string, output string, err error) {
	t.Helper()
	for _, v := range []string{"KUSTOMIZE", "HELM"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run the tests with make test", v)
		}
	}
	dir = filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "release.sh"), version, dir)
	cmd.Env = append(os.Environ(), "PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH)
	out, err := cmd.CombinedOutput()
	return dir, string(out), err
}

func TestRelease(t *testing.T) {
	g := NewWithT(t)
	dir, out, err := release(t, version)
	g.Expect(err).NotTo(HaveOccurred(), out)
	archive := fmt.Sprintf("kubectl-tokenator_%s_%s_%s.tar.gz", version, runtime.GOOS, runtime.GOARCH)
	chart := "tokenator-" + chartVersion + ".tgz"

	entries, err := os.ReadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	g.Expect(files).To(ConsistOf("install.yaml", chart, archive, "tokenator.yaml", "checksums.txt"))

	t.Run("checksums", func(t *testing.T) {
		g := NewWithT(t)
		sums := checksums(t, filepath.Join(dir, "checksums.txt"))
		g.Expect(sums).To(HaveLen(len(files) - 1))
		for _, f := range files {
			if f == "checksums.txt" {
				continue
			}
			g.Expect(sums).To(HaveKeyWithValue(f, sha256File(t, filepath.Join(dir, f))), f)
		}
	})

	t.Run("install.yaml", func(t *testing.T) {
		checkInstallYAML(t, filepath.Join(dir, "install.yaml"))
	})

	t.Run("chart", func(t *testing.T) {
		g := NewWithT(t)
		chartYAML := fileInTarGz(t, filepath.Join(dir, chart), "tokenator/Chart.yaml")
		var meta struct {
			Version    string `json:"version"`
			AppVersion string `json:"appVersion"`
		}
		g.Expect(yaml.Unmarshal(chartYAML, &meta)).To(Succeed())
		g.Expect(meta.Version).To(Equal(chartVersion))
		g.Expect(meta.AppVersion).To(Equal(version))
		rendered, err := exec.Command(os.Getenv("HELM"), "template", "tokenator", filepath.Join(dir, chart), "--namespace", "tokenator-system").CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), "%s", rendered)
		g.Expect(string(rendered)).To(MatchRegexp(`image: "?ghcr.io/tokenator-dev/tokenator:` + regexp.QuoteMeta(version) + `"?\n`))
	})

	t.Run("plugin", func(t *testing.T) {
		g := NewWithT(t)
		names := namesInTarGz(t, filepath.Join(dir, archive))
		g.Expect(names).To(Equal([]string{"README.md", "kubectl-tokenator"}))
		bin := filepath.Join(t.TempDir(), "kubectl-tokenator")
		g.Expect(os.WriteFile(bin, fileInTarGz(t, filepath.Join(dir, archive), "kubectl-tokenator"), 0o755)).To(Succeed())
		out, err := exec.Command(bin, "version").CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), "%s", out)
		g.Expect(string(out)).To(HavePrefix("kubectl-tokenator " + version + " ("))
		g.Expect(string(out)).To(HaveSuffix(runtime.GOOS + "/" + runtime.GOARCH + ")\n"))
	})

	t.Run("krew manifest", func(t *testing.T) {
		g := NewWithT(t)
		raw, err := os.ReadFile(filepath.Join(dir, "tokenator.yaml"))
		g.Expect(err).NotTo(HaveOccurred())
		var m struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Version          string `json:"version"`
				Homepage         string `json:"homepage"`
				ShortDescription string `json:"shortDescription"`
				Description      string `json:"description"`
				Platforms        []struct {
					Selector struct {
						MatchLabels map[string]string `json:"matchLabels"`
					} `json:"selector"`
					URI    string `json:"uri"`
					SHA256 string `json:"sha256"`
					Bin    string `json:"bin"`
				} `json:"platforms"`
			} `json:"spec"`
		}
		g.Expect(yaml.UnmarshalStrict(raw, &m)).To(Succeed())
		g.Expect(m.APIVersion).To(Equal("krew.googlecontainertools.github.com/v1alpha2"))
		g.Expect(m.Kind).To(Equal("Plugin"))
		g.Expect(m.Metadata.Name).To(Equal("tokenator"))
		g.Expect(m.Spec.ShortDescription).NotTo(BeEmpty())
		g.Expect(m.Spec.Version).To(Equal(version))
		var platforms []string
		for _, p := range m.Spec.Platforms {
			os, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
			platforms = append(platforms, os+"/"+arch)
			g.Expect(p.Bin).To(Equal("kubectl-tokenator"))
			name := fmt.Sprintf("kubectl-tokenator_%s_%s_%s.tar.gz", version, os, arch)
			g.Expect(p.URI).To(Equal("https://github.com/tokenator-dev/tokenator/releases/download/" + version + "/" + name))
			if os == runtime.GOOS && arch == runtime.GOARCH {
				g.Expect(p.SHA256).To(Equal(sha256File(t, filepath.Join(dir, archive))))
			}
		}
		g.Expect(platforms).To(ConsistOf("linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"))
	})
}

// A version that is not v and a semantic version is refused before anything
// is built.
func TestReleaseRefusesBadVersions(t *testing.T) {
	for _, v := range []string{"0.1.0", "v1.2", "latest", "v1.2.3/../x"} {
		dir, out, err := release(t, v)
		if err == nil {
			t.Errorf("release %q succeeded", v)
		}
		if !strings.Contains(out, "VERSION must be v and a semantic version") {
			t.Errorf("release %q: %s", v, out)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("release %q wrote %s", v, dir)
		}
	}
}

// CHANGELOG.md follows Keep a Changelog: its first section is the next
// release or a released version with its date.
func TestChangelog(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "CHANGELOG.md"))
	g.Expect(err).NotTo(HaveOccurred())
	section := regexp.MustCompile(`(?m)^## .*$`).FindString(string(raw))
	g.Expect(section).To(MatchRegexp(`^## (\[Unreleased\]|\[v[0-9]+\.[0-9]+\.[0-9]+\] - [0-9]{4}-[0-9]{2}-[0-9]{2})$`))
	g.Expect(string(raw)).To(ContainSubstring("## [v0.1.0] - "))
}

// checkInstallYAML applies every object of install.yaml to a real API server
// (server-side apply, dry run except the Namespace) and checks the image.
func checkInstallYAML(t *testing.T, path string) {
	g := NewWithT(t)
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	cp := &testutil.ControlPlane{CRDDir: filepath.Join(repoRoot, "config", "crd", "bases"), Scheme: operator.NewScheme()}
	_, k8s, err := cp.Start()
	defer func() { _ = cp.Stop() }()
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	objs, err := testutil.DecodeObjects(raw)
	g.Expect(err).NotTo(HaveOccurred())
	kinds := map[string]int{}
	ctx := context.Background()
	for _, u := range objs {
		kinds[u.GetKind()]++
		opts := []client.PatchOption{client.FieldOwner("release-test"), client.ForceOwnership}
		if u.GetKind() != "Namespace" {
			opts = append(opts, client.DryRunAll)
		}
		g.Expect(k8s.Patch(ctx, u, client.Apply, opts...)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
		if u.GetKind() == "Deployment" {
			containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			g.Expect(containers).To(HaveLen(1))
			image, _, _ := unstructured.NestedString(containers[0].(map[string]any), "image")
			g.Expect(image).To(Equal("ghcr.io/tokenator-dev/tokenator:" + version))
		}
	}
	g.Expect(kinds).To(Equal(map[string]int{
		"Namespace": 1, "CustomResourceDefinition": 2, "ServiceAccount": 1, "Deployment": 1,
		"ClusterRole": 5, "ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1,
		"ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2, // Secret writes and ServiceAccount tokens
	}))
}

func checksums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	s := bufio.NewScanner(f)
	for s.Scan() {
		m := line.FindStringSubmatch(s.Text())
		if m == nil {
			t.Fatalf("checksums.txt: line %q is not in sha256sum's format", s.Text())
		}
		sums[m[2]] = m[1]
	}
	return sums
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// walkTarGz calls fn for each regular file of a .tar.gz.
func walkTarGz(t *testing.T, path string, fn func(name string, r io.Reader)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			fn(h.Name, tr)
		}
	}
}

func namesInTarGz(t *testing.T, path string) []string {
	var names []string
	walkTarGz(t, path, func(name string, _ io.Reader) { names = append(names, name) })
	sort.Strings(names)
	return names
}

func fileInTarGz(t *testing.T, path, want string) []byte {
	t.Helper()
	var content []byte
	walkTarGz(t, path, func(name string, r io.Reader) {
		if name == want {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			content = b
		}
	})
	if content == nil {
		t.Fatalf("%s holds no %s", path, want)
	}
	return content
}
