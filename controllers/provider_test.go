package controllers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/metrics"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// The tests of ClusterOAuthProviders do not run in parallel with each other:
// a provider is cluster-scoped, and every manager that serves providers
// reconciles all of them (the managers of the other tests serve none: their
// cluster resource namespace is not among the namespaces they watch).

// providerEnv is a cluster resource namespace (the testEnv's namespace,
// holding the central credentials "creds" and the CA "idp-ca"), tenant
// namespaces, and one manager serving all of them.
type providerEnv struct {
	*testEnv
	tenants []string
}

// newProviderEnv creates n tenant namespaces and starts a manager whose
// cluster resource namespace is the testEnv's.
func newProviderEnv(t *testing.T, cfg oauthtest.Config, n int, configure func(*operator.Config)) *providerEnv {
	t.Helper()
	requireControlPlane(t)
	tenants := make([]string, n)
	for i := range tenants {
		tenants[i] = newNamespace(t)
	}
	e := newEnvWith(t, cfg, func(c *operator.Config) {
		c.Reconciler.ClusterResourceNamespace = c.Reconciler.Namespaces[0]
		c.Reconciler.Namespaces = append(c.Reconciler.Namespaces, tenants...)
		if configure != nil {
			configure(c)
		}
	})
	return &providerEnv{testEnv: e, tenants: tenants}
}

// provider returns a ClusterOAuthProvider of the test's endpoint, with the
// central credentials, allowing the namespaces labelled allowLabel(name).
func (e *providerEnv) provider(name string) *tokenatorv1.ClusterOAuthProvider {
	return &tokenatorv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tokenatorv1.ClusterOAuthProviderSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: e.idp.URL(),
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"},
			AllowedNamespaces:    &metav1.LabelSelector{MatchLabels: map[string]string{allowLabel(name): "allowed"}},
		},
	}
}

func allowLabel(provider string) string { return "tokenator.dev/" + provider }

// createProvider creates p and deletes it at the end of the test.
func (e *providerEnv) createProvider(p *tokenatorv1.ClusterOAuthProvider) {
	e.t.Helper()
	e.g.Expect(k8s.Create(e.ctx, p)).To(Succeed())
	e.t.Cleanup(func() { _ = k8s.Delete(e.ctx, p) })
}

// waitProvider waits until provider name's Ready condition, of its current
// generation, has reason and, unless clients is negative, its status counts
// clients; it returns the provider.
func (e *providerEnv) waitProvider(name, reason string, clients int) *tokenatorv1.ClusterOAuthProvider {
	e.t.Helper()
	var cur *tokenatorv1.ClusterOAuthProvider
	e.g.Eventually(func(g Gomega) {
		cur = &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur)).To(Succeed())
		c := meta.FindStatusCondition(cur.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(cur.Generation))
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		if clients >= 0 {
			g.Expect(cur.Status.Clients).To(BeEquivalentTo(clients), "status.clients")
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return cur
}

// updateProvider applies mutate to the latest version of provider name,
// retrying on conflicts.
func (e *providerEnv) updateProvider(name string, mutate func(*tokenatorv1.ClusterOAuthProvider)) {
	e.t.Helper()
	e.g.Eventually(func() error {
		cur := &tokenatorv1.ClusterOAuthProvider{}
		if err := k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur); err != nil {
			return err
		}
		mutate(cur)
		return k8s.Update(e.ctx, cur)
	}).WithTimeout(timeout).Should(Succeed())
}

// label sets (value != "") or removes the label key of namespace ns.
func (e *providerEnv) label(ns, key, value string) {
	e.t.Helper()
	e.g.Eventually(func() error {
		n := &corev1.Namespace{}
		if err := k8s.Get(e.ctx, types.NamespacedName{Name: ns}, n); err != nil {
			return err
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		if value == "" {
			delete(n.Labels, key)
		} else {
			n.Labels[key] = value
		}
		return k8s.Update(e.ctx, n)
	}).WithTimeout(timeout).Should(Succeed())
}

// tenant is the testEnv view of tenant namespace i, for its helpers.
func (e *providerEnv) tenant(i int) *testEnv {
	return &testEnv{t: e.t, g: e.g, ctx: e.ctx, ns: e.tenants[i], idp: e.idp, kind: e.kind,
		clientID: e.clientID, clientSecret: e.clientSecret, stopManager: func() {}}
}

// providerClient is an OAuthClient of provider with scopes.
func providerClient(name, provider string, scopes ...string) *tokenatorv1.OAuthClient {
	return &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tokenatorv1.OAuthClientSpec{
			ProviderRef: &tokenatorv1.ProviderReference{Name: provider},
			Scopes:      scopes,
		},
	}
}

