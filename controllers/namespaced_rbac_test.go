package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// The manager runs with nothing but config/namespaced's Role in the watched
// namespace: acting as a ServiceAccount bound only to that Role, it gets a
// token, with a client secret and with a ServiceAccount token; the same
// identity cannot read a Secret of another namespace.
func TestNamespacedRBACIsEnough(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	g := NewWithT(t)
	var role, binding *unstructured.Unstructured
	for _, u := range testutil.KustomizeBuild(t, "..", "config/namespaced") {
		switch {
		case u.GetKind() == "Role" && u.GetName() == "tokenator-manager-role":
			role = u
		case u.GetKind() == "RoleBinding" && u.GetName() == "tokenator-manager-rolebinding":
			binding = u
		}
	}
	g.Expect(role).NotTo(BeNil())
	g.Expect(binding).NotTo(BeNil())

	// The test's namespace, endpoint and credentials, as newEnv makes them,
	// but no manager yet.
	e := &testEnv{t: t, g: g, ctx: context.Background(), kind: oauthtest.RFC6749,
		clientID: randomString("client-"), clientSecret: randomString("secret-")}
	fc := &federatedCredential{issuer: kubeIssuer(t).issuer, audience: "https://idp.example.com/namespaced"}
	e.idp = oauthtest.NewServer(oauthtest.Config{Kind: e.kind, Clients: map[string]string{e.clientID: e.clientSecret},
		VerifyAssertion: assertionVerifier(kubeIssuer(t).keys, &e.clientID, fc)})
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, e.clientSecret)
	endpoints = append(endpoints, e.idp)
	secretsMu.Unlock()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	g.Expect(k8s.Create(e.ctx, ns)).To(Succeed())
	e.ns = ns.Name
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "idp-ca"}, Data: map[string][]byte{"ca.crt": e.idp.CAPEM()}})
	e.create(e.credentials("creds", e.clientID, e.clientSecret))

	// The Role and RoleBinding of config/namespaced, in the test's namespace,
	// for a ServiceAccount of the test's own.
	sa := randomString("tokenator-")
	role.SetNamespace(e.ns)
	binding.SetNamespace(e.ns)
	g.Expect(unstructured.SetNestedSlice(binding.Object, []any{map[string]any{
		"kind": "ServiceAccount", "name": sa, "namespace": "tokenator-system"}}, "subjects")).To(Succeed())
	g.Expect(k8s.Create(e.ctx, role)).To(Succeed())
	g.Expect(k8s.Create(e.ctx, binding)).To(Succeed())
	asManager := rest.CopyConfig(restConfig)
	asManager.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:tokenator-system:" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:tokenator-system", "system:authenticated"}}

	cfg := testManagerConfig(e.ns)
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := operator.NewManager(ctx, asManager, cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(testutil.StartManager(t, ctx, cancel, mgr))

	e.create(e.oauthClient("api"))
	e.waitReady("api")
	g.Expect(e.issuedToken(e.token("api-token"))).To(BeTrue())

	// serviceAccountToken works with the Role too: the ServiceAccount watch,
	// the TokenRequest, and the API server's audiences learned through issuer
	// discovery, which every ServiceAccount may read.
	fc.subject = "system:serviceaccount:" + e.ns + ":workload"
	e.serviceAccount("workload", fc.audience)
	e.create(e.saClient("federated", "workload", fc.audience))
	e.waitReady("federated")

	// The identity reads Secrets of the watched namespace only.
	c, err := client.New(asManager, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: "creds"}, &corev1.Secret{})).To(Succeed())
	err = c.List(e.ctx, &corev1.SecretList{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets cluster-wide: %v", err)
	err = c.Get(e.ctx, client.ObjectKey{Namespace: "kube-system", Name: "any"}, &corev1.Secret{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "reading a Secret of another namespace: %v", err)
}
