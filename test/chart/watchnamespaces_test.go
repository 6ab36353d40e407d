package chart_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// With watchNamespaces, the chart's RBAC is enough for a manager that serves
// ClusterOAuthProviders, and grants Secrets in the watched namespaces only.
// The rendered RBAC is applied for real; acting as the manager's
// ServiceAccount (impersonation), the test lists ClusterOAuthProviders and
// Namespaces, is refused Secrets outside its namespaces, and runs the manager,
// which reports a ClusterOAuthProvider Ready with a client of a watched
// namespace.
func TestChartWatchNamespacesRBAC(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	const ns, name = "tokenator-scoped", "scoped"
	r := rendered(render(t, ns, map[string]any{"fullnameOverride": name, "watchNamespaces": []string{"scoped-a", "scoped-b"}}))
	d := checkDeployment(g, r, managerFlags(t))
	namespaces := strings.Split(flagValue(d.Spec.Template.Spec.Containers[0].Args, "namespaces"), ",")
	g.Expect(namespaces).To(ConsistOf("scoped-a", "scoped-b", ns), "the cluster resource namespace, the release's, is watched")
	for _, n := range namespaces {
		ensureNamespace(t, n, map[string]string{"tokenator.dev/scoped": "allowed"})
	}
	ensureNamespace(t, "scoped-other", map[string]string{"tokenator.dev/scoped": "allowed"})

	// The CRDs, then the manager's ServiceAccount and RBAC, for real.
	applyCRDs(t, r)
	for _, u := range r {
		switch u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner("chart-test"), client.ForceOwnership)).
				To(Succeed(), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
		}
	}
	checkClusterScopedRules(t, g, r)

	sa := d.Spec.Template.Spec.ServiceAccountName
	asManager := rest.CopyConfig(restConfig)
	asManager.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	c, err := client.New(asManager, client.Options{Scheme: operator.NewScheme()})
	g.Expect(err).NotTo(HaveOccurred())
	list := func(kind, namespace string) error {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("v1")
		if kind == "ClusterOAuthProviderList" {
			l.SetAPIVersion("tokenator.dev/v1alpha1")
		}
		l.SetKind(kind)
		return c.List(ctx, l, client.InNamespace(namespace))
	}
	// RBAC takes effect once the API server's informers have seen it.
	g.Eventually(func() error { return list("ClusterOAuthProviderList", "") }).WithTimeout(30 * time.Second).Should(Succeed())
	g.Expect(list("NamespaceList", "")).To(Succeed())
	for _, n := range namespaces {
		g.Expect(list("SecretList", n)).To(Succeed(), "Secrets of %s", n)
	}
	for _, n := range []string{"scoped-other", "default", ""} {
		err := list("SecretList", n)
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "Secrets of namespace %q: want Forbidden, got %v", n, err)
	}
	checkAccess(g, c, true,
		authorizationv1.ResourceAttributes{Group: "tokenator.dev", Resource: "clusteroauthproviders", Subresource: "status", Verb: "patch"},
		authorizationv1.ResourceAttributes{Group: "tokenator.dev", Resource: "clusteroauthproviders", Subresource: "status", Verb: "update"},
		authorizationv1.ResourceAttributes{Group: "tokenator.dev", Resource: "clusteroauthproviders", Subresource: "finalizers", Verb: "update"},
		authorizationv1.ResourceAttributes{Group: "events.k8s.io", Resource: "events", Namespace: "default", Verb: "create"},
		authorizationv1.ResourceAttributes{Group: "", Resource: "secrets", Namespace: ns, Verb: "create"})
	checkAccess(g, c, false,
		authorizationv1.ResourceAttributes{Group: "tokenator.dev", Resource: "clusteroauthproviders", Verb: "update"},
		authorizationv1.ResourceAttributes{Group: "", Resource: "namespaces", Verb: "update"},
		authorizationv1.ResourceAttributes{Group: "", Resource: "secrets", Namespace: "default", Verb: "get"},
		authorizationv1.ResourceAttributes{Group: "", Resource: "configmaps", Namespace: "scoped-other", Verb: "list"})

	runScopedManager(t, g, asManager, namespaces, ns)
}