func (e *testEnv) readyMessage(name string) string {
	c := meta.FindStatusCondition(e.get(name).Status.Conditions, tokenatorv1.ConditionReady)
	if c == nil {
		return ""
	}
	return c.Message
}

// A provider serves the namespaces it selects, as their labels come and go:
// refused (no request sent) without the label, a token once it is set, and
// no more refreshes once it is removed; the Secret keeps the token until it
// expires, and then loses it.
func TestProviderNamespaceSelection(t *testing.T) {
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 12 * time.Second}, 1, nil)
	name := randomString("p-")
	e.createProvider(e.provider(name))
	tenant := e.tenant(0)
	tenant.create(providerClient("api", name))

	refused := tenant.waitReason("api", tokenatorv1.ReasonProviderRefused)
	msg := meta.FindStatusCondition(refused.Status.Conditions, tokenatorv1.ConditionReady).Message
	e.g.Expect(msg).To(ContainSubstring(`does not allow namespace "` + tenant.ns + `"`))
	e.g.Expect(e.idp.Requests()).To(BeZero(), "a refused client sends no request")

	e.label(tenant.ns, allowLabel(name), "allowed")
	tenant.waitReady("api")
	tok := tenant.token("api-token")
	e.g.Expect(e.issuedToken(tok)).To(BeTrue())

	e.label(tenant.ns, allowLabel(name), "")
	tenant.waitReason("api", tokenatorv1.ReasonProviderRefused)
	requests := e.idp.Requests()
	oc := tenant.get("api")
	e.g.Expect(oc.Status.ExpiresAt).NotTo(BeNil())
	held := tenant.token("api-token")
	e.g.Expect(held != "" || !time.Now().Before(oc.Status.ExpiresAt.Time)).To(BeTrue(), "the token stays until it expires")
	e.g.Eventually(func() []byte {
		return tenant.secret("api-token").Data[tokenatorv1.SecretKeyAccessToken]
	}).WithTimeout(timeout).WithPolling(poll).Should(BeEmpty(), "the expired token is removed")
	e.g.Expect(tenant.secret("api-token").Data).NotTo(HaveKey(tokenatorv1.SecretKeyAuthorization))
	// The status is written after the Secret.
	e.g.Eventually(func() string { return tenant.readyMessage("api") }).WithTimeout(timeout).WithPolling(poll).
		Should(ContainSubstring("was removed from the Secret"))
	e.g.Expect(e.idp.Requests()).To(Equal(requests), "no refresh once refused")

	// Allowed again: a new token at once.
	e.label(tenant.ns, allowLabel(name), "allowed")
	tenant.waitNewToken("api-token", "")
}

// allowedScopes are globs: a scope outside them is refused, naming it, and a
// provider that narrows them stops the clients it no longer allows.
func TestProviderScopes(t *testing.T) {
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, 1, nil)
	name := randomString("p-")
	p := e.provider(name)
	p.Spec.AllowedScopes = []string{"api.read*", "payroll"}
	e.createProvider(p)
	tenant := e.tenant(0)
	e.label(tenant.ns, allowLabel(name), "allowed")

	tenant.create(providerClient("reader", name, "api.read.all", "payroll"))
	tenant.create(providerClient("admin", name, "payroll", "admin"))
	tenant.waitReady("reader")
	e.g.Expect(e.idp.LastRequest().Params["scope"]).To(Equal("api.read.all payroll"))
	refused := tenant.waitReason("admin", tokenatorv1.ReasonProviderRefused)
	e.g.Expect(meta.FindStatusCondition(refused.Status.Conditions, tokenatorv1.ConditionReady).Message).
		To(ContainSubstring(`does not allow scope "admin"`))

	// The provider narrows its scopes: the reader is refused within seconds.
	e.updateProvider(name, func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.AllowedScopes = []string{"payroll"} })
	refused = tenant.waitReason("reader", tokenatorv1.ReasonProviderRefused)
	e.g.Expect(meta.FindStatusCondition(refused.Status.Conditions, tokenatorv1.ConditionReady).Message).
		To(ContainSubstring(`does not allow scope "api.read.all"`))
}

