package docs_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// With providerRef, the CRD refuses every endpoint field with a message that
// names it, and needs no credentialsSecretRef nor tokenURL.
func TestProviderRefValidation(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	ns := newNamespace(t, "validation-")
	valid := func() *tokenatorv1.OAuthClient {
		return &tokenatorv1.OAuthClient{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "oac-", Namespace: ns.Name},
			Spec:       tokenatorv1.OAuthClientSpec{ProviderRef: &tokenatorv1.ProviderReference{Name: "lucca"}},
		}
	}
	t.Run("valid", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(k8s.Create(ctx, valid())).To(Succeed())
		own := valid()
		own.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "own"}
		own.Spec.Scopes = []string{"payroll"}
		g.Expect(k8s.Create(ctx, own)).To(Succeed())
	})
	d := &metav1.Duration{Duration: time.Hour}
	for field, mutate := range map[string]func(*tokenatorv1.OAuthEndpoint){
		"provider":             func(e *tokenatorv1.OAuthEndpoint) { e.Provider = "lucca" },
		"environment":          func(e *tokenatorv1.OAuthEndpoint) { e.Environment = "sandbox" },
		"tokenURL":             func(e *tokenatorv1.OAuthEndpoint) { e.TokenURL = "https://idp.example.com/token" },
		"encoding":             func(e *tokenatorv1.OAuthEndpoint) { e.Encoding = "json" },
		"clientAuthentication": func(e *tokenatorv1.OAuthEndpoint) { e.ClientAuthentication = "basic" },
		"clientID":             func(e *tokenatorv1.OAuthEndpoint) { e.ClientID = "abc" },
		"clientAssertion":      func(e *tokenatorv1.OAuthEndpoint) { e.ClientAssertion = &tokenatorv1.ClientAssertion{KeyID: "k"} },
		"tls": func(e *tokenatorv1.OAuthEndpoint) {
			e.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "ca"}}
		},
		"extraParameters": func(e *tokenatorv1.OAuthEndpoint) { e.ExtraParameters = map[string]string{"a": "b"} },
		"extraHeaders":    func(e *tokenatorv1.OAuthEndpoint) { e.ExtraHeaders = map[string]string{"X-A": "b"} },
		"refreshBefore":   func(e *tokenatorv1.OAuthEndpoint) { e.RefreshBefore = d },
		"defaultLifetime": func(e *tokenatorv1.OAuthEndpoint) { e.DefaultLifetime = d },
		"grant":           func(e *tokenatorv1.OAuthEndpoint) { e.Grant = "jwtBearer" },
		"jwtBearer":       func(e *tokenatorv1.OAuthEndpoint) { e.JWTBearer = &tokenatorv1.JWTBearer{Subject: "u"} },
		"tokenExchange": func(e *tokenatorv1.OAuthEndpoint) {
			e.TokenExchange = &tokenatorv1.TokenExchange{ServiceAccountName: "sa", SubjectTokenAudience: "sts"}
		},
	} {
		t.Run(field, func(t *testing.T) {
			g := NewWithT(t)
			oc := valid()
			mutate(&oc.Spec.OAuthEndpoint)
			err := k8s.Create(ctx, oc)
			g.Expect(err).To(HaveOccurred(), "the API server accepted %s with providerRef", field)
			g.Expect(err.Error()).To(ContainSubstring("spec." + field))
			g.Expect(err.Error()).To(ContainSubstring("providerRef takes the endpoint from the ClusterOAuthProvider; remove " + field))
		})
	}
	t.Run("no providerRef and no credentials", func(t *testing.T) {
		g := NewWithT(t)
		oc := valid()
		oc.Spec.ProviderRef = nil
		oc.Spec.TokenURL = "https://idp.example.com/token"
		err := k8s.Create(ctx, oc)
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring("credentialsSecretRef is required unless"))
	})
}

