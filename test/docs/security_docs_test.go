package docs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// The overlay of docs/security.md that pins the image by digest, built on
// config/default and on config/namespaced: the manager runs the image by
// digest.
func TestSecurityDocPinsImageByDigest(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "security.md"))
	g.Expect(err).NotTo(HaveOccurred())
	var overlay string
	for _, b := range testutil.FencedBlocks(t, string(raw), "yaml") {
		if strings.Contains(b, "images:") && strings.Contains(b, "digest:") {
			overlay = b
		}
	}
	g.Expect(overlay).NotTo(BeEmpty(), "docs/security.md has no kustomize overlay with an image digest")
	var k struct {
		Resources []string         `json:"resources"`
		Images    []map[string]any `json:"images"`
	}
	g.Expect(yaml.UnmarshalStrict([]byte(overlay), &k)).To(Succeed())
	g.Expect(k.Resources).To(HaveLen(1))
	g.Expect(k.Images).To(HaveLen(1))
	want := k.Images[0]["newName"].(string) + "@" + k.Images[0]["digest"].(string)

	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		t.Fatal("KUSTOMIZE is not set: run the tests with `make test`, which installs kustomize into bin/")
	}
	for _, base := range []string{"config/default", "config/namespaced"} {
		abs, err := filepath.Abs(filepath.Join(repoRoot, base))
		g.Expect(err).NotTo(HaveOccurred())
		dir := t.TempDir()
		// The doc's overlay, with its resource pointing at this repository
		// (kustomize takes relative paths only).
		rel, err := filepath.Rel(dir, abs)
		g.Expect(err).NotTo(HaveOccurred())
		b, err := yaml.Marshal(map[string]any{"resources": []string{rel}, "images": k.Images})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), b, 0o600)).To(Succeed())
		out, err := exec.Command(bin, "build", dir).CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), "kustomize build of the overlay on %s:\n%s", base, out)
		objs, err := testutil.DecodeObjects(out)
		g.Expect(err).NotTo(HaveOccurred())
		var images []string
		for _, u := range objs {
			if u.GetKind() != "Deployment" {
				continue
			}
			containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			g.Expect(err).NotTo(HaveOccurred())
			for _, c := range containers {
				images = append(images, c.(map[string]any)["image"].(string))
			}
		}
		g.Expect(images).To(Equal([]string{want}), base)
	}
}
