package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
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
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			raw, err := os.ReadFile(file)
			g.Expect(err).NotTo(HaveOccurred())
			var secret corev1.Secret
			var oc tokenatorv1.OAuthClient
			for _, doc := range strings.Split(string(raw), "\n---\n") {
				var probe struct{ Kind string }
				g.Expect(yaml.Unmarshal([]byte(doc), &probe)).To(Succeed())
				switch probe.Kind {
				case "Secret":
					g.Expect(yaml.UnmarshalStrict([]byte(doc), &secret)).To(Succeed())
				case "OAuthClient":
					g.Expect(yaml.UnmarshalStrict([]byte(doc), &oc)).To(Succeed())
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
			default:
				cfg.Kind = oauthtest.RFC6749
				cfg.ClientAuth = string(oc.Spec.ClientAuthentication)
				if oc.Spec.ClientAuthentication == tokenatorv1.ClientAuthenticationSecretJWT {
					cfg.ClientAuth = "assertion"
				}
			}
			idKey := defaultKey(oc.Spec.CredentialsSecretRef.ClientIDKey, "client_id")
			secretKey := defaultKey(oc.Spec.CredentialsSecretRef.ClientSecretKey, "client_secret")
			wantID := oc.Spec.ClientID
			if wantID == "" {
				wantID = secret.StringData[idKey]
			}
			cfg.Clients[wantID] = secret.StringData[secretKey]
			e := newEnv(t, cfg)

			e.create(&secret)
			oc.Spec.TokenURL = e.idp.URL()
			oc.Spec.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}}
			e.create(&oc)
			got := e.waitReady(oc.Name)
			tok := e.token(got.Status.SecretName)
			e.g.Expect(e.issuedToken(tok)).To(BeTrue())
			req := e.idp.LastRequest()
			e.g.Expect(req.Params["client_id"] + req.BasicUser).To(Equal(wantID))
			if len(oc.Spec.Scopes) > 0 {
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
