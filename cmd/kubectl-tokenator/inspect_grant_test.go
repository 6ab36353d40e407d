package main

import (
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// inspect tells the grant, the client authentication, and for a Google
// service account key the issuer and the key id of the assertion, never the
// key; -o json says the same.
func TestInspectGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Google})
	key := oauthtest.NewClientKey(oauthtest.RSA2048).(*rsa.PrivateKey)
	const email = "reader@tokenator-test.iam.gserviceaccount.com"
	e.idp.SetServiceAccountKey(oauthtest.ServiceAccountKey{Email: email, KeyID: "0a1b2c3d4e", Key: key.Public()})
	keyPEM := oauthtest.PrivateKeyPEM(key)
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "google-sa"},
		Data: map[string][]byte{"credentials.json": oauthtest.ServiceAccountKeyFile(email, "0a1b2c3d4e", e.idp.URL(), key)}})
	e.oauthClient("gcs", "", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.Provider = tokenatorv1.ProviderGoogle
		oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "google-sa", ServiceAccountKeyKey: "credentials.json"}
		oc.Spec.Scopes = []string{"https://www.googleapis.com/auth/cloud-platform"}
	})
	e.waitReason("gcs", tokenatorv1.ReasonTokenIssued)

	r := kt(t, "inspect", "-n", e.ns, "gcs")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	for _, want := range []string{`Grant: +jwtBearer\n`, `Client authentication: +none\n`, `Assertion issuer: +` + email + `\n`,
		`Assertion key ID: +0a1b2c3d4e\n`, `Assertion key: +Secret google-sa, key credentials.json\n`} {
		e.g.Expect(r.out).To(MatchRegexp(want))
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			e.g.Expect(r.out).NotTo(ContainSubstring(line))
		}
	}
	expectNoToken(t, r, e.token("gcs-token"))

	r = kt(t, "inspect", "-n", e.ns, "gcs", "-o", "json")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	var got inspection
	e.g.Expect(json.Unmarshal([]byte(r.out), &got)).To(Succeed())
	e.g.Expect(got.Grant).To(Equal(&grantInfo{Grant: "jwtBearer", ClientAuthentication: "none", Issuer: email, KeyID: "0a1b2c3d4e",
		Key: "Secret google-sa, key credentials.json"}))
	e.g.Expect(got.Token.Length).To(BeNumerically(">", 20))
}

// The client credentials grant is told as such.
func TestInspectClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.oauthClient("cc", "", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationBasic
	})
	e.waitReason("cc", tokenatorv1.ReasonTokenIssued)
	r := kt(t, "inspect", "-n", e.ns, "cc")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`Grant: +clientCredentials\nClient authentication: +basic\nSecret: +cc-token\n`))
}