// ownCredentialsEnv starts a provider env with one tenant, whose endpoint
// also accepts the tenant's own client, and creates a provider (p, adjusted
// by mutate) that allows the tenant, and in the tenant's namespace the Secret
// "own" of its client. It returns the provider's name and the client's ID.
func ownCredentialsEnv(t *testing.T, mutate func(p *tokenatorv1.ClusterOAuthProvider)) (e *providerEnv, name string, tenant *testEnv, ownID string) {
	t.Helper()
	ownID, ownSecret := randomString("client-"), randomString("secret-")
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, ownSecret)
	secretsMu.Unlock()
	e = newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{ownID: ownSecret}}, 1, nil)
	name = randomString("p-")
	p := e.provider(name)
	mutate(p)
	e.createProvider(p)
	tenant = e.tenant(0)
	e.label(tenant.ns, allowLabel(name), "allowed")
	tenant.create(tenant.credentials("own", ownID, ownSecret))
	return e, name, tenant, ownID
}

// withOwnCredentials makes oc use the Secret "own" of ownCredentialsEnv.
func withOwnCredentials(oc *tokenatorv1.OAuthClient) *tokenatorv1.OAuthClient {
	oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "own"}
	return oc
}

// A tenant's own credentials, in its namespace, are used instead of the
// central ones; the provider's endpoint and CA are the same.
func TestProviderOwnCredentials(t *testing.T) {
	e, name, tenant, ownID := ownCredentialsEnv(t, func(*tokenatorv1.ClusterOAuthProvider) {})
	tenant.create(withOwnCredentials(providerClient("own", name)))
	tenant.waitReady("own")
	e.g.Expect(e.idp.LastRequest().Params["client_id"]).To(Equal(ownID))
	e.g.Expect(tenant.get("own").Status.TokenSource).To(BeEmpty())

	tenant.create(providerClient("central", name))
	tenant.waitReady("central")
	e.g.Expect(e.idp.LastRequest().Params["client_id"]).To(Equal(e.clientID))

	// Tenants cannot name the central credentials: their namespace has no
	// such Secret.
	e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: tenant.ns, Name: "creds"}, &corev1.Secret{})).NotTo(Succeed())
}

// A missing provider is ProviderNotFound until it is created; a provider that
// is deleted stops its clients; the provider's status says whether it is
// usable and how many clients it serves.
func TestProviderNotFoundAndStatus(t *testing.T) {
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, 1, nil)
	name := randomString("p-")
	tenant := e.tenant(0)
	e.label(tenant.ns, allowLabel(name), "allowed")
	tenant.create(providerClient("api", name))
	nf := tenant.waitReason("api", tokenatorv1.ReasonProviderNotFound)
	e.g.Expect(meta.FindStatusCondition(nf.Status.Conditions, tokenatorv1.ConditionReady).Message).
		To(ContainSubstring(`ClusterOAuthProvider "` + name + `" not found`))

	// Central credentials missing: the provider is not Ready, nor usable.
	p := e.provider(name)
	p.Spec.CredentialsSecretRef.Name = "central"
	e.createProvider(p)
	e.g.Eventually(func(g Gomega) {
		cur := &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur)).To(Succeed())
		c := meta.FindStatusCondition(cur.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonCredentialsNotFound))
		g.Expect(c.Message).To(ContainSubstring(`Secret "central" not found in the cluster resource namespace`))
		g.Expect(metricValue("tokenator_clusteroauthprovider_ready", map[string]string{"provider": name, "reason": tokenatorv1.ReasonCredentialsNotFound})).To(BeZero())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	tenant.g.Eventually(func() string { return tenant.readyMessage("api") }).WithTimeout(timeout).
		Should(ContainSubstring("is not Ready"))
	e.g.Expect(e.idp.Requests()).To(BeZero())

	e.create(e.credentials("central", e.clientID, e.clientSecret))
	tenant.waitReady("api")
	e.g.Eventually(func(g Gomega) {
		cur := &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur)).To(Succeed())
		c := meta.FindStatusCondition(cur.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonProviderReady))
		g.Expect(cur.Status.Clients).To(BeEquivalentTo(1))
		g.Expect(metricValue("tokenator_clusteroauthprovider_ready", map[string]string{"provider": name, "reason": tokenatorv1.ReasonProviderReady})).To(BeEquivalentTo(1))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	// One readiness series per provider: the one of the former reason went.
	e.g.Expect(metricValue("tokenator_clusteroauthprovider_ready", map[string]string{"provider": name, "reason": tokenatorv1.ReasonCredentialsNotFound})).To(BeEquivalentTo(-1))

	e.g.Expect(k8s.Delete(e.ctx, p)).To(Succeed())
	tenant.waitReason("api", tokenatorv1.ReasonProviderNotFound)
	e.g.Eventually(func() float64 {
		return metricValue("tokenator_clusteroauthprovider_ready", map[string]string{"provider": name})
	}).WithTimeout(timeout).WithPolling(poll).Should(BeEquivalentTo(-1), "a deleted provider's series goes")
	e.g.Expect(tenant.token("api-token")).NotTo(BeEmpty(), "the token stays until it expires")
}