// runScopedManager runs the manager with the given identity and namespaces
// (cluster resource namespace crn), creates a ClusterOAuthProvider, its
// central credentials and a suspended OAuthClient of each of a watched and an
// unwatched namespace, and waits for the provider to be Ready and to count the
// watched client only.
func runScopedManager(t *testing.T, g Gomega, config *rest.Config, namespaces []string, crn string) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := operator.DefaultConfig()
	cfg.MetricsBindAddress, cfg.HealthProbeBindAddress = "0", "0"
	cfg.Reconciler.Namespaces = namespaces
	cfg.Reconciler.ClusterResourceNamespace = crn
	cfg.Reconciler.SkipNameValidation = true
	// No token request is due (the client is suspended); should one be made,
	// it resolves nothing and connects nowhere.
	cfg.TokenDialer = &net.Dialer{Resolver: &net.Resolver{PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no DNS in tests") }}}
	mgr, err := operator.NewManager(ctx, config, cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(testutil.StartManager(t, ctx, cancel, mgr))

	objects := `
apiVersion: v1
kind: Secret
metadata: {name: scoped-central, namespace: ` + crn + `}
stringData: {client_id: id, client_secret: not-a-real-secret}
---
apiVersion: tokenator.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: scoped-provider}
spec:
  tokenURL: https://idp.example.com/token
  credentialsSecretRef: {name: scoped-central}
  allowedNamespaces: {matchLabels: {tokenator.dev/scoped: allowed}}
---
apiVersion: tokenator.dev/v1alpha1
kind: OAuthClient
metadata: {name: uses-provider, namespace: scoped-a}
spec: {providerRef: {name: scoped-provider}, scopes: [api], suspend: true}
---
apiVersion: tokenator.dev/v1alpha1
kind: OAuthClient
metadata: {name: uses-provider, namespace: scoped-other}
spec: {providerRef: {name: scoped-provider}, scopes: [api], suspend: true}
`
	for _, u := range decodeAll(t, []byte(objects)) {
		g.Expect(k8s.Create(ctx, u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
	}
	provider := &unstructured.Unstructured{}
	provider.SetAPIVersion("tokenator.dev/v1alpha1")
	provider.SetKind("ClusterOAuthProvider")
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "scoped-provider"}, provider)).To(Succeed())
		conds, _, _ := unstructured.NestedSlice(provider.Object, "status", "conditions")
		g.Expect(conds).To(ContainElement(And(HaveKeyWithValue("type", "Ready"), HaveKeyWithValue("status", "True"))))
		clients, _, _ := unstructured.NestedInt64(provider.Object, "status", "clients")
		g.Expect(clients).To(BeEquivalentTo(1), "the client of scoped-a, not that of the unwatched scoped-other")
	}).WithTimeout(60 * time.Second).Should(Succeed())
}

// checkAccess asks the API server, as the client's user, whether each access
// is allowed, and expects allowed for all of them.
func checkAccess(g Gomega, c client.Client, allowed bool, accesses ...authorizationv1.ResourceAttributes) {
	for _, a := range accesses {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a}}
		g.ExpectWithOffset(1, c.Create(context.Background(), review)).To(Succeed())
		g.ExpectWithOffset(1, review.Status.Allowed).To(Equal(allowed), "%+v", a)
	}
}

// checkClusterScopedRules checks that the cluster-scoped ClusterRole of
// watchNamespaces holds exactly the generated rules on the resources that the
// API server serves cluster-scoped, with the same verbs.
func checkClusterScopedRules(t *testing.T, g Gomega, r rendered) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	namespaced := map[string]bool{} // by group/resource, subresources included
	g.Eventually(func(g Gomega) {
		_, lists, err := dc.ServerGroupsAndResources()
		g.Expect(err).NotTo(HaveOccurred())
		for _, l := range lists {
			group, _, _ := strings.Cut(l.GroupVersion, "/")
			if !strings.Contains(l.GroupVersion, "/") {
				group = ""
			}
			for _, res := range l.APIResources {
				namespaced[group+"/"+res.Name] = res.Namespaced
			}
		}
		g.Expect(namespaced).To(HaveKey("tokenator.dev/clusteroauthproviders"))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	var want []rbacv1.PolicyRule
	for _, rule := range generatedRules(t) {
		var resources []string
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				// A subresource has its resource's scope; RBAC names some
				// (finalizers) that discovery does not list.
				base, _, _ := strings.Cut(res, "/")
				ns, ok := namespaced[group+"/"+base]
				g.Expect(ok).To(BeTrue(), "the API server serves no %s in group %q", base, group)
				if !ns && !slices.Contains(resources, res) {
					resources = append(resources, res)
				}
			}
		}
		if len(resources) > 0 {
			want = append(want, rbacv1.PolicyRule{APIGroups: rule.APIGroups, Resources: resources, Verbs: rule.Verbs})
		}
	}
	g.Expect(want).NotTo(BeEmpty())
	var role rbacv1.ClusterRole
	u := r.find("ClusterRole", "", fullnameOf(r)+"-cluster-scoped")
	g.Expect(u).NotTo(BeNil(), "the ClusterRole of the cluster-scoped resources")
	typed(g, u, &role)
	g.Expect(role.Rules).To(Equal(want), "templates/_helpers.tpl (tokenator.clusterScopedRules) lists other cluster-scoped resources than the generated rules name")
}

// applyCRDs applies the rendered CRDs for real and waits until they are served.
func applyCRDs(t *testing.T, r rendered) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	crds := r.all("CustomResourceDefinition")
	g.Expect(crds).NotTo(BeEmpty())
	for _, crd := range crds {
		g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd.DeepCopy()), client.FieldOwner("chart-test"), client.ForceOwnership)).To(Succeed())
	}
	waitEstablished(t, crds)
}

// flagValue returns the value of --name=value among args, or "".
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}
