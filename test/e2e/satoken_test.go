//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// With exactly the shipped RBAC, the manager binary authenticates with a
// ServiceAccount token (clientAuthentication serviceAccountToken): it
// watches ServiceAccounts, learns the API server's audiences through issuer
// discovery, and creates a token for the ServiceAccount that opted in, which
// the endpoint verifies with the keys the API server publishes (zitadel/oidc's
// op.VerifyJWTAssertion: signature, aud, exp; then iss and sub).
func TestServiceAccountTokenWithShippedRBAC(t *testing.T) {
	w := newWorld(t)
	const audience = "api://AzureADTokenExchange"
	httpClient, err := rest.HTTPClientFor(adminConfig)
	w.g.Expect(err).NotTo(HaveOccurred())
	// The JWKS of the API server, at its loopback address (the discovery
	// document names the machine's external address).
	keys := rp.NewRemoteKeySet(httpClient, "https://"+apiServerAddr+"/openid/v1/jwks")
	issuer := "https://" + apiServerAddr + "/"
	subject := "system:serviceaccount:" + w.ns + ":orders"
	idp := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, VerifyAssertion: func(clientID, assertion string) error {
		if clientID != "orders-app" {
			return errors.New("unknown client")
		}
		v := op.NewJWTProfileVerifierKeySet(keys, audience, time.Hour, 0, op.SubjectCheck(func(r *oidc.JWTTokenRequest) error {
			if r.Issuer != issuer || r.Subject != subject {
				return fmt.Errorf("iss %q, sub %q", r.Issuer, r.Subject)
			}
			return nil
		}))
		_, err := op.VerifyJWTAssertion(context.Background(), assertion, v)
		return err
	}})
	endpoints = append(endpoints, idp)
	t.Cleanup(idp.Close)
	w.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fed-ca"}, Data: map[string][]byte{"ca.crt": idp.CAPEM()}})
	w.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "orders",
		Annotations: map[string]string{tokenatorv1.AnnotationTokenAudiences: audience}}})

	kubeconfig, err := writeKubeconfig(workDir, "kubeconfig-satoken", "https://"+apiServerAddr, adminConfig)
	w.g.Expect(err).NotTo(HaveOccurred())
	startManager(t, "satoken", kubeconfig)

	oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "orders"}, Spec: tokenatorv1.OAuthClientSpec{
		OAuthEndpoint: tokenatorv1.OAuthEndpoint{
			TokenURL:             idp.URL(),
			TLS:                  &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "fed-ca"}},
			ClientAuthentication: tokenatorv1.ClientAuthenticationServiceAccountToken,
			ClientID:             "orders-app",
			ClientAssertion:      &tokenatorv1.ClientAssertion{ServiceAccountName: "orders", Audience: audience},
		},
	}}
	w.create(oc)
	w.waitReason("orders", tokenatorv1.ReasonTokenIssued)
	w.g.Expect(idp.Issued()).To(ContainElement(w.token("orders-token")))
	w.g.Expect(idp.Assertions()).NotTo(BeEmpty())
}
