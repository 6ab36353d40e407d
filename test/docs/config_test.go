package docs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// config/default renders, and the API server accepts every object of it
// (server-side apply, dry run: nothing is started).
func TestDefaultBundleIsAccepted(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	objs := testutil.KustomizeBuild(t, repoRoot, "config/default")
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		opts := []client.PatchOption{client.FieldOwner("config-test"), client.ForceOwnership}
		if u.GetKind() != "Namespace" {
			opts = append(opts, client.DryRunAll)
		}
		g.Expect(k8s.Patch(ctx, u, client.Apply, opts...)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
		if ns := u.GetNamespace(); ns != "" {
			g.Expect(ns).To(Equal("tokenator-system"))
		}
	}
	g.Expect(kinds).To(Equal(map[string]int{
		"Namespace": 1, "CustomResourceDefinition": 2, "ServiceAccount": 1, "Deployment": 1,
		"ClusterRole": 5, "ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1,
		"ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2,
	}))
}

// Each admission policy's binding names the policy as rendered, from
// config/default and from an overlay that adds a namePrefix of its own: a
// binding whose policyName was left behind binds nothing, and the API server
// says nothing about it.
func TestPolicyBindingNamesThePolicy(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	check := func(objs []*unstructured.Unstructured, wantNames ...string) {
		t.Helper()
		var policies, bound []string
		for _, u := range objs {
			switch u.GetKind() {
			case "ValidatingAdmissionPolicy":
				policies = append(policies, u.GetName())
			case "ValidatingAdmissionPolicyBinding":
				name, _, _ := unstructured.NestedString(u.Object, "spec", "policyName")
				bound = append(bound, name)
			}
		}
		g.Expect(policies).To(Equal(wantNames))
		g.Expect(bound).To(Equal(policies), "the binding's spec.policyName is the policy's name")
	}
	// The policies stay out of config/default's namePrefix, so that kustomize
	// releases that do not rename policyName (kustomize #5674) keep them
	// bound: rendered, they have the names config/policy gives them.
	for file, want := range map[string]string{
		"secret_write_policy.yaml":  "tokenator-secret-writes",
		"token_request_policy.yaml": "tokenator-token-requests",
	} {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "policy", file))
		g.Expect(err).NotTo(HaveOccurred())
		source, err := testutil.DecodeObjects(raw)
		g.Expect(err).NotTo(HaveOccurred())
		var sourceNames []string
		for _, u := range source {
			sourceNames = append(sourceNames, u.GetName())
			if u.GetKind() == "ValidatingAdmissionPolicyBinding" {
				name, _, _ := unstructured.NestedString(u.Object, "spec", "policyName")
				g.Expect(name).To(Equal(u.GetName()), "config/policy/%s: the binding names the policy", file)
			}
		}
		g.Expect(sourceNames).To(Equal([]string{want, want}), file)
	}
	check(testutil.KustomizeBuild(t, repoRoot, "config/default"), "tokenator-secret-writes", "tokenator-token-requests")

	root, err := filepath.Abs(repoRoot)
	g.Expect(err).NotTo(HaveOccurred())
	overlay := t.TempDir()
	base, err := filepath.Rel(overlay, filepath.Join(root, "config", "default"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(overlay, "kustomization.yaml"),
		[]byte("namePrefix: acme-\nresources:\n- "+base+"\n"), 0o600)).To(Succeed())
	out, err := exec.Command(os.Getenv("KUSTOMIZE"), "build", overlay).CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "%s", out)
	objs, err := testutil.DecodeObjects(out)
	g.Expect(err).NotTo(HaveOccurred())
	check(objs, "acme-tokenator-secret-writes", "acme-tokenator-token-requests")
}

// config/samples renders with kustomize too, every sample file of it.
func TestSamplesKustomization(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "samples", "tokenator_*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(files)).To(BeNumerically(">=", 6))
	objs := testutil.KustomizeBuild(t, repoRoot, "config/samples")
	counts := map[string]int{}
	for _, u := range objs {
		counts[u.GetKind()]++
	}
	// Each sample is a Secret and an OAuthClient; the provider sample adds its
	// ClusterOAuthProvider, the token exchange sample its ServiceAccount.
	g.Expect(counts).To(Equal(map[string]int{"Secret": len(files), "OAuthClient": len(files), "ClusterOAuthProvider": 1, "ServiceAccount": 1}))
}
