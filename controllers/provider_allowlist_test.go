package controllers_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
)

// waitRefused waits until the OAuthClient is ProviderRefused with a message
// that holds every part of want.
func waitRefused(tenant *testEnv, name string, want ...string) {
	tenant.t.Helper()
	tenant.g.Eventually(func(g Gomega) {
		oc := &tokenatorv1.OAuthClient{}
		g.Expect(k8s.Get(tenant.ctx, types.NamespacedName{Namespace: tenant.ns, Name: name}, oc)).To(Succeed())
		c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(tokenatorv1.ReasonProviderRefused), c.Message)
		for _, w := range want {
			g.Expect(c.Message).To(ContainSubstring(w))
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// The allowlist has no side door. With allowedScopes set, an OAuthClient that
// names no scope, and one that names an audience the provider does not
// allow, are ProviderRefused and the token endpoint sees nothing of them,
// with the central credentials or with the tenant's own; the provider counts
// only the clients it allows. defaultScopes are then requested for the
// clients that name no scope (and pick their shared token), and an audience
// that matches allowedAudiences is sent.
func TestProviderAllowlistHasNoSideDoor(t *testing.T) {
	e, name, tenant, ownID := ownCredentialsEnv(t, func(p *tokenatorv1.ClusterOAuthProvider) {
		p.Spec.AllowedScopes = []string{"api.read*"}
	})
	withAudience := func(oc *tokenatorv1.OAuthClient, audience string) *tokenatorv1.OAuthClient {
		oc.Spec.Audience = audience
		return oc
	}
	noScope := []string{`ClusterOAuthProvider "` + name + `"`, "name at least one scope of allowedScopes"}
	noAudience := []string{`ClusterOAuthProvider "` + name + `"`, "remove spec.audience"}

	tenant.create(providerClient("noscope", name))
	tenant.create(withOwnCredentials(providerClient("own-noscope", name)))
	tenant.create(withAudience(providerClient("admin", name, "api.read"), "https://admin.example.com"))
	tenant.create(withAudience(withOwnCredentials(providerClient("own-admin", name, "api.read")), "https://admin.example.com"))
	waitRefused(tenant, "noscope", noScope...)
	waitRefused(tenant, "own-noscope", noScope...)
	waitRefused(tenant, "admin", noAudience...)
	waitRefused(tenant, "own-admin", noAudience...)
	e.waitProvider(name, tokenatorv1.ReasonProviderReady, 0)
	e.g.Consistently(e.idp.Requests).WithTimeout(2*time.Second).Should(BeZero(), "requests of refused clients")

	// An allowed client next to them: its scopes, and no audience.
	tenant.create(providerClient("reader", name, "api.read.all"))
	tenant.waitReady("reader")
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("scope", "api.read.all"))
	e.g.Expect(e.idp.LastRequest().Params).NotTo(HaveKey("audience"))
	e.waitProvider(name, tokenatorv1.ReasonProviderReady, 1)
	for _, c := range []string{"own-noscope", "own-admin"} {
		e.g.Expect(k8s.Delete(e.ctx, tenant.get(c))).To(Succeed())
	}

	// defaultScopes outside allowedScopes: the provider is not Ready, and
	// still nothing is requested for the client that names no scope.
	e.updateProvider(name, func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.DefaultScopes = []string{"admin"} })
	invalid := e.waitProvider(name, tokenatorv1.ReasonInvalidSpec, 0)
	e.g.Expect(meta.FindStatusCondition(invalid.Status.Conditions, tokenatorv1.ConditionReady).Message).To(Equal(`spec.defaultScopes: "admin" matches no glob of spec.allowedScopes`))
	e.g.Eventually(func() string { return tenant.readyMessage("noscope") }).WithTimeout(timeout).WithPolling(poll).
		Should(ContainSubstring(`spec.defaultScopes: "admin" matches no glob of spec.allowedScopes`))
	e.g.Expect(e.idp.Requests()).To(Equal(1))

	// defaultScopes inside allowedScopes: requested for the client that
	// names no scope, whose shared token is the one of these scopes.
	e.updateProvider(name, func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.DefaultScopes = []string{"api.read"} })
	tenant.waitReady("noscope")
	e.g.Expect(e.idp.Requests()).To(Equal(2))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("scope", "api.read"))
	tenant.create(providerClient("explicit", name, "api.read"))
	tenant.waitReady("explicit")
	e.g.Expect(tenant.token("explicit-token")).To(Equal(tenant.token("noscope-token")), "the default scopes' shared token")
	e.g.Expect(e.idp.Requests()).To(Equal(2))

	// The tenant's own credentials get the default scopes too.
	tenant.create(withOwnCredentials(providerClient("own-noscope", name)))
	tenant.waitReady("own-noscope")
	e.g.Expect(e.idp.Requests()).To(Equal(3))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("scope", "api.read"))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("client_id", ownID))

	// allowedAudiences: an audience outside them is refused, one inside is sent.
	waitRefused(tenant, "admin", noAudience...)
	e.updateProvider(name, func(p *tokenatorv1.ClusterOAuthProvider) {
		p.Spec.AllowedAudiences = []string{"https://api.example.com/*"}
	})
	waitRefused(tenant, "admin", `ClusterOAuthProvider "`+name+`" does not allow audience "https://admin.example.com" (spec.allowedAudiences)`)
	e.waitProvider(name, tokenatorv1.ReasonProviderReady, 4)
	e.g.Expect(e.idp.Requests()).To(Equal(3))
	tenant.update("admin", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Audience = "https://api.example.com/payroll" })
	tenant.waitReady("admin")
	e.g.Expect(e.idp.Requests()).To(Equal(4))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("audience", "https://api.example.com/payroll"))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("scope", "api.read"))
	e.waitProvider(name, tokenatorv1.ReasonProviderReady, 5)

	// The shared tokens are those of the clients' requests: api.read.all,
	// api.read, and api.read with the allowed audience.
	e.g.Eventually(func(g Gomega) []string { return e.sharedKeys(g, name) }).WithTimeout(timeout).WithPolling(poll).Should(ConsistOf(sharedtoken.Key([]string{"api.read.all"}, ""),
		sharedtoken.Key([]string{"api.read"}, ""), sharedtoken.Key([]string{"api.read"}, "https://api.example.com/payroll")))
}