// With --require-provider-ref, an inline endpoint is InvalidSpec and sends
// nothing; a provider's clients get their tokens.
func TestRequireProviderRef(t *testing.T) {
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, 1, func(c *operator.Config) {
		c.Reconciler.RequireProviderRef = true
	})
	e.create(e.oauthClient("inline"))
	inline := e.waitReason("inline", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(meta.FindStatusCondition(inline.Status.Conditions, tokenatorv1.ConditionReady).Message).
		To(ContainSubstring("--require-provider-ref"))
	e.g.Expect(e.idp.Requests()).To(BeZero())

	name := randomString("p-")
	e.createProvider(e.provider(name))
	tenant := e.tenant(0)
	e.label(tenant.ns, allowLabel(name), "allowed")
	tenant.create(providerClient("api", name))
	tenant.waitReady("api")
	e.g.Expect(e.idp.Requests()).To(Equal(1))
}

// A manager that watches some namespaces, not its cluster resource namespace,
// serves no provider, and says so.
func TestProvidersNotServed(t *testing.T) {
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(providerClient("api", "any"))
	nf := e.waitReason("api", tokenatorv1.ReasonProviderNotFound)
	e.g.Expect(strings.Contains(meta.FindStatusCondition(nf.Status.Conditions, tokenatorv1.ConditionReady).Message,
		"does not serve ClusterOAuthProviders")).To(BeTrue())
}

