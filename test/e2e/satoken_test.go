//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

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

	// The manager learns its refused audiences from issuer discovery only
	// here (it runs in no Pod), so it lets through an audience the API server
	// accepts besides its issuer: the admission policy refuses the
	// TokenRequest all the same.
	assertions := len(idp.Assertions())
	w.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "cluster-user",
		Annotations: map[string]string{tokenatorv1.AnnotationTokenAudiences: apiServerAudiences[1]}}})
	cluster := oc.DeepCopy()
	cluster.ObjectMeta = metav1.ObjectMeta{Name: "cluster-user"}
	cluster.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: "cluster-user", Audience: apiServerAudiences[1]}
	w.create(cluster)
	refused := w.waitReason("cluster-user", tokenatorv1.ReasonTokenRequestFailed)
	w.g.Expect(meta.FindStatusCondition(refused.Status.Conditions, tokenatorv1.ConditionReady).Message).To(ContainSubstring(
		"tokenator may only request ServiceAccount tokens for audiences other than the API server's: " + apiServerAudiences[1]))
	w.g.Expect(idp.Assertions()).To(HaveLen(assertions), "no assertion was sent for the refused client")
}

// apiServerAudiences are the test API server's --api-audiences: those of
// k3s, which the shipped ServiceAccount token admission policy lists.
var apiServerAudiences = []string{"https://kubernetes.default.svc.cluster.local", "k3s"}

// TestTokenRequestPolicy: acting as the manager's ServiceAccount, with the
// shipped RBAC and admission policy, a TokenRequest for an audience the API
// server accepts (or for none, which gets them all) or for more than an hour
// is refused; one for another audience is allowed.
func TestTokenRequestPolicy(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	adminCS, err := kubernetes.NewForConfig(adminConfig)
	g.Expect(err).NotTo(HaveOccurred())
	managerCS, err := kubernetes.NewForConfig(impersonating(adminConfig))
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
	g.Expect(admin.Create(ctx, ns)).To(Succeed())
	g.Expect(admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns.Name,
		Annotations: map[string]string{tokenatorv1.AnnotationTokenAudiences: "api://AzureADTokenExchange"}}})).To(Succeed())
	request := func(cs kubernetes.Interface, seconds int64, audiences ...string) (string, error) {
		tr, err := cs.CoreV1().ServiceAccounts(ns.Name).CreateToken(ctx, "orders", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To(seconds)}}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		secrets = append(secrets, tr.Status.Token)
		return tr.Status.Token, nil
	}
	// authenticates reports whether the API server takes token for itself.
	authenticates := func(token string) bool {
		review, err := adminCS.AuthenticationV1().TokenReviews().Create(ctx,
			&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return review.Status.Authenticated
	}
	refused := func(err error, msg string) {
		t.Helper()
		g.Expect(err).To(HaveOccurred())
		g.Expect(apierrors.IsInvalid(err) || apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		g.Expect(err.Error()).To(ContainSubstring("ValidatingAdmissionPolicy 'tokenator-token-requests'"))
		g.Expect(err.Error()).To(ContainSubstring(msg))
	}
	const otherThanAPI = "tokenator may only request ServiceAccount tokens for audiences other than the API server's: "

	// What the policy guards against: the cluster administrator, whom it does
	// not bind, gets tokens for these audiences, and the API server takes
	// them; the manager is refused them.
	for _, aud := range apiServerAudiences {
		tok, err := request(adminCS, 600, aud)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(authenticates(tok)).To(BeTrue(), "a token for %s acts as the ServiceAccount", aud)
		_, err = request(managerCS, 600, aud)
		refused(err, otherThanAPI+aud)
		_, err = request(managerCS, 600, aud+"/")
		refused(err, otherThanAPI+aud+"/")
	}
	_, err = request(managerCS, 600, "api://AzureADTokenExchange", apiServerAudiences[0])
	refused(err, otherThanAPI+apiServerAudiences[0])
	// A TokenRequest for no audience gets the API server's.
	tok, err := request(adminCS, 600)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(authenticates(tok)).To(BeTrue(), "a token for no audience is for the API server's")
	_, err = request(managerCS, 600)
	refused(err, otherThanAPI+strings.Join(apiServerAudiences, ", "))
	_, err = request(managerCS, 7200, "api://AzureADTokenExchange")
	refused(err, "tokenator may only request ServiceAccount tokens that expire within an hour")

	// What the manager asks for: an opted-in audience, 10 minutes to 1 hour.
	for _, seconds := range []int64{600, 3600} {
		tok, err := request(managerCS, seconds, "api://AzureADTokenExchange")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(authenticates(tok)).To(BeFalse(), "a token for another audience does not act against the cluster")
	}
}
