package chart_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The chart passes --require-provider-ref and --cluster-resource-namespace,
// creates ClusterOAuthProviders from values, which the API server accepts, and
// its admission policy allows shared tokens in the cluster resource namespace.
// With watchNamespaces, the manager watches that namespace too, with a Role.
func TestChartClusterOAuthProviders(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	values := map[string]any{
		"requireProviderRef":       true,
		"clusterResourceNamespace": "idp-secrets",
		"watchNamespaces":          []string{"team-x"},
		"clusterOAuthProviders": []any{map[string]any{
			"name": "lucca",
			"spec": map[string]any{
				"provider":             "lucca",
				"credentialsSecretRef": map[string]any{"name": "lucca-central"},
				"allowedNamespaces":    map[string]any{"matchLabels": map[string]any{"tokenator.dev/lucca": "allowed"}},
				"allowedScopes":        []any{"api.read*"},
			},
		}},
	}
	r := rendered(render(t, "tokenator-system", values))
	var d appsv1.Deployment
	typed(g, r.one(g, "Deployment"), &d)
	g.Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--require-provider-ref", "--cluster-resource-namespace=idp-secrets",
		"--namespaces=team-x,idp-secrets"))
	for _, ns := range []string{"team-x", "idp-secrets"} {
		g.Expect(r.find("Role", ns, fullname+"-manager")).NotTo(BeNil(), "the manager's Role in %s", ns)
	}
	g.Expect(r.find("Role", "tokenator-system", fullname+"-manager")).To(BeNil(), "the release namespace is not watched")
	p := r.one(g, "ClusterOAuthProvider")
	g.Expect(p.GetName()).To(Equal("lucca"))
	g.Expect(p.GetNamespace()).To(BeEmpty())
	scopes, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "allowedScopes")
	g.Expect(scopes).To(Equal([]string{"api.read*"}))
	vap := r.find("ValidatingAdmissionPolicy", "", fullname+"-secret-writes")
	g.Expect(vap).NotTo(BeNil())
	vars, _, _ := unstructured.NestedSlice(vap.Object, "spec", "variables")
	found := false
	for _, v := range vars {
		if expr, _ := v.(map[string]any)["expression"].(string); expr != "" && strings.Contains(expr, "ClusterOAuthProvider") && strings.Contains(expr, "'idp-secrets'") {
			found = true
		}
	}
	g.Expect(found).To(BeTrue(), "the policy allows shared tokens in the cluster resource namespace")

	// The API server accepts the provider, once the chart's CRDs are installed.
	ctx := context.Background()
	applyCRDs(t, r)
	g.Eventually(func() error { return applyDryRun(ctx, p) }).WithTimeout(30 * time.Second).Should(Succeed())
}
