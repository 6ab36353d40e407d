package docs_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// config/namespaced renders: the manager watches only the namespaces where it
// has a Role, the Roles hold exactly the generated rules, no ClusterRole
// grants anything on Secrets, and the API server accepts every object
// (server-side apply, dry run).
func TestNamespacedBundle(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	g := NewWithT(t)
	objs := testutil.KustomizeBuild(t, repoRoot, "config/namespaced")
	generated := generatedManagerRules(t)

	var (
		deployment      appsv1.Deployment
		serviceAccounts []string
		managerRoles    []string // namespace/name of the Roles with the manager's rules
		policies        []string
		policyRefs      []string
		clusterRoles    []string
		clusterBound    []string // the ClusterRoles bound cluster-wide
	)
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		switch u.GetKind() {
		case "ClusterRole":
			var role rbacv1.ClusterRole
			fromUnstructured(g, u, &role)
			g.Expect(grantsSecrets(role.Rules)).To(BeFalse(), "ClusterRole %s grants access to Secrets", role.Name)
			clusterRoles = append(clusterRoles, role.Name)
		case "Role":
			var role rbacv1.Role
			fromUnstructured(g, u, &role)
			if grantsSecrets(role.Rules) {
				g.Expect(role.Rules).To(Equal(generated), "Role %s/%s holds other rules than config/rbac/role.yaml", role.Namespace, role.Name)
				managerRoles = append(managerRoles, role.Namespace+"/"+role.Name)
			}
		case "RoleBinding":
			var b rbacv1.RoleBinding
			fromUnstructured(g, u, &b)
			g.Expect(b.RoleRef.Kind).To(Equal("Role"), "RoleBinding %s/%s", b.Namespace, b.Name)
			g.Expect(b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "tokenator-controller-manager", Namespace: "tokenator-system"}))
		case "ClusterRoleBinding":
			// Only to a ClusterRole of the bundle, which the case above checks.
			var b rbacv1.ClusterRoleBinding
			fromUnstructured(g, u, &b)
			clusterBound = append(clusterBound, b.RoleRef.Name)
		case "ServiceAccount":
			serviceAccounts = append(serviceAccounts, u.GetNamespace()+"/"+u.GetName())
		case "Deployment":
			fromUnstructured(g, u, &deployment)
		case "ValidatingAdmissionPolicy":
			policies = append(policies, u.GetName())
		case "ValidatingAdmissionPolicyBinding":
			name, _, _ := unstructured.NestedString(u.Object, "spec", "policyName")
			policyRefs = append(policyRefs, name)
		}
	}
	for _, name := range clusterBound {
		g.Expect(clusterRoles).To(ContainElement(name), "a ClusterRoleBinding binds a ClusterRole of the bundle")
	}
	g.Expect(kinds).To(HaveKeyWithValue("CustomResourceDefinition", 2), "the CRDs are still installed")
	g.Expect(serviceAccounts).To(Equal([]string{"tokenator-system/tokenator-controller-manager"}))
	g.Expect(policies).To(ConsistOf(policyRefs), "every admission policy binding names a rendered policy")
	g.Expect(deployment.Spec.Template.Spec.ServiceAccountName).To(Equal("tokenator-controller-manager"))

	// --namespaces lists exactly the namespaces where the manager has its Role.
	var watched []string
	for _, arg := range deployment.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(arg, "--namespaces="); ok {
			watched = strings.Split(v, ",")
		}
	}
	g.Expect(watched).NotTo(BeEmpty(), "the manager runs with --namespaces")
	var roleNamespaces []string
	for _, r := range managerRoles {
		ns, _, _ := strings.Cut(r, "/")
		roleNamespaces = append(roleNamespaces, ns)
	}
	slices.Sort(watched)
	slices.Sort(roleNamespaces)
	g.Expect(roleNamespaces).To(Equal(watched))

	ctx := context.Background()
	for _, ns := range watched {
		err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		g.Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
	}
	for _, u := range objs {
		opts := []client.PatchOption{client.FieldOwner("config-test"), client.ForceOwnership}
		if u.GetKind() != "Namespace" {
			opts = append(opts, client.DryRunAll)
		}
		g.Expect(k8s.Patch(ctx, u, client.Apply, opts...)).To(Succeed(), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}
}

// generatedManagerRules are the rules of config/rbac/role.yaml, which
// controller-gen generates from the +kubebuilder:rbac markers.
func generatedManagerRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testutil.DecodeObjects(raw)
	if err != nil || len(objs) != 1 {
		t.Fatalf("config/rbac/role.yaml: want one ClusterRole, got %d objects (%v)", len(objs), err)
	}
	var role rbacv1.ClusterRole
	fromUnstructured(NewWithT(t), objs[0], &role)
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// grantsSecrets reports whether a rule allows anything on Secrets.
func grantsSecrets(rules []rbacv1.PolicyRule) bool {
	for _, r := range rules {
		core := slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")
		if core && (slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*")) {
			return true
		}
	}
	return false
}

// fromUnstructured converts an object, failing on any field the type does not know.
func fromUnstructured(g Gomega, u *unstructured.Unstructured, out any) {
	g.ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true)).
		To(Succeed(), "%s %s", u.GetKind(), u.GetName())
}
