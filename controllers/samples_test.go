package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// Every sample in config/samples reaches Ready against a local endpoint that
// behaves like its provider; only the endpoint's URL and CA are swapped in.
func TestSamplesReachReady(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "tokenator_*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("want at least 5 samples, found %d (%v)", len(files), err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "\nkind: ClusterOAuthProvider\n") {
			continue // TestProviderSampleReachesReady
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			var secret corev1.Secret
			var oc tokenatorv1.OAuthClient
			var sa *corev1.ServiceAccount
			for _, doc := range strings.Split(string(raw), "\n---\n") {
				var probe struct{ Kind string }
				g.Expect(yaml.Unmarshal([]byte(doc), &probe)).To(Succeed())
				switch probe.Kind {
				case "Secret":
					g.Expect(yaml.UnmarshalStrict([]byte(doc), &secret)).To(Succeed())
				case "OAuthClient":
					g.Expect(yaml.UnmarshalStrict([]byte(doc), &oc)).To(Succeed())
				case "ServiceAccount":
					sa = &corev1.ServiceAccount{}
					g.Expect(yaml.UnmarshalStrict([]byte(doc), sa)).To(Succeed())
				default:
					t.Fatalf("unexpected kind %q in %s", probe.Kind, file)
				}
			}
			g.Expect(oc.Name).NotTo(BeEmpty())
			g.Expect(secret.Name).To(Equal(oc.Spec.CredentialsSecretRef.Name))

			cfg := oauthtest.Config{Clients: map[string]string{}}
			switch {
			case oc.Spec.Provider == tokenatorv1.ProviderLucca:
				cfg.Kind = oauthtest.Lucca
			case oc.Spec.Provider == tokenatorv1.ProviderLuxclusif:
				cfg.Kind = oauthtest.Luxclusif
			case oc.Spec.Encoding == tokenatorv1.EncodingJSON:
				cfg.Kind = oauthtest.JSONBody
			case oc.Spec.Provider == tokenatorv1.ProviderGoogle:
				cfg.Kind = oauthtest.Google
				cfg.ServiceAccountKeys = []oauthtest.ServiceAccountKey{docServiceAccountKey(g, filepath.Base(file), &secret, oc.Spec.CredentialsSecretRef)}
			default:
				cfg.Kind = oauthtest.RFC6749
				cfg.ClientAuth = string(oc.Spec.ClientAuthentication)
				if oc.Spec.ClientAuthentication == tokenatorv1.ClientAuthenticationSecretJWT {
					cfg.ClientAuth = "assertion"
				}
			}
			// The subject token of a token exchange, verified with the
			// cluster's keys: a token of the sample's ServiceAccount for
			// the audience it opted in to.
			subject := &federatedCredential{}
			if te := oc.Spec.TokenExchange; te != nil {
				g.Expect(sa).NotTo(BeNil(), "a token exchange sample has its ServiceAccount")
				g.Expect(sa.Name).To(Equal(te.ServiceAccountName))
				g.Expect(sa.Annotations).To(HaveKeyWithValue(tokenatorv1.AnnotationTokenAudiences, te.SubjectTokenAudience))
				subject.audience = te.SubjectTokenAudience
				cfg.VerifySubjectToken = subjectVerifier(t, subject)
			}
			idKey := defaultKey(oc.Spec.CredentialsSecretRef.ClientIDKey, "client_id")
			secretKey := defaultKey(oc.Spec.CredentialsSecretRef.ClientSecretKey, "client_secret")
			wantID := oc.Spec.ClientID
			if wantID == "" {
				wantID = secret.StringData[idKey]
			}
			if wantID != "" {
				cfg.Clients[wantID] = secret.StringData[secretKey]
			}
			e := newEnv(t, cfg)

			if sa != nil {
				subject.subject = "system:serviceaccount:" + e.ns + ":" + sa.Name
				e.create(sa)
			}
			e.create(&secret)
			oc.Spec.TokenURL = e.idp.URL()
			oc.Spec.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}}
			e.create(&oc)
			got := e.waitReady(oc.Name)
			tok := e.token(got.Status.SecretName)
			e.g.Expect(e.issuedToken(tok)).To(BeTrue())
			req := e.idp.LastRequest()
			e.g.Expect(req.Params["client_id"] + req.BasicUser).To(Equal(wantID))
			if oc.Spec.TokenExchange != nil {
				e.g.Expect(req.Params).To(HaveKeyWithValue("grant_type", string(oauth.GrantTokenExchange)))
				e.g.Expect(jwtClaims(t, req.Params["subject_token"])).To(HaveKeyWithValue("sub", subject.subject))
			}
			if cfg.Kind == oauthtest.Google {
				e.g.Expect(jwtClaims(t, req.Params["assertion"])).To(HaveKeyWithValue("scope", strings.Join(oc.Spec.Scopes, " ")))
			} else if len(oc.Spec.Scopes) > 0 {
				e.g.Expect(req.Params).To(HaveKeyWithValue("scope", strings.Join(oc.Spec.Scopes, " ")))
			}
			for key := range oc.Spec.Secret.ExtraData {
				e.g.Expect(e.secret(got.Status.SecretName).Data).To(HaveKey(key))
			}
		})
	}
}