// 40 OAuthClients in 40 namespaces that use the central credentials with the
// same scopes share one token: one request, 40 derived Secrets of their own
// shape; a restarted manager requests nothing.
func TestSharedTokenFortyNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("40 namespaces")
	}
	const n = 40
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, n, nil)
	name := randomString("p-")
	e.createProvider(e.provider(name))
	for i := range n {
		e.label(e.tenants[i], allowLabel(name), "allowed")
	}
	for i := range n {
		oc := providerClient("api", name, "b", "a")
		if i%2 == 1 {
			oc.Spec.Scopes = []string{"a", "b", "a"}
		}
		oc.Spec.Secret = tokenatorv1.SecretTemplate{Name: fmt.Sprintf("token-%d", i),
			Labels:    map[string]string{"team": fmt.Sprintf("t%d", i)},
			ExtraData: map[string]string{"header": fmt.Sprintf("team %d {{ .AccessToken }}", i)}}
		e.tenant(i).create(oc)
	}
	var tok string
	for i := range n {
		tenant := e.tenant(i)
		oc := tenant.waitReady("api")
		e.g.Expect(oc.Status.TokenSource).To(Equal(tokenatorv1.TokenSourceShared))
		s := tenant.secret(fmt.Sprintf("token-%d", i))
		e.g.Expect(s.Labels).To(HaveKeyWithValue("team", fmt.Sprintf("t%d", i)))
		got := string(s.Data[tokenatorv1.SecretKeyAccessToken])
		e.g.Expect(string(s.Data["header"])).To(Equal(fmt.Sprintf("team %d %s", i, got)))
		if tok == "" {
			tok = got
		}
		e.g.Expect(got).To(Equal(tok), "namespace %d", i)
	}
	e.g.Expect(e.idp.Requests()).To(Equal(1), "token requests for 40 namespaces")
	e.g.Expect(e.issuedToken(tok)).To(BeTrue())

	// The shared token is kept in the cluster resource namespace, owned by the
	// provider; the provider counts it and its clients.
	var shared corev1.SecretList
	e.g.Expect(k8s.List(e.ctx, &shared, client.InNamespace(e.ns), client.MatchingLabels{tokenatorv1.LabelProvider: name})).To(Succeed())
	e.g.Expect(shared.Items).To(HaveLen(1))
	e.g.Expect(shared.Items[0].Labels).To(HaveKeyWithValue(tokenatorv1.LabelManagedBy, tokenatorv1.ManagedByValue))
	e.g.Expect(shared.Items[0].OwnerReferences).To(HaveLen(1))
	e.g.Expect(shared.Items[0].OwnerReferences[0].Kind).To(Equal("ClusterOAuthProvider"))
	e.g.Eventually(func(g Gomega) {
		cur := &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur)).To(Succeed())
		g.Expect(cur.Status.Clients).To(BeEquivalentTo(n))
		g.Expect(cur.Status.SharedTokens).To(BeEquivalentTo(1))
		g.Expect(metricValue("tokenator_clusteroauthprovider_clients", map[string]string{"provider": name})).To(BeEquivalentTo(n))
		g.Expect(metricValue("tokenator_clusteroauthprovider_shared_tokens", map[string]string{"provider": name})).To(BeEquivalentTo(1))
		g.Expect(metricValue("tokenator_clusteroauthprovider_ready", map[string]string{"provider": name, "reason": tokenatorv1.ReasonProviderReady})).To(BeEquivalentTo(1))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	e.g.Expect(metricValue("tokenator_clusteroauthprovider_token_requests_total", map[string]string{"provider": name, "result": metrics.ResultSuccess})).To(BeEquivalentTo(1))

	// A second manager, after the first stopped, requests nothing: every
	// client is reconciled at its start and finds the shared token.
	e.stopManager()
	e.stopManager = e.startManager()
	e.tenant(0).update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.Secret.Labels["restarted"] = "yes"
	})
	e.g.Eventually(func() map[string]string {
		return e.tenant(0).secret("token-0").Labels
	}).WithTimeout(timeout).WithPolling(poll).Should(HaveKeyWithValue("restarted", "yes"))
	e.g.Consistently(e.idp.Requests).WithTimeout(3 * time.Second).Should(Equal(1))
	for i := range n {
		e.g.Expect(e.tenant(i).token(fmt.Sprintf("token-%d", i))).To(Equal(tok))
	}
}

// sharedKeys are the shared keys of the shared token Secrets of provider.
func (e *providerEnv) sharedKeys(g Gomega, provider string) []string {
	var list corev1.SecretList
	g.Expect(k8s.List(e.ctx, &list, client.InNamespace(e.ns), client.MatchingLabels{tokenatorv1.LabelProvider: provider})).To(Succeed())
	var keys []string
	for _, s := range list.Items {
		keys = append(keys, s.Annotations[tokenatorv1.AnnotationSharedKey])
	}
	return keys
}

// twoTenantsSharing starts a provider allowing the scopes api.* and two
// tenants whose OAuthClient "api" shares its token of api.read.
func twoTenantsSharing(t *testing.T) (e *providerEnv, name string, a, b *testEnv) {
	t.Helper()
	e = newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, 2, nil)
	name = randomString("p-")
	p := e.provider(name)
	p.Spec.AllowedScopes = []string{"api.*"}
	e.createProvider(p)
	a, b = e.tenant(0), e.tenant(1)
	for _, tenant := range []*testEnv{a, b} {
		e.label(tenant.ns, allowLabel(name), "allowed")
		tenant.create(providerClient("api", name, "api.read"))
		tenant.waitReady("api")
	}
	return e, name, a, b
}

