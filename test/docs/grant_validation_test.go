package docs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// The grants' fields are checked by the schema: none only with jwtBearer
// and tokenExchange, each block only with its grant, a PEM key with an
// issuer, the grants' parameters out of extraParameters.
func TestGrantValidation(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	ns := newNamespace(t, "validation-")
	google := func() *tokenatorv1.OAuthClient {
		oc := validClient(ns.Name)
		oc.Spec.TokenURL = ""
		oc.Spec.Provider = tokenatorv1.ProviderGoogle
		oc.Spec.CredentialsSecretRef.ServiceAccountKeyKey = "credentials.json"
		oc.Spec.Scopes = []string{"https://www.googleapis.com/auth/cloud-platform"}
		return oc
	}
	exchange := func() *tokenatorv1.OAuthClient {
		oc := validClient(ns.Name)
		oc.Spec.Grant = tokenatorv1.GrantTokenExchange
		oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationNone
		oc.Spec.CredentialsSecretRef = nil
		oc.Spec.TokenExchange = &tokenatorv1.TokenExchange{ServiceAccountName: "ci-bot", SubjectTokenAudience: "sts.example.com"}
		return oc
	}
	pem := func() *tokenatorv1.OAuthClient {
		oc := validClient(ns.Name)
		oc.Spec.Grant = tokenatorv1.GrantJWTBearer
		oc.Spec.JWTBearer = &tokenatorv1.JWTBearer{Issuer: "3MVG9", Subject: "integration@example.com", ScopeIn: tokenatorv1.ScopeInBody}
		return oc
	}
	t.Run("valid", func(t *testing.T) {
		g := NewWithT(t)
		for _, oc := range []*tokenatorv1.OAuthClient{google(), exchange(), pem()} {
			g.Expect(k8s.Create(ctx, oc)).To(Succeed())
		}
		withNone := google()
		withNone.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationNone
		withNone.Spec.JWTBearer = &tokenatorv1.JWTBearer{Subject: "admin@example.com", Lifetime: &metav1.Duration{Duration: 30 * time.Minute}}
		g.Expect(k8s.Create(ctx, withNone)).To(Succeed())
		basic := exchange()
		basic.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationBasic
		basic.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "creds"}
		basic.Spec.TokenExchange.Resource = "https://api.example.com"
		g.Expect(k8s.Create(ctx, basic)).To(Succeed())
	})
	tests := []struct {
		name   string
		make   func() *tokenatorv1.OAuthClient
		mutate func(*tokenatorv1.OAuthClient)
		want   []string
	}{
		{"none with clientCredentials", validClientOf(ns.Name), func(o *tokenatorv1.OAuthClient) { o.Spec.ClientAuthentication = "none" },
			[]string{"spec.clientAuthentication", "clientAuthentication none applies only to the grants jwtBearer and tokenExchange"}},
		{"unknown grant", validClientOf(ns.Name), func(o *tokenatorv1.OAuthClient) { o.Spec.Grant = "password" },
			[]string{"spec.grant", `Unsupported value: "password"`}},
		{"jwtBearer with clientCredentials", validClientOf(ns.Name), func(o *tokenatorv1.OAuthClient) { o.Spec.JWTBearer = &tokenatorv1.JWTBearer{Subject: "u"} },
			[]string{"spec.jwtBearer", "jwtBearer applies only to grant jwtBearer"}},
		{"tokenExchange without its block", exchange, func(o *tokenatorv1.OAuthClient) { o.Spec.TokenExchange = nil },
			[]string{"spec.tokenExchange", "grant tokenExchange requires tokenExchange"}},
		{"tokenExchange block with jwtBearer", pem, func(o *tokenatorv1.OAuthClient) {
			o.Spec.TokenExchange = &tokenatorv1.TokenExchange{ServiceAccountName: "a", SubjectTokenAudience: "b"}
		}, []string{"spec.tokenExchange", "grant tokenExchange requires tokenExchange, which applies to it only"}},
		{"tokenExchange without audience", exchange, func(o *tokenatorv1.OAuthClient) { o.Spec.TokenExchange.SubjectTokenAudience = "" },
			[]string{"spec.tokenExchange.subjectTokenAudience"}},
		{"PEM key without issuer", pem, func(o *tokenatorv1.OAuthClient) { o.Spec.JWTBearer.Issuer = "" },
			[]string{"spec.jwtBearer.issuer", "grant jwtBearer with a PEM key requires jwtBearer.issuer"}},
		{"lifetime over an hour", google, func(o *tokenatorv1.OAuthClient) {
			o.Spec.JWTBearer = &tokenatorv1.JWTBearer{Lifetime: &metav1.Duration{Duration: 61 * time.Minute}}
		},
			[]string{"spec.jwtBearer.lifetime", "jwtBearer.lifetime must be between 1m and 1h"}},
		{"unknown scopeIn", google, func(o *tokenatorv1.OAuthClient) { o.Spec.JWTBearer = &tokenatorv1.JWTBearer{ScopeIn: "header"} },
			[]string{"spec.jwtBearer.scopeIn", `Unsupported value: "header"`}},
		{"key file with clientCredentials", validClientOf(ns.Name), func(o *tokenatorv1.OAuthClient) { o.Spec.CredentialsSecretRef.ServiceAccountKeyKey = "key.json" },
			[]string{"spec.credentialsSecretRef.serviceAccountKeyKey", "applies only to grant jwtBearer"}},
		{"serviceAccountToken with jwtBearer", pem, func(o *tokenatorv1.OAuthClient) { o.Spec.ClientAuthentication = "serviceAccountToken" },
			[]string{"spec.clientAuthentication", "does not combine with grant jwtBearer"}},
		{"exchange with none needs no Secret, with post it does", exchange, func(o *tokenatorv1.OAuthClient) { o.Spec.ClientAuthentication = "post" },
			[]string{"spec.credentialsSecretRef", "credentialsSecretRef is required"}},
		{"subject_token as an extra parameter", validClientOf(ns.Name), func(o *tokenatorv1.OAuthClient) {
			o.Spec.ExtraParameters = map[string]string{"subject_token": "x"}
		}, []string{"spec.extraParameters", "extraParameters may not set assertion, subject_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			oc := tt.make()
			tt.mutate(oc)
			err := k8s.Create(ctx, oc)
			g.Expect(err).To(HaveOccurred(), "the API server accepted the spec")
			for _, w := range tt.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

func validClientOf(ns string) func() *tokenatorv1.OAuthClient {
	return func() *tokenatorv1.OAuthClient { return validClient(ns) }
}

// A ClusterOAuthProvider takes the grants as an OAuthClient does, with the
// same rules.
func TestProviderGrantValidation(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	g := NewWithT(t)
	p := &tokenatorv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "coap-"},
		Spec: tokenatorv1.ClusterOAuthProviderSpec{
			OAuthEndpoint:        tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderGoogle},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "google-sa", ServiceAccountKeyKey: "credentials.json"},
			AllowedNamespaces:    &metav1.LabelSelector{},
			AllowedScopes:        []string{"https://www.googleapis.com/auth/devstorage.*"},
		},
	}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	bad := p.DeepCopy()
	bad.ResourceVersion, bad.Name = "", ""
	bad.Spec.Provider, bad.Spec.TokenURL, bad.Spec.ClientAuthentication = "", "https://idp.example.com/token", "none"
	err := k8s.Create(ctx, bad)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("clientAuthentication none applies only to the grants jwtBearer and tokenExchange"))
	g.Expect(err.Error()).To(ContainSubstring("credentialsSecretRef.serviceAccountKeyKey applies only to grant jwtBearer"))
}

// The schema refuses, in extraParameters, every body parameter the request
// builder reserves (oauth.ReservedParameters): a spec the API server accepts
// never fails at the request for that reason.
func TestSchemaRefusesReservedParameters(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ns := newNamespace(t, "validation-")
	reserved := oauth.ReservedParameters()
	if len(reserved) < 12 {
		t.Fatalf("only %d reserved parameters: %q", len(reserved), reserved)
	}
	for _, name := range reserved {
		oc := validClient(ns.Name)
		oc.Spec.ExtraParameters = map[string]string{name: "x"}
		err := k8s.Create(context.Background(), oc)
		if err == nil || !strings.Contains(err.Error(), "extraParameters may not set") {
			t.Errorf("extraParameters[%s]: the API server answered %v, want the schema's refusal", name, err)
		}
	}
}
