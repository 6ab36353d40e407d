package controllers_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// Every provider of the mission, in its own encoding: the derived Secret holds
// the contract's keys, label and ownerReference, and the status the contract's fields.
func TestTokenIssuedForEachProvider(t *testing.T) {
	t.Parallel()
	for _, kind := range []oauthtest.Kind{oauthtest.Lucca, oauthtest.Luxclusif, oauthtest.JSONBody, oauthtest.RFC6749} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, oauthtest.Config{Kind: kind})
			oc := e.oauthClient("api")
			oc.Spec.Secret.ExtraData = map[string]string{"x-api-auth": "{{ .TokenType }} {{ .AccessToken }}"}
			oc.Labels = map[string]string{"team": "payments"}
			oc.Annotations = map[string]string{"example.com/note": "kept"}
			e.create(oc)
			got := e.waitReady("api")
			// The manager's cache drops them; its status writes leave them.
			e.g.Expect(got.Labels).To(HaveKeyWithValue("team", "payments"))
			e.g.Expect(got.Annotations).To(HaveKeyWithValue("example.com/note", "kept"))

			s := e.secret("api-token")
			tok := string(s.Data["access_token"])
			e.g.Expect(e.issuedToken(tok)).To(BeTrue(), "the Secret holds a token the endpoint issued")
			e.g.Expect(string(s.Data["token_type"])).To(Equal("Bearer"))
			e.g.Expect(string(s.Data["authorization"])).To(Equal("Bearer " + tok))
			e.g.Expect(string(s.Data["x-api-auth"])).To(Equal("Bearer " + tok))
			expires, err := time.Parse(time.RFC3339, string(s.Data["expires_at"]))
			e.g.Expect(err).NotTo(HaveOccurred())
			e.g.Expect(s.Type).To(Equal(corev1.SecretTypeOpaque))
			e.g.Expect(s.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "tokenator"))
			e.g.Expect(metav1.IsControlledBy(s, got)).To(BeTrue())

			st := got.Status
			e.g.Expect(st.SecretName).To(Equal("api-token"))
			e.g.Expect(st.TokenType).To(Equal("Bearer"))
			e.g.Expect(st.ExpiresAt.Time.Equal(expires)).To(BeTrue(), "status.expiresAt %s, Secret expires_at %s", st.ExpiresAt, expires)
			lifetime := st.ExpiresAt.Sub(st.LastRefreshTime.Time)
			wantLifetime := time.Hour
			if kind == oauthtest.Lucca {
				wantLifetime = 30 * time.Minute
			}
			e.g.Expect(lifetime).To(BeNumerically("~", wantLifetime, time.Second))
			e.g.Expect(st.RefreshAt.Sub(st.LastRefreshTime.Time)).To(BeNumerically("~", wantLifetime*2/3, wantLifetime/10+time.Second))
			e.g.Expect(st.FailedAttempts).To(BeZero())
			e.g.Expect(st.ObservedGeneration).To(Equal(got.Generation))
			e.g.Expect(e.idp.Requests()).To(Equal(1))
		})
	}
}

// The endpoint sees the spec: scopes as one space-separated value, audience,
// extra parameters and headers, and HTTP Basic client authentication.
func TestRequestCarriesTheSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "basic"})
	oc := e.oauthClient("api")
	oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationBasic
	oc.Spec.Scopes = []string{"orders.read", "orders.write"}
	oc.Spec.Audience = "https://api.example.com"
	oc.Spec.ExtraParameters = map[string]string{"resource": "orders"}
	oc.Spec.ExtraHeaders = map[string]string{"X-Tenant": "shop"}
	e.create(oc)
	e.waitReady("api")

	req := e.idp.LastRequest()
	e.g.Expect(req.ContentType).To(HavePrefix("application/x-www-form-urlencoded"))
	e.g.Expect(req.BasicAuth).To(BeTrue())
	e.g.Expect(req.BasicUser).To(Equal(e.clientID))
	e.g.Expect(req.Params).NotTo(HaveKey("client_secret"))
	e.g.Expect(req.Params).To(HaveKeyWithValue("grant_type", "client_credentials"))
	e.g.Expect(req.Params).To(HaveKeyWithValue("scope", "orders.read orders.write"))
	e.g.Expect(req.Params).To(HaveKeyWithValue("audience", "https://api.example.com"))
	e.g.Expect(req.Params).To(HaveKeyWithValue("resource", "orders"))
	e.g.Expect(req.Header.Get("X-Tenant")).To(Equal("shop"))
	e.g.Expect(req.Header.Get("Accept")).To(Equal("application/json"))
}

// A spec change, a credentials change, a deleted or edited derived Secret and
// a new refresh-requested-at value each bring a new token within seconds.
func TestChangesBringANewToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(e.oauthClient("api"))
	e.waitReady("api")
	tok := e.token("api-token")

	t.Run("spec change", func(t *testing.T) {
		e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Scopes = []string{"orders.read"} })
		tok = e.waitNewToken("api-token", tok)
		e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("scope", "orders.read"))
		e.waitReady("api")
	})
	t.Run("credentials change", func(t *testing.T) {
		newSecret := e.rotateClientSecret()
		tok = e.waitNewToken("api-token", tok)
		e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("client_secret", newSecret))
	})
	t.Run("derived Secret deleted", func(t *testing.T) {
		e.g.Expect(k8s.Delete(e.ctx, e.secret("api-token"))).To(Succeed())
		tok = e.waitNewToken("api-token", tok)
	})
	t.Run("derived Secret edited", func(t *testing.T) {
		s := e.secret("api-token")
		s.Data["access_token"] = []byte("tampered")
		e.g.Expect(k8s.Update(e.ctx, s)).To(Succeed())
		tok = e.waitNewToken("api-token", "tampered")
		e.g.Expect(e.issuedToken(tok)).To(BeTrue())
	})
	t.Run("refresh requested", func(t *testing.T) {
		e.update("api", func(oc *tokenatorv1.OAuthClient) {
			oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: time.Now().Format(time.RFC3339Nano)}
		})
		tok = e.waitNewToken("api-token", tok)
		e.g.Eventually(func() string { return e.get("api").Status.LastHandledRefreshRequest }).
			WithTimeout(timeout).ShouldNot(BeEmpty())
	})
}

// Tokens are refreshed before they expire: with 6-second tokens, new tokens
// arrive every few seconds and the Secret always holds the newest.
func TestRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Lucca, Lifetime: 6 * time.Second})
	e.create(e.oauthClient("api"))
	e.waitReady("api")
	first := e.token("api-token")
	second := e.waitNewToken("api-token", first)
	third := e.waitNewToken("api-token", second)
	e.g.Expect(e.issuedToken(third)).To(BeTrue())
	st := e.waitReady("api").Status
	e.g.Expect(st.ExpiresAt.Sub(st.LastRefreshTime.Time)).To(Equal(6 * time.Second))
	e.g.Expect(st.RefreshAt.Time.Before(st.ExpiresAt.Time)).To(BeTrue(), "the refresh is planned before expiry")
}

// With refreshBefore set, the refresh is planned that long before expiry.
func TestRefreshBefore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	oc := e.oauthClient("api")
	oc.Spec.RefreshBefore = &metav1.Duration{Duration: 10 * time.Minute}
	e.create(oc)
	st := e.waitReady("api").Status
	untilExpiry := st.ExpiresAt.Sub(st.RefreshAt.Time)
	e.g.Expect(untilExpiry).To(BeNumerically(">=", 10*time.Minute))
	e.g.Expect(untilExpiry).To(BeNumerically("<=", 10*time.Minute+5*time.Minute+time.Second))
}