// A tenant who changes its scopes gets a token of its own, or
// ProviderRefused; the other tenant's Secret does not change.
func TestSharedTokenTenantCannotChangeOthers(t *testing.T) {
	e, _, a, b := twoTenantsSharing(t)
	tok := b.token("api-token")
	e.g.Expect(a.token("api-token")).To(Equal(tok))
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	before := b.secret("api-token")

	a.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Scopes = []string{"api.write"} })
	own := a.waitNewToken("api-token", tok)
	e.g.Expect(own).NotTo(Equal(tok))
	e.g.Expect(e.idp.Requests()).To(Equal(2))
	e.g.Expect(e.idp.LastRequest().Params["scope"]).To(Equal("api.write"))

	a.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Scopes = []string{"admin"} })
	a.waitReason("api", tokenatorv1.ReasonProviderRefused)
	// An audience of its own would be a shared token of its own, requested
	// with the central credentials: the provider allows none.
	a.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.Scopes, oc.Spec.Audience = []string{"api.read"}, "https://other.example.com"
	})
	waitRefused(a, "api", "remove spec.audience")

	e.g.Consistently(func() string { return b.secret("api-token").ResourceVersion }).
		WithTimeout(2*time.Second).Should(Equal(before.ResourceVersion), "the other tenant's Secret")
	e.g.Expect(b.token("api-token")).To(Equal(tok))
	e.g.Expect(e.idp.Requests()).To(Equal(2))
}

// A tenant who edits its scopes over and over leaves no shared token
// behind: the shared token Secret of scopes no OAuthClient uses any more is
// deleted (and forgotten in memory), the one another tenant still uses
// stays, and deleting the last client of a shared token deletes it.
func TestSharedTokensOfUnusedScopesAreDeleted(t *testing.T) {
	e, name, a, b := twoTenantsSharing(t)
	waitShared := func(scopes ...[]string) {
		t.Helper()
		want := make([]string, 0, len(scopes))
		for _, sc := range scopes {
			want = append(want, sharedtoken.Key(sc, ""))
		}
		e.g.Eventually(func(g Gomega) {
			g.Expect(e.sharedKeys(g, name)).To(ConsistOf(want))
			cur := &tokenatorv1.ClusterOAuthProvider{}
			g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: name}, cur)).To(Succeed())
			g.Expect(cur.Status.SharedTokens).To(BeEquivalentTo(len(want)))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	}
	waitShared([]string{"api.read"})

	tok := a.token("api-token")
	for i, scope := range []string{"api.write", "api.list", "api.delete"} {
		a.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Scopes = []string{scope} })
		tok = a.waitNewToken("api-token", tok)
		e.g.Expect(e.idp.Requests()).To(Equal(2 + i))
		// b still uses api.read: kept; a's previous scopes: deleted.
		waitShared([]string{"api.read"}, []string{scope})
	}
	e.g.Expect(b.token("api-token")).NotTo(BeEmpty())

	e.g.Expect(k8s.Delete(e.ctx, a.get("api"))).To(Succeed())
	waitShared([]string{"api.read"})
	e.g.Expect(k8s.Delete(e.ctx, b.get("api"))).To(Succeed())
	waitShared()
	e.g.Expect(e.idp.Requests()).To(Equal(4), "no token requested by the clean-up")
}

// providerHealth is what kstatus and the Argo CD health check of
// config/argocd say of a ClusterOAuthProvider.
func providerHealth(t *testing.T, p *tokenatorv1.ClusterOAuthProvider) (kstatusResult status.Status, argo string) {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(raw)); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	return res.Status, L.Get(-1).(*lua.LTable).RawGetString("status").String()
}

