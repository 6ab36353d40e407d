package controllers_test

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

// kustomizeBuild renders a kustomization with the kustomize binary that
// `make test` installs into bin/ and names in $KUSTOMIZE.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		t.Fatal("KUSTOMIZE is not set: run the tests with `make test`, which installs kustomize into bin/")
	}
	out, err := exec.Command(bin, "build", filepath.Join("..", dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, out)
	}
	objs, err := testutil.DecodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// config/default renders, and the API server accepts every object of it
// (server-side apply, dry run: nothing is started).
func TestDefaultBundleIsAccepted(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	objs := kustomizeBuild(t, "config/default")
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
		"Namespace": 1, "CustomResourceDefinition": 1, "ServiceAccount": 1, "Deployment": 1,
		"ClusterRole": 5, "ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1,
		"ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1,
	}))
}

// config/samples renders with kustomize too.
func TestSamplesKustomization(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	objs := kustomizeBuild(t, "config/samples")
	counts := map[string]int{}
	for _, u := range objs {
		counts[u.GetKind()]++
	}
	g.Expect(counts).To(Equal(map[string]int{"Secret": 5, "OAuthClient": 5}))
}
