package docs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// securityDocOverlay is the kustomize overlay of docs/security.md whose text
// holds every one of marks, with its single resource.
func securityDocOverlay(t *testing.T, marks ...string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	var overlay string
	for _, b := range testutil.FencedBlocks(t, string(raw), "yaml") {
		found := true
		for _, m := range marks {
			found = found && strings.Contains(b, m)
		}
		if found {
			overlay = b
		}
	}
	if overlay == "" {
		t.Fatalf("docs/security.md has no kustomize overlay with %q", marks)
	}
	var k map[string]any
	if err := yaml.Unmarshal([]byte(overlay), &k); err != nil {
		t.Fatal(err)
	}
	if r, _ := k["resources"].([]any); len(r) != 1 {
		t.Fatalf("the overlay with %q has %d resources, want 1", marks, len(r))
	}
	return k
}

// buildOverlay renders overlay with its resource pointing at base, a
// kustomization of this repository (kustomize takes relative paths only).
func buildOverlay(t *testing.T, overlay map[string]any, base string) []*unstructured.Unstructured {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		t.Fatal("KUSTOMIZE is not set: run the tests with `make test`, which installs kustomize into bin/")
	}
	abs, err := filepath.Abs(filepath.Join(repoRoot, base))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	k := map[string]any{}
	for key, v := range overlay {
		k[key] = v
	}
	k["resources"] = []string{rel}
	b, err := yaml.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "build", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build of the overlay on %s: %v\n%s", base, err, out)
	}
	objs, err := testutil.DecodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// The overlay of docs/security.md that pins the image by digest, built on
// config/default and on config/namespaced: the manager runs the image by
// digest.
func TestSecurityDocPinsImageByDigest(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	k := securityDocOverlay(t, "images:", "digest:")
	var images []map[string]any
	b, err := yaml.Marshal(k["images"])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(yaml.UnmarshalStrict(b, &images)).To(Succeed())
	g.Expect(images).To(HaveLen(1))
	want := images[0]["newName"].(string) + "@" + images[0]["digest"].(string)

	for _, base := range []string{"config/default", "config/namespaced"} {
		var got []string
		for _, u := range buildOverlay(t, k, base) {
			if u.GetKind() != "Deployment" {
				continue
			}
			containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			g.Expect(err).NotTo(HaveOccurred())
			for _, c := range containers {
				got = append(got, c.(map[string]any)["image"].(string))
			}
		}
		g.Expect(got).To(Equal([]string{want}), base)
	}
}

// The overlay of docs/security.md that replaces the API server's audiences of
// the ServiceAccount token admission policy, built on config/default and on
// config/namespaced: the policy lists the overlay's audiences, keeps every
// other variable, and the API server accepts it (dry run).
func TestSecurityDocSetsAPIAudiences(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	g := NewWithT(t)
	k := securityDocOverlay(t, "tokenator-token-requests", "apiAudiences")
	plain := policyVariables(g, testutil.KustomizeBuild(t, repoRoot, "config/default"))
	g.Expect(plain).To(HaveKey("apiAudiences"))
	for _, base := range []string{"config/default", "config/namespaced"} {
		objs := buildOverlay(t, k, base)
		vars := policyVariables(g, objs)
		g.Expect(vars).To(HaveLen(len(plain)), base)
		for name, expr := range plain {
			if name != "apiAudiences" {
				g.Expect(vars).To(HaveKeyWithValue(name, expr), base)
			}
		}
		g.Expect(vars["apiAudiences"]).To(HavePrefix(`["https://kubernetes.default.svc", "https://oidc.eks.`), base)
		for _, u := range objs {
			if u.GetKind() == "ValidatingAdmissionPolicy" {
				g.Expect(k8s.Create(context.Background(), u, client.DryRunAll)).To(Succeed(), "%s %s", base, u.GetName())
			}
		}
	}
}

// policyVariables are the variables of the policy tokenator-token-requests
// among objs, by name.
func policyVariables(g Gomega, objs []*unstructured.Unstructured) map[string]string {
	vars := map[string]string{}
	for _, u := range objs {
		if u.GetKind() != "ValidatingAdmissionPolicy" || u.GetName() != "tokenator-token-requests" {
			continue
		}
		list, _, err := unstructured.NestedSlice(u.Object, "spec", "variables")
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		for _, v := range list {
			m := v.(map[string]any)
			vars[m["name"].(string)] = m["expression"].(string)
		}
	}
	g.ExpectWithOffset(1, vars).NotTo(BeEmpty(), "the policy tokenator-token-requests is rendered")
	return vars
}
