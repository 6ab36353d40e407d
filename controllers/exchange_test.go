package controllers_test

import (
	"context"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// The audiences of the two ServiceAccount tokens of a request that
// authenticates with one (serviceAccountToken) and exchanges the other
// (tokenExchange).
const (
	assertionAudience = "https://idp.example.com/client"
	subjectAudience   = "sts.example.com"
)

// subjectVerifier verifies a subject token against *fc, read at each
// request (a test sets its subject once its namespace exists).
func subjectVerifier(t *testing.T, fc *federatedCredential) oauthtest.SubjectTokenVerifier {
	k := kubeIssuer(t)
	fc.issuer = k.issuer
	return func(tok string) error {
		recordAssertion(tok)
		return fc.verify(context.Background(), k.keys, tok, 0)
	}
}

// waitNewHash waits for the token request hash of OAuthClient name to differ
// from old, and returns it.
func (e *testEnv) waitNewHash(name, old string) string {
	e.t.Helper()
	var cur string
	e.g.Eventually(func() string {
		cur = e.get(name).Status.TokenRequestHash
		return cur
	}).WithTimeout(timeout).WithPolling(poll).ShouldNot(Equal(old))
	return cur
}

// An OAuthClient that authenticates with a token of one ServiceAccount and
// exchanges a token of another: while the subject's ServiceAccount is
// missing it is CredentialsNotFound naming spec.tokenExchange.serviceAccountName
// and nothing is sent; its creation, and a change of either ServiceAccount's
// opt-in, reach the client within seconds.
func TestTokenExchangeTwoServiceAccounts(t *testing.T) {
	t.Parallel()
	k := kubeIssuer(t)
	client := &federatedCredential{issuer: k.issuer, audience: assertionAudience}
	subject := &federatedCredential{audience: subjectAudience}
	var clientID string
	cfg := oauthtest.Config{Kind: oauthtest.RFC6749, VerifyAssertion: assertionVerifier(k.keys, &clientID, client),
		VerifySubjectToken: subjectVerifier(t, subject)}
	requests := &tokenRequestCounter{}
	e := newEnvWrapped(t, cfg, nil, func(rt http.RoundTripper) http.RoundTripper { return requests.wrap(rt) })
	clientID = e.clientID
	client.subject = "system:serviceaccount:" + e.ns + ":client-sa"
	subject.subject = "system:serviceaccount:" + e.ns + ":subject-sa"
	e.serviceAccount("client-sa", assertionAudience)

	oc := e.oauthClient("both")
	oc.Spec.CredentialsSecretRef = nil
	oc.Spec.ClientID = e.clientID
	oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
	oc.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: "client-sa", Audience: assertionAudience}
	oc.Spec.Grant = tokenatorv1.GrantTokenExchange
	oc.Spec.TokenExchange = &tokenatorv1.TokenExchange{ServiceAccountName: "subject-sa", SubjectTokenAudience: subjectAudience}
	e.create(oc)
	missing := e.waitReason("both", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Expect(readyMessage(missing)).To(HavePrefix(`spec.tokenExchange.serviceAccountName: ServiceAccount "subject-sa" not found`))
	e.g.Expect(e.idp.Requests()).To(BeZero())
	e.g.Expect(requests.count()).To(BeZero())

	e.serviceAccount("subject-sa", subjectAudience)
	first := e.waitReady("both").Status.TokenRequestHash
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	e.g.Expect(requests.count()).To(Equal(2), "one TokenRequest for each ServiceAccount")

	e.annotateServiceAccount("subject-sa", subjectAudience+",other.example.com")
	second := e.waitNewHash("both", first)
	e.annotateServiceAccount("client-sa", assertionAudience+",https://idp.example.com/other")
	e.waitNewHash("both", second)
}

// A ClusterOAuthProvider whose grant is tokenExchange names the subject's
// ServiceAccount by spec.tokenExchange.serviceAccountName when it is missing,
// alone or besides the ServiceAccount of its serviceAccountToken client
// authentication; its creation, and a change of either ServiceAccount of a
// provider that uses two, reach the providers and their clients within
// seconds.
func TestProviderTokenExchangeServiceAccounts(t *testing.T) {
	subject := &federatedCredential{audience: subjectAudience}
	e := newProviderSAEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, VerifySubjectToken: subjectVerifier(t, subject)},
		1, "platform", assertionAudience)
	subject.subject = "system:serviceaccount:" + e.ns + ":exchanger"
	exchange := func(p *tokenatorv1.ClusterOAuthProvider) *tokenatorv1.ClusterOAuthProvider {
		p.Spec.Grant = tokenatorv1.GrantTokenExchange
		p.Spec.TokenExchange = &tokenatorv1.TokenExchange{ServiceAccountName: "exchanger", SubjectTokenAudience: subjectAudience}
		return p
	}
	alone, both := randomString("p-"), randomString("p-")
	e.createProvider(exchange(e.provider(alone)))
	e.createProvider(exchange(e.saProvider(both, "platform")))
	e.serviceAccount("platform", assertionAudience)
	tenant := e.tenant(0)
	for _, name := range []string{alone, both} {
		e.label(e.tenants[0], allowLabel(name), "allowed")
		tenant.create(providerClient(name, name))
	}
	notFound := `spec.tokenExchange.serviceAccountName: ServiceAccount "exchanger" not found in the cluster resource namespace "` + e.ns + `"`
	for _, name := range []string{alone, both} {
		e.waitProviderReason(name, tokenatorv1.ReasonCredentialsNotFound, notFound)
		tenant.waitReason(name, tokenatorv1.ReasonProviderNotFound)
		e.g.Expect(tenant.readyMessage(name)).To(ContainSubstring("is not Ready: " + notFound))
	}
	e.g.Expect(e.idp.Requests()).To(BeZero())

	e.serviceAccount("exchanger", subjectAudience)
	hashes := map[string]string{}
	for _, name := range []string{alone, both} {
		hashes[name] = tenant.waitReady(name).Status.TokenRequestHash
		e.waitProviderReason(name, tokenatorv1.ReasonProviderReady, "")
	}

	e.annotateServiceAccount("exchanger", subjectAudience+",other.example.com")
	for _, name := range []string{alone, both} {
		hashes[name] = tenant.waitNewHash(name, hashes[name])
	}
	e.annotateServiceAccount("platform", assertionAudience+",https://idp.example.com/other")
	tenant.waitNewHash(both, hashes[both])
	e.g.Expect(tenant.get(alone).Status.TokenRequestHash).To(Equal(hashes[alone]), "the provider that does not use it asks for nothing")
}

// waitProviderReason waits for the Ready reason of provider name, and its
// message when message is set.
func (e *providerEnv) waitProviderReason(name, reason, message string) {
	e.t.Helper()
	e.g.Eventually(func(g Gomega) {
		c := meta.FindStatusCondition(e.providerCondition(g, name).Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(reason))
		if message != "" {
			g.Expect(c.Message).To(Equal(message))
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}
