package controllers_test

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// providerSAEnv is a providerEnv whose endpoint accepts its client with a
// token of the ServiceAccount sa of the cluster resource namespace for
// audience, verified with the cluster's keys, and whose manager's
// TokenRequests are counted.
type providerSAEnv struct {
	*providerEnv
	requests *tokenRequestCounter
	audience string
}

func newProviderSAEnv(t *testing.T, cfg oauthtest.Config, n int, sa, audience string) *providerSAEnv {
	t.Helper()
	requireControlPlane(t)
	k := kubeIssuer(t)
	fc := &federatedCredential{issuer: k.issuer, audience: audience}
	requests := &tokenRequestCounter{}
	var clientID string
	cfg.VerifyAssertion = assertionVerifier(k.keys, &clientID, fc)
	tenants := make([]string, n)
	for i := range tenants {
		tenants[i] = newNamespace(t)
	}
	e := newEnvWrapped(t, cfg, func(c *operator.Config) {
		c.Reconciler.ClusterResourceNamespace = c.Reconciler.Namespaces[0]
		c.Reconciler.Namespaces = append(c.Reconciler.Namespaces, tenants...)
	}, func(rt http.RoundTripper) http.RoundTripper { return requests.wrap(rt) })
	clientID = e.clientID
	fc.subject = "system:serviceaccount:" + e.ns + ":" + sa
	return &providerSAEnv{providerEnv: &providerEnv{testEnv: e, tenants: tenants}, requests: requests, audience: audience}
}

// saProvider is a provider of the test's endpoint that authenticates with a
// token of ServiceAccount sa of the cluster resource namespace: clientID
// inline, no credentials Secret.
func (e *providerSAEnv) saProvider(name, sa string) *tokenatorv1.ClusterOAuthProvider {
	p := e.provider(name)
	p.Spec.CredentialsSecretRef = nil
	p.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
	p.Spec.ClientID = e.clientID
	p.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: sa, Audience: e.audience}
	return p
}

// providerCondition is the Ready condition of the provider name.
func (e *providerEnv) providerCondition(g Gomega, name string) *tokenatorv1.ClusterOAuthProvider {
	cur := &tokenatorv1.ClusterOAuthProvider{}
	g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur)).To(Succeed())
	return cur
}

// A ClusterOAuthProvider that authenticates with a ServiceAccount of the
// cluster resource namespace serves OAuthClients of five namespaces with one
// shared token: one token request, one TokenRequest, whose assertion's sub
// is that ServiceAccount; each namespace gets its Secret. An OAuthClient that
// brings its own credentialsSecretRef to such a provider is InvalidSpec and
// sends nothing.
func TestProviderServiceAccountTokenShared(t *testing.T) {
	const n = 5
	const audience = "api://AzureADTokenExchange"
	e := newProviderSAEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, n, "platform", audience)
	name := randomString("p-")
	e.serviceAccount("platform", audience)
	e.createProvider(e.saProvider(name, "platform"))
	for i := range n {
		e.label(e.tenants[i], allowLabel(name), "allowed")
		e.tenant(i).create(providerClient("api", name, "b", "a"))
	}
	var tok string
	for i := range n {
		tenant := e.tenant(i)
		oc := tenant.waitReady("api")
		e.g.Expect(oc.Status.TokenSource).To(Equal(tokenatorv1.TokenSourceShared))
		got := tenant.token(oc.Status.SecretName)
		if tok == "" {
			tok = got
		}
		e.g.Expect(got).To(Equal(tok), "namespace %d", i)
	}
	e.g.Expect(e.issuedToken(tok)).To(BeTrue())
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	e.g.Expect(e.requests.count()).To(Equal(1))
	last := e.idp.LastRequest()
	e.g.Expect(last.Params).To(HaveKeyWithValue("client_id", e.clientID))
	e.g.Expect(last.Params).To(HaveKeyWithValue("client_assertion_type", oauth.ClientAssertionTypeJWTBearer))
	e.g.Expect(last.Params).NotTo(HaveKey("client_secret"))
	claims := jwtClaims(t, last.Params["client_assertion"])
	e.g.Expect(claims).To(HaveKeyWithValue("sub", "system:serviceaccount:"+e.ns+":platform"))
	e.g.Expect(claims).To(HaveKeyWithValue("aud", ConsistOf(audience)))
	e.g.Eventually(func(g Gomega) {
		cur := e.providerCondition(g, name)
		c := meta.FindStatusCondition(cur.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonProviderReady))
		g.Expect(cur.Status.Clients).To(BeEquivalentTo(n))
		g.Expect(cur.Status.SharedTokens).To(BeEquivalentTo(1))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	own := providerClient("own", name, "a")
	own.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "creds"}
	tenant := e.tenant(0)
	tenant.create(own)
	tenant.waitReason("own", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(tenant.readyMessage("own")).To(ContainSubstring(`ClusterOAuthProvider "` + name + `" authenticates with a ServiceAccount of the cluster resource namespace`))
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	e.g.Expect(e.requests.count()).To(Equal(1))
}

