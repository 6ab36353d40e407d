package chart_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestChartTokenRequestPolicy installs the chart's ServiceAccount, manager
// RBAC and ServiceAccount token admission policy for real, with
// tokenRequestPolicy.apiAudiences set as docs/security.md tells: the test API
// server's issuer (its only audience), read from issuer discovery. As the
// manager's ServiceAccount, the API server accepts the policy and refuses
// exactly the audiences of the value (a trailing slash ignored; quotes in an
// audience are part of it, not CEL), no audience (which gets the API
// server's), and more than an hour.
func TestChartTokenRequestPolicy(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	const (
		namespace = "tokenator-audiences"
		fullname  = "tk-audiences"
		// Quoted into the CEL list as one string, never as two.
		quoted = `api://one", "api://two`
	)
	adminCS, err := kubernetes.NewForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := adminCS.RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	var discovery struct{ Issuer string }
	g.Expect(json.Unmarshal(raw, &discovery)).To(Succeed())
	issuer := discovery.Issuer // https://127.0.0.1:port/
	g.Expect(issuer).To(HaveSuffix("/"))
	r := rendered(render(t, namespace, map[string]any{
		"fullnameOverride":   fullname,
		"tokenRequestPolicy": map[string]any{"apiAudiences": []string{strings.TrimSuffix(issuer, "/"), quoted}},
	}))
	ensureNamespace(t, namespace, nil)
	for _, o := range []struct{ kind, namespace, name string }{
		{"ServiceAccount", namespace, fullname},
		{"ClusterRole", "", fullname + "-manager"},
		{"ClusterRoleBinding", "", fullname + "-manager"},
		{"ValidatingAdmissionPolicy", "", fullname + "-token-requests"},
		{"ValidatingAdmissionPolicyBinding", "", fullname + "-token-requests"},
	} {
		u := r.find(o.kind, o.namespace, o.name)
		g.Expect(u).NotTo(BeNil(), "%s %s", o.kind, o.name)
		g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
			client.FieldOwner("chart-test"), client.ForceOwnership)).To(Succeed(), "%s %s", o.kind, o.name)
		if o.namespace == "" {
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), u) })
		}
	}
	workload := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "workload", Namespace: namespace}}
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, workload))).To(Succeed())

	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + fullname,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
	manager, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	request := func(seconds int64, audiences ...string) error {
		_, err := manager.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, workload.Name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To(seconds)}}, metav1.CreateOptions{})
		return err
	}
	const otherThanAPI = "tokenator may only request ServiceAccount tokens for audiences other than the API server's: "
	refusedWith := func(msg string) OmegaMatcher {
		return And(
			WithTransform(func(err error) bool { return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) }, BeTrue()),
			MatchError(ContainSubstring("ValidatingAdmissionPolicy '"+fullname+"-token-requests'")),
			MatchError(ContainSubstring(msg)))
	}

	// The API server enforces the policy once it has seen it and its binding.
	g.Eventually(func() error { return request(600, issuer) }).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).
		Should(refusedWith(otherThanAPI + issuer))
	g.Expect(request(600, strings.TrimSuffix(issuer, "/"))).To(refusedWith(otherThanAPI + strings.TrimSuffix(issuer, "/")))
	g.Expect(request(600, "api://AzureADTokenExchange", quoted)).To(refusedWith(otherThanAPI + quoted))
	g.Expect(request(600)).To(refusedWith(otherThanAPI + issuer))
	g.Expect(request(3601, "api://AzureADTokenExchange")).To(refusedWith("tokenator may only request ServiceAccount tokens that expire within an hour"))

	// The value replaces the default list; the pieces of the quoted audience
	// are other audiences.
	for _, aud := range []string{"api://AzureADTokenExchange", "https://kubernetes.default.svc.cluster.local", "api://one", "api://two"} {
		g.Expect(request(3600, aud)).To(Succeed(), aud)
	}
}

// TestChartTokenRequestPolicyOff: tokenRequestPolicy.enabled=false renders
// no ServiceAccount token policy; the Secret policy stays.
func TestChartTokenRequestPolicyOff(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	r := rendered(render(t, "tokenator-system", map[string]any{"tokenRequestPolicy": map[string]any{"enabled": false}}))
	g.Expect(r.kinds()).To(Equal(withKinds(map[string]int{"ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1})))
	g.Expect(r.find("ValidatingAdmissionPolicy", "", fullname+"-secret-writes")).NotTo(BeNil())
}
