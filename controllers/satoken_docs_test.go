package controllers_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// serviceAccountSections are the sections of docs/providers pages that show
// the serviceAccountToken method, each tested by
// TestServiceAccountTokenProviderPages (and left out of
// TestProviderPagesExamples, whose examples hold a credentials Secret).
var serviceAccountSections = map[string]string{
	"entra-id.md": "## Workload identity federation from a ServiceAccount",
	"keycloak.md": "## Federated client authentication",
}

// markdownSection is the text of md from the line heading to the next
// heading of the same level (or the end), and md without it.
func markdownSection(md, heading string) (section, rest string) {
	start := strings.Index(md, "\n"+heading+"\n")
	if start < 0 {
		return "", md
	}
	level := heading[:strings.Index(heading, " ")+1]
	end := len(md)
	if i := strings.Index(md[start+1+len(heading):], "\n"+level); i >= 0 {
		end = start + 1 + len(heading) + i
	}
	return md[start:end], md[:start] + md[end:]
}

// The complete example of each serviceAccountToken section (a ServiceAccount
// that opts in, an OAuthClient and a Deployment) works as written against an
// authorization server that verifies the ServiceAccount token with the
// cluster's keys (federationServer, with the page's token path, client ID
// and audience): only tokenURL's host and the CA are swapped in. The
// audience is the one the provider expects (Entra ID: api://AzureADTokenExchange;
// Keycloak: the realm URL of the tokenURL), and the Deployment reads the
// derived Secret.
func TestServiceAccountTokenProviderPages(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	for page, heading := range serviceAccountSections {
		t.Run(page, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			raw, err := os.ReadFile(filepath.Join("..", "docs", "providers", page))
			g.Expect(err).NotTo(HaveOccurred())
			section, _ := markdownSection(string(raw), heading)
			g.Expect(section).NotTo(BeEmpty(), "%s has no section %q", page, heading)

			var sa *corev1.ServiceAccount
			var oc *tokenatorv1.OAuthClient
			var deploy *appsv1.Deployment
			for _, b := range testutil.FencedBlocks(t, section, "yaml") {
				docs := testutil.YAMLDocuments(b)
				if len(docs) < 2 {
					continue
				}
				g.Expect(oc).To(BeNil(), "%s: more than one multi-document ```yaml block in %q", page, heading)
				g.Expect(docs).To(HaveLen(3), "%s: the example is a ServiceAccount, an OAuthClient and a Deployment", page)
				g.Expect(yaml.UnmarshalStrict([]byte(docs[0]), &sa)).To(Succeed())
				g.Expect(sa.Kind).To(Equal("ServiceAccount"))
				oc = decodeDocObject(t, docs[1]).(*tokenatorv1.OAuthClient)
				deploy = decodeDocObject(t, docs[2]).(*appsv1.Deployment)
			}
			g.Expect(oc).NotTo(BeNil(), "%s: no complete example in %q", page, heading)

			g.Expect(oc.Spec.ClientAuthentication).To(Equal(tokenatorv1.ClientAuthenticationServiceAccountToken))
			g.Expect(oc.Spec.CredentialsSecretRef).To(BeNil())
			g.Expect(oc.Spec.ClientAssertion).NotTo(BeNil())
			g.Expect(oc.Spec.ClientAssertion.ServiceAccountName).To(Equal(sa.Name))
			g.Expect(sa.Namespace).To(Equal(oc.Namespace))
			g.Expect(deploy.Namespace).To(Equal(oc.Namespace))
			audience := oc.Spec.ClientAssertion.Audience
			g.Expect(strings.Split(sa.Annotations[tokenatorv1.AnnotationTokenAudiences], ",")).To(ContainElement(audience))
			u, err := url.Parse(oc.Spec.TokenURL)
			g.Expect(err).NotTo(HaveOccurred())
			switch page {
			case "entra-id.md":
				g.Expect(u.Host).To(Equal("login.microsoftonline.com"))
				g.Expect(audience).To(Equal("api://AzureADTokenExchange"))
			case "keycloak.md":
				realm, found := strings.CutSuffix(oc.Spec.TokenURL, "/protocol/openid-connect/token")
				g.Expect(found).To(BeTrue(), "a Keycloak token URL")
				g.Expect(audience).To(Equal(realm))
			}
			g.Expect(section).To(ContainSubstring("system:serviceaccount:" + sa.Namespace + ":" + sa.Name))

			fed := newFederationServer(t, u.Path)
			e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
			fed.Register(oc.Spec.ClientID, federatedCredential{issuer: kubeIssuer(t).issuer,
				subject: "system:serviceaccount:" + e.ns + ":" + sa.Name, audience: audience})
			e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fed-ca"}, Data: map[string][]byte{"ca.crt": fed.caPEM()}})
			sa = sa.DeepCopy()
			e.create(sa)
			oc = oc.DeepCopy()
			oc.Spec.TokenURL = fed.URL()
			oc.Spec.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "fed-ca"}}
			e.create(oc)
			got := e.waitReady(oc.Name)
			derived := e.secret(got.Status.SecretName)
			e.g.Expect(fed.Issued()).To(ContainElement(string(derived.Data[tokenatorv1.SecretKeyAccessToken])))

			w := deploy.DeepCopy()
			w.Namespace = e.ns
			e.g.Expect(k8s.Create(e.ctx, w, client.DryRunAll)).To(Succeed(), "%s: Deployment %s", page, w.Name)
			checkReadsSecret(e.g, page+": "+w.Name, podSpecOf(e.g, w), derived)
		})
	}
}