func defaultKey(k, def string) string {
	if k == "" {
		return def
	}
	return k
}

// The ClusterOAuthProvider sample (central credentials in the cluster
// resource namespace, a provider, a tenant's OAuthClient with providerRef)
// reaches Ready against a local Lucca endpoint once the tenant's namespace
// has the label the provider selects; only the provider's tokenURL and CA and
// the credentials' namespace are swapped in. The token is requested with the
// central credentials, and the tenant's namespace holds no credentials.
func TestProviderSampleReachesReady(t *testing.T) {
	file := filepath.Join("..", "config", "samples", "tokenator_v1alpha1_clusteroauthprovider_lucca.yaml")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	var p tokenatorv1.ClusterOAuthProvider
	var oc tokenatorv1.OAuthClient
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var probe struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
			t.Fatal(err)
		}
		var into any
		switch probe.Kind {
		case "Secret":
			into = &secret
		case "ClusterOAuthProvider":
			into = &p
		case "OAuthClient":
			into = &oc
		default:
			t.Fatalf("unexpected kind %q in %s", probe.Kind, file)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Fatal(err)
		}
	}
	if secret.Namespace != "tokenator-system" || p.Spec.CredentialsSecretRef == nil || p.Spec.CredentialsSecretRef.Name != secret.Name {
		t.Fatalf("the provider's central credentials are not the sample's Secret in tokenator-system")
	}
	id, pw := secret.StringData["client_id"], secret.StringData["client_secret"]
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.Lucca, Clients: map[string]string{id: pw}}, 1, nil)
	e.create(&secret) // into the cluster resource namespace of the test's manager
	p.Spec.TokenURL = e.idp.URL()
	p.Spec.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}}
	e.createProvider(&p)
	for key, value := range p.Spec.AllowedNamespaces.MatchLabels {
		e.label(e.tenants[0], key, value)
	}
	tenant := e.tenant(0)
	tenant.create(&oc)
	got := tenant.waitReady(oc.Name)
	e.g.Expect(got.Status.SecretName).To(Equal(oc.Spec.Secret.Name))
	e.g.Expect(e.issuedToken(tenant.token(got.Status.SecretName))).To(BeTrue())
	req := e.idp.LastRequest()
	e.g.Expect(req.Params).To(HaveKeyWithValue("client_id", id))
	e.g.Expect(req.Params).To(HaveKeyWithValue("scope", strings.Join(oc.Spec.Scopes, " ")))
	var inTenant corev1.SecretList
	e.g.Expect(k8s.List(e.ctx, &inTenant, client.InNamespace(e.tenants[0]))).To(Succeed())
	for _, s := range inTenant.Items {
		e.g.Expect(s.Data).NotTo(HaveKey("client_secret"), "Secret %s", s.Name)
	}
}