// A ClusterOAuthProvider's endpoint is checked as an OAuthClient's, and
// allowedNamespaces is required.
func TestClusterOAuthProviderValidation(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	valid := func() *tokenatorv1.ClusterOAuthProvider {
		return &tokenatorv1.ClusterOAuthProvider{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "coap-"},
			Spec: tokenatorv1.ClusterOAuthProviderSpec{
				OAuthEndpoint:     tokenatorv1.OAuthEndpoint{Provider: "lucca"},
				AllowedNamespaces: &metav1.LabelSelector{},
			},
		}
	}
	t.Run("valid", func(t *testing.T) {
		g := NewWithT(t)
		p := valid()
		p.Spec.AllowedScopes = []string{"api.read*", "payroll"}
		p.Spec.DefaultScopes = []string{"api.read"}
		p.Spec.AllowedAudiences = []string{"https://api.example.com/*"}
		p.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "central"}
		g.Expect(k8s.Create(ctx, p)).To(Succeed())
		g.Expect(p.Spec.CredentialsSecretRef.ClientIDKey).To(Equal("client_id"))
		g.Expect(p.Spec.DefaultScopes).To(Equal([]string{"api.read"}), "defaultScopes kept by the schema")
		g.Expect(p.Spec.AllowedAudiences).To(Equal([]string{"https://api.example.com/*"}), "allowedAudiences kept by the schema")
		t.Cleanup(func() { _ = k8s.Delete(ctx, p) })
	})
	// serviceAccountToken: the ServiceAccount is of the cluster resource
	// namespace, the client ID inline or from the central credentials.
	for name, mutate := range map[string]func(*tokenatorv1.ClusterOAuthProvider){
		"serviceAccountToken": func(p *tokenatorv1.ClusterOAuthProvider) {},
		"serviceAccountToken with central credentials": func(p *tokenatorv1.ClusterOAuthProvider) {
			p.Spec.ClientID = ""
			p.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "central"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p := valid()
			p.Spec.Provider, p.Spec.TokenURL = "", "https://login.example.com/t/oauth2/v2.0/token"
			p.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			p.Spec.ClientID = "app"
			p.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: "sa", Audience: "api://AzureADTokenExchange"}
			mutate(p)
			g.Expect(k8s.Create(ctx, p)).To(Succeed())
			t.Cleanup(func() { _ = k8s.Delete(ctx, p) })
		})
	}
	for _, tt := range []struct {
		name   string
		mutate func(*tokenatorv1.ClusterOAuthProvider)
		want   []string
	}{
		{"no allowedNamespaces", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.AllowedNamespaces = nil },
			[]string{"spec.allowedNamespaces", "Required value"}},
		{"generic without tokenURL", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.Provider = "" },
			[]string{"spec.tokenURL", "tokenURL is required when provider is generic"}},
		{"plain http tokenURL", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.TokenURL = "http://idp.example.com/token" },
			[]string{"spec.tokenURL", "tokenURL must be an absolute https:// URL"}},
		{"environment on lucca", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.Environment = "sandbox" },
			[]string{"spec.environment", "environment applies only to provider luxclusif"}},
		{"extraParameters sets scope", func(p *tokenatorv1.ClusterOAuthProvider) {
			p.Spec.ExtraParameters = map[string]string{"scope": "all"}
		}, []string{"spec.extraParameters", "extraParameters may not set"}},
		{"Authorization header with basic", func(p *tokenatorv1.ClusterOAuthProvider) {
			p.Spec.ClientAuthentication = "basic"
			p.Spec.ExtraHeaders = map[string]string{"Authorization": "x"}
		}, []string{"spec.extraHeaders", "extraHeaders may not set Authorization when clientAuthentication is basic"}},
		{"clientAssertion with post", func(p *tokenatorv1.ClusterOAuthProvider) {
			p.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{KeyID: "k"}
		}, []string{"spec.clientAssertion", "clientAssertion applies only to"}},
		{"serviceAccountToken without clientID", func(p *tokenatorv1.ClusterOAuthProvider) {
			p.Spec.Provider, p.Spec.TokenURL = "", "https://login.example.com/t/oauth2/v2.0/token"
			p.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			p.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: "sa", Audience: "api://AzureADTokenExchange"}
		}, []string{"spec.clientID", "clientAuthentication serviceAccountToken requires clientID (or credentialsSecretRef to read it from)"}},
		{"serviceAccountToken without a ServiceAccount", func(p *tokenatorv1.ClusterOAuthProvider) {
			p.Spec.Provider, p.Spec.TokenURL = "", "https://login.example.com/t/oauth2/v2.0/token"
			p.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			p.Spec.ClientID = "app"
		}, []string{"spec.clientAssertion", "clientAuthentication serviceAccountToken requires clientAssertion.serviceAccountName and clientAssertion.audience"}},
		{"scope glob with a space", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.AllowedScopes = []string{"api read"} },
			[]string{"spec.allowedScopes[0]", "should match"}},
		{"default scope with a space", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.DefaultScopes = []string{"api.read", "api write"} },
			[]string{"spec.defaultScopes[1]", "should match"}},
		{"empty audience glob", func(p *tokenatorv1.ClusterOAuthProvider) { p.Spec.AllowedAudiences = []string{""} },
			[]string{"spec.allowedAudiences[0]", "should be at least 1 chars long"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			p := valid()
			tt.mutate(p)
			err := k8s.Create(ctx, p)
			if err == nil {
				_ = k8s.Delete(ctx, p)
			}
			g.Expect(err).To(HaveOccurred(), "the API server accepted the spec")
			for _, w := range tt.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}
