package docs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// The CRD schema refuses bad specs with the message a user sees.
func TestCRDValidation(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	ns := newNamespace(t, "validation-")

	valid := func() *tokenatorv1.OAuthClient { return validClient(ns.Name) }
	tests := []struct {
		name   string
		mutate func(*tokenatorv1.OAuthClient)
		want   []string // substrings of the API server's error
	}{
		{"generic without tokenURL", func(o *tokenatorv1.OAuthClient) { o.Spec.TokenURL = "" },
			[]string{"spec.tokenURL", "tokenURL is required when provider is generic"}},
		{"plain http tokenURL", func(o *tokenatorv1.OAuthClient) { o.Spec.TokenURL = "http://idp.example.com/token" },
			[]string{"spec.tokenURL", "tokenURL must be an absolute https:// URL"}},
		{"relative tokenURL", func(o *tokenatorv1.OAuthClient) { o.Spec.TokenURL = "/connect/token" },
			[]string{"tokenURL must be an absolute https:// URL"}},
		{"unknown provider", func(o *tokenatorv1.OAuthClient) { o.Spec.Provider = "okta" },
			[]string{"spec.provider", `Unsupported value: "okta"`, `"generic"`, `"lucca"`, `"luxclusif"`}},
		{"unknown encoding", func(o *tokenatorv1.OAuthClient) { o.Spec.Encoding = "xml" },
			[]string{"spec.encoding", `Unsupported value: "xml"`}},
		{"unknown client authentication", func(o *tokenatorv1.OAuthClient) { o.Spec.ClientAuthentication = "private_key_jwt" },
			[]string{"spec.clientAuthentication", `Unsupported value: "private_key_jwt"`}},
		{"environment on lucca", func(o *tokenatorv1.OAuthClient) {
			o.Spec.Provider = "lucca"
			o.Spec.Environment = "sandbox"
		}, []string{"spec.environment", "environment applies only to provider luxclusif"}},
		{"unknown environment", func(o *tokenatorv1.OAuthClient) {
			o.Spec.Provider = "luxclusif"
			o.Spec.Environment = "staging"
		}, []string{"spec.environment", `Unsupported value: "staging"`}},
		{"extraParameters sets client_secret", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraParameters = map[string]string{"client_secret": "x"}
		}, []string{"spec.extraParameters", "extraParameters may not set grant_type, client_id, client_secret, client_assertion, client_assertion_type or scope"}},
		{"extraParameters sets client_assertion", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraParameters = map[string]string{"client_assertion": "x"}
		}, []string{"spec.extraParameters", "extraParameters may not set"}},
		{"extraParameters sets grant_type", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraParameters = map[string]string{"grant_type": "password"}
		}, []string{"extraParameters may not set grant_type"}},
		{"extraParameters sets scope", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraParameters = map[string]string{"scope": "all"}
		}, []string{"extraParameters may not set"}},
		{"extraHeaders sets Content-Type", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraHeaders = map[string]string{"content-type": "text/plain"}
		}, []string{"spec.extraHeaders", "may not set Content-Type"}},
		{"extraHeaders sets Connection", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraHeaders = map[string]string{"Connection": "close"}
		}, []string{"spec.extraHeaders", "may not set Content-Type, Content-Length, Host or connection headers"}},
		{"extraData template too long", func(o *tokenatorv1.OAuthClient) {
			o.Spec.Secret.ExtraData = map[string]string{"h": strings.Repeat("x", 4097)}
		}, []string{"spec.secret.extraData", "extraData templates may be at most 4096 characters"}},
		{"extraHeaders with a bad name", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraHeaders = map[string]string{"X Tenant": "a"}
		}, []string{"extraHeaders keys must be valid HTTP header names"}},
		{"Authorization header with basic auth", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = "basic"
			o.Spec.ExtraHeaders = map[string]string{"Authorization": "Bearer x"}
		}, []string{"extraHeaders may not set Authorization when clientAuthentication is basic"}},
		{"refreshBefore not a duration", func(o *tokenatorv1.OAuthClient) {
			o.Spec.RefreshBefore = &metav1.Duration{Duration: -1}
		}, []string{"spec.refreshBefore", "should match"}},
		{"defaultLifetime too short", func(o *tokenatorv1.OAuthClient) {
			o.Spec.DefaultLifetime = &metav1.Duration{Duration: 1e9}
		}, []string{"spec.defaultLifetime", "defaultLifetime must be at least 10s"}},
		{"no credentials Secret", func(o *tokenatorv1.OAuthClient) { o.Spec.CredentialsSecretRef = nil },
			[]string{"spec.credentialsSecretRef", "credentialsSecretRef is required unless clientAuthentication is serviceAccountToken (or none with grant tokenExchange) or providerRef names a ClusterOAuthProvider"}},
		{"clientAssertion with post", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Audience: "x"}
		}, []string{"spec.clientAssertion", "clientAssertion applies only to clientAuthentication secretJWT, privateKeyJWT and serviceAccountToken"}},
		{"serviceAccountToken without a ServiceAccount", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			o.Spec.CredentialsSecretRef = nil
			o.Spec.ClientID = "c"
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Audience: "api://AzureADTokenExchange"}
		}, []string{"spec.clientAssertion", "requires clientAssertion.serviceAccountName and clientAssertion.audience"}},
		{"serviceAccountToken without a client id", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			o.Spec.CredentialsSecretRef = nil
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Audience: "a", ServiceAccountName: "sa"}
		}, []string{"spec.clientID", "requires clientID"}},
		{"serviceAccountName with privateKeyJWT", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationPrivateKeyJWT
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: "sa"}
		}, []string{"spec.clientAssertion.serviceAccountName", "applies only to clientAuthentication serviceAccountToken"}},
		{"HS256 with privateKeyJWT", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationPrivateKeyJWT
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Algorithm: "HS256"}
		}, []string{"spec.clientAssertion.algorithm", "clientAssertion.algorithm must be HS256, HS384 or HS512 for secretJWT"}},
		{"RS256 with secretJWT", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationSecretJWT
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Algorithm: "RS256"}
		}, []string{"spec.clientAssertion.algorithm"}},
		{"thumbprint with secretJWT", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationSecretJWT
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{CertificateThumbprint: "x5t"}
		}, []string{"spec.clientAssertion.certificateThumbprint", "applies only to clientAuthentication privateKeyJWT"}},
		{"keyID with serviceAccountToken", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			o.Spec.ClientID = "c"
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Audience: "a", ServiceAccountName: "sa", KeyID: "k"}
		}, []string{"spec.clientAssertion.keyID", "applies only to clientAuthentication secretJWT and privateKeyJWT"}},
		{"assertion lifetime too long", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationPrivateKeyJWT
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Lifetime: &metav1.Duration{Duration: 2 * time.Hour}}
		}, []string{"spec.clientAssertion.lifetime", "clientAssertion.lifetime must be between 30s and 1h"}},
		{"ServiceAccount token lifetime too short", func(o *tokenatorv1.OAuthClient) {
			o.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
			o.Spec.ClientID = "c"
			o.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Audience: "a", ServiceAccountName: "sa", Lifetime: &metav1.Duration{Duration: 5 * time.Minute}}
		}, []string{"spec.clientAssertion.lifetime", "clientAssertion.lifetime must be at least 10m for serviceAccountToken"}},
		{"clientID with a control character", func(o *tokenatorv1.OAuthClient) { o.Spec.ClientID = "a\nb" },
			[]string{"spec.clientID", "should match"}},
		{"credentials Secret without a name", func(o *tokenatorv1.OAuthClient) { o.Spec.CredentialsSecretRef.Name = "" },
			[]string{"spec.credentialsSecretRef.name"}},
		{"bad credentials key", func(o *tokenatorv1.OAuthClient) { o.Spec.CredentialsSecretRef.ClientSecretKey = "a/b" },
			[]string{"spec.credentialsSecretRef.clientSecretKey", "should match"}},
		{"scope with a space", func(o *tokenatorv1.OAuthClient) { o.Spec.Scopes = []string{"buyback buyback.partner"} },
			[]string{"spec.scopes[0]", "should match"}},
		{"bad Secret name", func(o *tokenatorv1.OAuthClient) { o.Spec.Secret.Name = "Token_Secret" },
			[]string{"spec.secret.name", "should match"}},
		{"Secret name equal to the credentials", func(o *tokenatorv1.OAuthClient) { o.Spec.Secret.Name = "creds" },
			[]string{"spec.secret.name", "secret.name must differ from credentialsSecretRef.name"}},
		{"extraData overrides access_token", func(o *tokenatorv1.OAuthClient) {
			o.Spec.Secret.ExtraData = map[string]string{"access_token": "x"}
		}, []string{"spec.secret.extraData", "extraData may not set access_token, token_type, expires_at or authorization"}},
		{"extraData key not a Secret key", func(o *tokenatorv1.OAuthClient) {
			o.Spec.Secret.ExtraData = map[string]string{"a/b": "x"}
		}, []string{"extraData keys must be valid Secret keys"}},
		{"label overrides managed-by", func(o *tokenatorv1.OAuthClient) {
			o.Spec.Secret.Labels = map[string]string{"app.kubernetes.io/managed-by": "me"}
		}, []string{"spec.secret.labels", "labels may not set app.kubernetes.io/managed-by"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			oc := valid()
			tt.mutate(oc)
			err := k8s.Create(ctx, oc)
			g.Expect(err).To(HaveOccurred(), "the API server accepted the spec")
			for _, w := range tt.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		g := NewWithT(t)
		oc := valid()
		g.Expect(k8s.Create(ctx, oc)).To(Succeed())
		// provider and clientAuthentication have no CRD default: generic and
		// post are applied when the request is resolved, so that "unset" can be
		// told from a value (a ClusterOAuthProvider's endpoint is not overridden).
		g.Expect(oc.Spec.Provider).To(BeEmpty())
		g.Expect(oc.Spec.ClientAuthentication).To(BeEmpty())
		g.Expect(oc.Spec.CredentialsSecretRef.ClientIDKey).To(Equal("client_id"))
		g.Expect(oc.Spec.CredentialsSecretRef.ClientSecretKey).To(Equal("client_secret"))
	})
	t.Run("presets need no tokenURL", func(t *testing.T) {
		g := NewWithT(t)
		for _, p := range []tokenatorv1.Provider{"lucca", "luxclusif"} {
			oc := valid()
			oc.Spec.TokenURL = ""
			oc.Spec.Provider = p
			g.Expect(k8s.Create(ctx, oc)).To(Succeed())
		}
	})
}