// A provider's status reads right in kstatus and Argo CD: Ready is Current and
// Healthy, missing credentials InProgress and Degraded, a spec only a person can
// fix (a host outside --allowed-token-hosts) Failed and Degraded.
func TestProviderHealth(t *testing.T) {
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, 0, func(c *operator.Config) {
		c.AllowedTokenHosts = []string{"127.0.0.1", "localhost"}
	})
	waitProvider := func(name, reason string) *tokenatorv1.ClusterOAuthProvider {
		return e.waitProvider(name, reason, -1)
	}
	ok := randomString("p-")
	e.createProvider(e.provider(ok))
	ks, argo := providerHealth(t, waitProvider(ok, tokenatorv1.ReasonProviderReady))
	e.g.Expect(ks).To(Equal(status.CurrentStatus))
	e.g.Expect(argo).To(Equal("Healthy"))

	noCreds := e.provider(randomString("p-"))
	noCreds.Spec.CredentialsSecretRef.Name = "nope"
	e.createProvider(noCreds)
	ks, argo = providerHealth(t, waitProvider(noCreds.Name, tokenatorv1.ReasonCredentialsNotFound))
	e.g.Expect(ks).To(Equal(status.InProgressStatus))
	e.g.Expect(argo).To(Equal("Degraded"))
	// A Warning Event on the provider says why.
	e.g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8s.List(e.ctx, &evs)).To(Succeed())
		found := false
		for _, ev := range evs.Items {
			if ev.Regarding.Kind == "ClusterOAuthProvider" && ev.Regarding.Name == noCreds.Name &&
				ev.Type == corev1.EventTypeWarning && ev.Reason == tokenatorv1.ReasonCredentialsNotFound {
				found = true
			}
		}
		g.Expect(found).To(BeTrue(), "a CredentialsNotFound Event on the provider")
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	badHost := e.provider(randomString("p-"))
	badHost.Spec.TokenURL = "https://idp.example.com/token"
	e.createProvider(badHost)
	got := waitProvider(badHost.Name, tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(meta.FindStatusCondition(got.Status.Conditions, tokenatorv1.ConditionReady).Message).To(ContainSubstring("--allowed-token-hosts"))
	ks, argo = providerHealth(t, got)
	e.g.Expect(ks).To(Equal(status.FailedStatus))
	e.g.Expect(argo).To(Equal("Degraded"))
}

// metricValue is the value of the series of a gauge or counter of the
// manager's registry with the given labels, or -1.
func metricValue(name string, labels map[string]string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return -1
}

// A failing shared token request is retried once for all its clients, not
// once per client; a rotated central secret brings one new shared token to
// every client.
func TestSharedTokenFailureAndRotation(t *testing.T) {
	const n = 5
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, n, nil)
	name := randomString("p-")
	e.createProvider(e.provider(name))
	// The IdP's own words about the central client stay out of the tenants'
	// status: the status and a standard error code are told, the description
	// (here naming the central client id) is not.
	e.idp.SetFault(oauthtest.Fault{Status: 503, Body: fmt.Sprintf(
		`{"error":"temporarily_unavailable","error_description":"client %s of tenant acme-platform is throttled"}`, e.clientID)})
	for i := range n {
		e.label(e.tenants[i], allowLabel(name), "allowed")
		e.tenant(i).create(providerClient("api", name, "read"))
	}
	for i := range n {
		failed := e.tenant(i).waitReason("api", tokenatorv1.ReasonTokenRequestFailed)
		msg := meta.FindStatusCondition(failed.Status.Conditions, tokenatorv1.ConditionReady).Message
		e.g.Expect(msg).To(ContainSubstring("answered 503 Service Unavailable: temporarily_unavailable"))
		e.g.Expect(msg).NotTo(ContainSubstring(e.clientID))
		e.g.Expect(msg).NotTo(ContainSubstring("acme-platform"))
	}
	// Each request failed for all 5 at once: with retries 1s, 2s, 4s apart,
	// far fewer requests than clients.
	e.g.Expect(e.idp.Requests()).To(BeNumerically("<", n))
	e.idp.ClearFault()
	var tok string
	for i := range n {
		tenant := e.tenant(i)
		oc := tenant.waitReady("api")
		e.g.Expect(oc.Status.FailedAttempts).To(BeZero())
		if tok == "" {
			tok = tenant.token("api-token")
		}
		e.g.Expect(tenant.token("api-token")).To(Equal(tok))
	}
	requests := e.idp.Requests()

	e.rotateClientSecret()
	for i := range n {
		e.tenant(i).waitNewToken("api-token", tok)
	}
	e.g.Consistently(e.idp.Requests).WithTimeout(2 * time.Second).Should(Equal(requests + 1))
	rotated := e.tenant(0).token("api-token")
	for i := range n {
		e.g.Expect(e.tenant(i).token("api-token")).To(Equal(rotated))
	}
}