// The ServiceAccount of a provider is its central credential: while it is
// missing the provider is not Ready (CredentialsNotFound), its clients are
// ProviderNotFound and nothing is requested; once created, within seconds,
// the clients get their token. The ServiceAccount token is reused across
// refreshes of the shared token; a change of the opt-in is a new request
// with a new ServiceAccount token, and withdrawing it stops the refreshes.
func TestProviderServiceAccountTokenLifecycle(t *testing.T) {
	const n = 2
	const audience = "https://idp.example.com/provider"
	e := newProviderSAEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 3 * time.Second}, n, "platform", audience)
	name := randomString("p-")
	e.createProvider(e.saProvider(name, "platform"))
	for i := range n {
		e.label(e.tenants[i], allowLabel(name), "allowed")
		e.tenant(i).create(providerClient("api", name))
	}
	e.g.Eventually(func(g Gomega) {
		c := meta.FindStatusCondition(e.providerCondition(g, name).Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonCredentialsNotFound))
		g.Expect(c.Message).To(Equal(`spec.clientAssertion.serviceAccountName: ServiceAccount "platform" not found in the cluster resource namespace "` + e.ns + `"`))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	for i := range n {
		tenant := e.tenant(i)
		tenant.waitReason("api", tokenatorv1.ReasonProviderNotFound)
		e.g.Expect(tenant.readyMessage("api")).To(ContainSubstring(`is not Ready: spec.clientAssertion.serviceAccountName: ServiceAccount "platform" not found in the cluster resource namespace`))
	}
	e.g.Consistently(e.idp.Requests).WithTimeout(2 * time.Second).WithPolling(poll).Should(BeZero())
	e.g.Expect(e.requests.count()).To(BeZero())

	e.serviceAccount("platform", audience)
	first := e.tenant(0).waitReady("api").Status.TokenRequestHash
	e.tenant(1).waitReady("api")
	e.g.Eventually(func(g Gomega) {
		c := meta.FindStatusCondition(e.providerCondition(g, name).Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonProviderReady))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	e.g.Eventually(func() int { return len(e.idp.Issued()) }).WithTimeout(timeout).WithPolling(poll).Should(BeNumerically(">=", 3))
	e.g.Expect(e.requests.count()).To(Equal(1))
	assertions := e.idp.Assertions()
	e.g.Expect(assertions).To(HaveEach(assertions[0]))

	// A new opt-in is a new shared token request, with a new ServiceAccount token.
	e.annotateServiceAccount("platform", audience+",https://idp.example.com/other")
	for i := range n {
		e.g.Eventually(func() string { return e.tenant(i).get("api").Status.TokenRequestHash }).
			WithTimeout(timeout).WithPolling(poll).ShouldNot(Equal(first))
	}
	e.g.Eventually(e.requests.count).WithTimeout(timeout).WithPolling(poll).Should(Equal(2))

	// Withdrawn: the refreshes stop, and the provider, no longer Ready,
	// withholds the token.
	e.annotateServiceAccount("platform", "")
	for i := range n {
		tenant := e.tenant(i)
		tenant.waitReason("api", tokenatorv1.ReasonProviderNotFound)
		e.g.Expect(tenant.readyMessage("api")).To(ContainSubstring(`is not Ready: ClusterOAuthProvider "` + name + `" spec.clientAssertion.serviceAccountName: ServiceAccount "platform" has no tokenator.dev/token-audiences annotation`))
	}
	// The provider's own status says so, for the cluster admin.
	e.g.Eventually(func(g Gomega) {
		c := meta.FindStatusCondition(e.providerCondition(g, name).Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonInvalidSpec))
		g.Expect(c.Message).To(ContainSubstring(`ServiceAccount "platform" has no tokenator.dev/token-audiences annotation`))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	sent := e.idp.Requests()
	e.g.Consistently(e.idp.Requests).WithTimeout(4 * time.Second).WithPolling(poll).Should(Equal(sent))
	e.g.Expect(e.requests.count()).To(Equal(2))
}
