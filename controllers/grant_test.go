package controllers_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/netguard/netguardtest"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

const (
	googleSA    = "reader@tokenator-test.iam.gserviceaccount.com"
	googleScope = "https://www.googleapis.com/auth/devstorage.read_only"
)

// googleKey registers a new service account key with the test's Google
// endpoint and returns the JSON key file Google hands out for it, its PEM
// lines registered with the leak scan.
func (e *testEnv) googleKey(keyID string) []byte {
	return e.googleKeyFor(keyID, e.idp.URL())
}

// googleKeyFor is googleKey with the token_uri tokenURI.
func (e *testEnv) googleKeyFor(keyID, tokenURI string) []byte {
	key := oauthtest.NewClientKey(oauthtest.RSA2048).(*rsa.PrivateKey)
	keyMaterial(oauthtest.PrivateKeyPEM(key))
	e.idp.SetServiceAccountKey(oauthtest.ServiceAccountKey{Email: googleSA, KeyID: keyID, Key: key.Public()})
	return oauthtest.ServiceAccountKeyFile(googleSA, keyID, tokenURI, key)
}

// googleClient is an OAuthClient of the google preset, whose token URL is
// the test's endpoint, with the key file of Secret "google-sa".
func (e *testEnv) googleClient(name string) *tokenatorv1.OAuthClient {
	oc := e.oauthClient(name)
	oc.Spec.Provider = tokenatorv1.ProviderGoogle
	oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "google-sa", ServiceAccountKeyKey: "credentials.json"}
	oc.Spec.Scopes = []string{googleScope}
	return oc
}

// jwtHeader decodes the header of a JWT.
func jwtHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	return jwtPart(t, jwt, 0)
}

// A Google service account JSON key, through the google preset, against an
// endpoint that checks what Google documents: the token is issued for a
// form-encoded jwt-bearer request with nothing but grant_type and assertion;
// the assertion is RS256 with kid = private_key_id, iss = client_email, the
// scopes as a claim, aud = the token URL and an hour of life. A key Google
// does not know (a deleted key) fails with Google's invalid_grant, the
// Secret keeping its token; the key rotated back works at once. A change of
// jwtBearer asks for a new token.
func TestJWTBearerGoogleServiceAccountKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Google})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "google-sa"}, Data: map[string][]byte{"credentials.json": e.googleKey("key-1")}})
	e.create(e.googleClient("gcs"))
	oc := e.waitReady("gcs")
	first := e.token(oc.Status.SecretName)
	e.g.Expect(e.issuedToken(first)).To(BeTrue())
	e.g.Expect(oc.Status.ExpiresAt.Sub(oc.Status.LastRefreshTime.Time)).To(Equal(3599 * time.Second))

	last := e.idp.LastRequest()
	e.g.Expect(last.ContentType).To(Equal("application/x-www-form-urlencoded"))
	e.g.Expect(last.Params).To(HaveLen(2))
	e.g.Expect(last.Params).To(HaveKeyWithValue("grant_type", string(oauth.GrantJWTBearer)))
	e.g.Expect(last.BasicAuth).To(BeFalse())
	header, claims := jwtHeader(t, last.Params["assertion"]), jwtClaims(t, last.Params["assertion"])
	e.g.Expect(header).To(And(HaveKeyWithValue("alg", "RS256"), HaveKeyWithValue("kid", "key-1"), HaveKeyWithValue("typ", "JWT")))
	e.g.Expect(claims).To(And(HaveKeyWithValue("iss", googleSA), HaveKeyWithValue("scope", googleScope), HaveKeyWithValue("aud", e.idp.URL())))
	e.g.Expect(claims).NotTo(HaveKey("sub"))
	e.g.Expect(claims["exp"].(float64) - claims["iat"].(float64)).To(BeNumerically("==", 3600))

	// The key is deleted at Google and replaced in the Secret by one
	// Google does not know: invalid_grant, the token kept.
	e.idp.SetServiceAccountKey(oauthtest.ServiceAccountKey{KeyID: "key-1"})
	unknown := oauthtest.NewClientKey(oauthtest.RSA2048).(*rsa.PrivateKey)
	keyMaterial(oauthtest.PrivateKeyPEM(unknown))
	e.updateSecret("google-sa", "credentials.json", oauthtest.ServiceAccountKeyFile(googleSA, "key-1", e.idp.URL(), unknown))
	failed := e.waitReason("gcs", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(failed)).To(ContainSubstring("invalid_grant"))
	e.g.Expect(readyMessage(failed)).To(ContainSubstring("Invalid JWT Signature."))
	e.g.Expect(e.token(oc.Status.SecretName)).To(Equal(first), "the Secret keeps its token")

	// A new key, known to Google.
	e.updateSecret("google-sa", "credentials.json", e.googleKey("key-2"))
	second := e.waitNewToken(oc.Status.SecretName, first)
	e.g.Expect(jwtHeader(t, e.idp.LastRequest().Params["assertion"])).To(HaveKeyWithValue("kid", "key-2"))

	// Domain-wide delegation: a subject, asked for with a new token.
	e.update("gcs", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.JWTBearer = &tokenatorv1.JWTBearer{Subject: "admin@example.com", Lifetime: &metav1.Duration{Duration: 30 * time.Minute}}
	})
	e.waitNewToken(oc.Status.SecretName, second)
	claims = jwtClaims(t, e.idp.LastRequest().Params["assertion"])
	e.g.Expect(claims).To(HaveKeyWithValue("sub", "admin@example.com"))
	e.g.Expect(claims["exp"].(float64) - claims["iat"].(float64)).To(BeNumerically("==", 1800))
}

// updateSecret sets key of Secret name to value.
func (e *testEnv) updateSecret(name, key string, value []byte) {
	e.t.Helper()
	e.g.Eventually(func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, s); err != nil {
			return err
		}
		s.Data[key] = value
		return k8s.Update(e.ctx, s)
	}).WithTimeout(timeout).Should(Succeed())
}

// What cannot be sent is InvalidSpec naming the field, with no request: a
// file that is not a service account key (a user's credentials), and the
// scopes in the body, which Google refuses (invalid_scope, reported as a
// failed request).
func TestJWTBearerKeyFileRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Google})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "google-sa"}, Data: map[string][]byte{
		"credentials.json": []byte(`{"type":"authorized_user","client_id":"x","client_secret":"` + longSecret() + `","refresh_token":"r"}`)}})
	e.create(e.googleClient("user"))
	oc := e.waitReason("user", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(oc)).To(Equal(`spec.credentialsSecretRef.serviceAccountKeyKey "credentials.json" of Secret "google-sa": ` +
		"the key file's type is not service_account (a user or external account file cannot sign); " + "no token has been issued yet"))
	e.g.Expect(e.idp.Requests()).To(Equal(0))

	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "google-sa-2"}, Data: map[string][]byte{"credentials.json": e.googleKey("key-1")}})
	body := e.googleClient("body")
	body.Spec.CredentialsSecretRef.Name = "google-sa-2"
	body.Spec.JWTBearer = &tokenatorv1.JWTBearer{ScopeIn: tokenatorv1.ScopeInBody}
	e.create(body)
	oc = e.waitReason("body", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(oc)).To(ContainSubstring("invalid_scope"))
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("scope", googleScope))
}

// keyFileClient is a google preset OAuthClient without spec.tokenURL whose
// key file, in a Secret of its own, has the token_uri tokenURI.
func (e *testEnv) keyFileClient(name, tokenURI string) *tokenatorv1.OAuthClient {
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-sa"}, Data: map[string][]byte{"credentials.json": e.googleKeyFor(name, tokenURI)}})
	oc := e.googleClient(name)
	oc.Spec.TokenURL = ""
	oc.Spec.CredentialsSecretRef.Name = name + "-sa"
	return oc
}

// The token_uri of a key file is the token URL while spec.tokenURL is unset:
// the request goes there, its assertion's aud is that URL. Its host is held
// to --allowed-token-hosts like a spec's tokenURL: one not allowed, or a
// token_uri that is not https, is InvalidSpec naming the key file, and
// nothing is sent. spec.tokenURL, when set, wins over the token_uri.
func TestJWTBearerKeyFileTokenURI(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.Google}, func(c *operator.Config) {
		c.AllowedTokenHosts = []string{"oauth2.googleapis.com", "127.0.0.1"}
	})
	e.create(e.keyFileClient("uri", e.idp.URL()))
	oc := e.waitReady("uri")
	e.g.Expect(e.issuedToken(e.token(oc.Status.SecretName))).To(BeTrue())
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	e.g.Expect(jwtClaims(t, e.idp.LastRequest().Params["assertion"])).To(HaveKeyWithValue("aud", e.idp.URL()))

	wins := e.keyFileClient("wins", "https://oauth2.example.net/token")
	wins.Spec.TokenURL = e.idp.URL()
	e.create(wins)
	e.waitReady("wins")
	e.g.Expect(jwtClaims(t, e.idp.LastRequest().Params["assertion"])).To(HaveKeyWithValue("aud", e.idp.URL()))
	requests := e.idp.Requests()

	field := func(name string) string {
		return `spec.credentialsSecretRef.serviceAccountKeyKey "credentials.json" of Secret "` + name + `-sa": `
	}
	e.create(e.keyFileClient("denied", "https://oauth2.example.net/token"))
	denied := e.waitReason("denied", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(denied)).To(HavePrefix(field("denied") + "the key file's token_uri, the token URL while spec.tokenURL is unset: " +
		`host "oauth2.example.net" is not in the operator's --allowed-token-hosts (oauth2.googleapis.com,127.0.0.1)`))
	e.create(e.keyFileClient("http", "http://127.0.0.1/token"))
	plain := e.waitReason("http", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(plain)).To(HavePrefix(field("http") + "the key file's token_uri is not an absolute https URL"))
	e.g.Consistently(e.idp.Requests).WithTimeout(time.Second).Should(Equal(requests))
}

// A key file's token_uri that resolves to a private address is refused at
// connect time, as an OAuthClient's own tokenURL is, and nothing is dialed.
func TestJWTBearerKeyFileTokenURIPrivate(t *testing.T) {
	t.Parallel()
	var rec *netguardtest.Recorder
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.Google}, func(c *operator.Config) {
		_, rec = privateNetworkDialer(c)
	})
	e.create(e.keyFileClient("private", privateTokenURL))
	oc := e.waitReason("private", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(oc)).To(ContainSubstring(privateRefusal))
	e.g.Expect(rec.Dialed()).To(BeEmpty())
	e.g.Expect(e.idp.Requests()).To(BeZero())
}

// tokenExchangeEnv is an endpoint that accepts the token exchange of a
// token of ServiceAccount sa for audience, verified with the cluster's keys,
// from its client authenticated with client_secret_basic.
func tokenExchangeEnv(t *testing.T, sa, audience string) *saEnv {
	t.Helper()
	k := kubeIssuer(t)
	fc := &federatedCredential{issuer: k.issuer, audience: audience}
	s := &saEnv{fc: fc, requests: &tokenRequestCounter{}}
	s.testEnv = newEnvWrapped(t, oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "basic", VerifySubjectToken: func(tok string) error {
		recordAssertion(tok)
		return fc.verify(context.Background(), k.keys, tok, 0)
	}}, nil, s.requests.wrap)
	fc.subject = "system:serviceaccount:" + s.ns + ":" + sa
	return s
}

// The token exchange of a ServiceAccount token, with client_secret_basic:
// subject_token is the ServiceAccount's token for the audience it opted in
// to, of type jwt, requested_token_type access_token, with the audience and
// resource asked. A subject token for an audience the ServiceAccount did not
// list is InvalidSpec, with no TokenRequest and no request sent.
func TestTokenExchangeGrant(t *testing.T) {
	t.Parallel()
	const audience = "sts.example.com"
	e := tokenExchangeEnv(t, "ci-bot", audience)
	e.serviceAccount("ci-bot", audience)
	exchange := func(name, subjectAudience string) *tokenatorv1.OAuthClient {
		oc := e.oauthClient(name)
		oc.Spec.Grant = tokenatorv1.GrantTokenExchange
		oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationBasic
		oc.Spec.TokenExchange = &tokenatorv1.TokenExchange{ServiceAccountName: "ci-bot", SubjectTokenAudience: subjectAudience,
			Resource: "https://api.example.com/v1"}
		oc.Spec.Audience = "https://api.example.com"
		oc.Spec.Scopes = []string{"read"}
		return oc
	}
	e.create(exchange("x", audience))
	oc := e.waitReady("x")
	e.g.Expect(e.issuedToken(e.token(oc.Status.SecretName))).To(BeTrue())
	last := e.idp.LastRequest()
	e.g.Expect(last.BasicAuth).To(BeTrue())
	e.g.Expect(last.Params).To(And(HaveKeyWithValue("grant_type", string(oauth.GrantTokenExchange)),
		HaveKeyWithValue("subject_token_type", oauth.TokenTypeJWT), HaveKeyWithValue("requested_token_type", oauth.TokenTypeAccessToken),
		HaveKeyWithValue("audience", "https://api.example.com"), HaveKeyWithValue("resource", "https://api.example.com/v1"),
		HaveKeyWithValue("scope", "read")))
	claims := jwtClaims(t, last.Params["subject_token"])
	e.g.Expect(claims).To(HaveKeyWithValue("sub", "system:serviceaccount:"+e.ns+":ci-bot"))
	e.g.Expect(claims).To(HaveKeyWithValue("aud", ConsistOf(audience)))
	e.g.Expect(e.requests.count()).To(Equal(1))

	requests := e.idp.Requests()
	e.create(exchange("other", "other.example.com"))
	refused := e.waitReason("other", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(refused)).To(HavePrefix(`spec.tokenExchange.subjectTokenAudience: ServiceAccount "ci-bot" does not list "other.example.com" in its tokenator.dev/token-audiences annotation`))
	e.g.Consistently(e.idp.Requests).WithTimeout(time.Second).Should(Equal(requests))
	e.g.Expect(e.requests.count()).To(Equal(1), "no TokenRequest for an audience not opted in to")

	// Opting in to the audience lets it through within seconds (to an
	// endpoint that trusts only the first audience).
	e.annotateServiceAccount("ci-bot", audience+",other.example.com")
	failed := e.waitReason("other", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(failed)).To(ContainSubstring("invalid_grant"))
	// One TokenRequest for each client: the changed opt-in asks for a new
	// token of "x" too.
	e.g.Eventually(e.requests.count).WithTimeout(timeout).Should(Equal(3))
	var auds []any
	for _, a := range e.idp.Assertions() {
		auds = append(auds, jwtClaims(t, a)["aud"])
	}
	e.g.Expect(auds).To(ContainElement(ConsistOf("other.example.com")), "a subject token for the audience opted in to was sent")
}

// A ClusterOAuthProvider of the google preset with a central key file: two
// tenants asking for the same scope share one token (one request), the
// scope going in the assertion; a scope outside allowedScopes is
// ProviderRefused and sends nothing, though it would only have gone in the
// assertion.
func TestJWTBearerProviderSharedAndAllowlist(t *testing.T) {
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.Google}, 2, nil)
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "google-sa"}, Data: map[string][]byte{"credentials.json": e.googleKey("key-1")}})
	name := randomString("p-")
	p := e.provider(name)
	p.Spec.Provider = tokenatorv1.ProviderGoogle
	p.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "google-sa", ServiceAccountKeyKey: "credentials.json"}
	p.Spec.AllowedScopes = []string{"https://www.googleapis.com/auth/devstorage.*"}
	e.createProvider(p)
	a, b := e.tenant(0), e.tenant(1)
	for _, tenant := range []*testEnv{a, b} {
		e.label(tenant.ns, allowLabel(name), "allowed")
		tenant.create(providerClient("gcs", name, googleScope))
	}
	ta, tb := a.waitReady("gcs"), b.waitReady("gcs")
	e.g.Expect(ta.Status.TokenSource).To(Equal(tokenatorv1.TokenSourceShared))
	e.g.Expect(a.token(ta.Status.SecretName)).To(Equal(b.token(tb.Status.SecretName)))
	e.g.Expect(e.idp.Requests()).To(Equal(1))
	e.g.Expect(jwtClaims(t, e.idp.LastRequest().Params["assertion"])).To(HaveKeyWithValue("scope", googleScope))

	a.create(providerClient("admin", name, "https://www.googleapis.com/auth/cloud-platform"))
	refused := a.waitReason("admin", tokenatorv1.ReasonProviderRefused)
	e.g.Expect(readyMessage(refused)).To(ContainSubstring(`does not allow scope "https://www.googleapis.com/auth/cloud-platform"`))
	e.g.Consistently(e.idp.Requests).WithTimeout(time.Second).Should(Equal(1))
}

// docServiceAccountKey replaces the placeholder key file of a page's
// credentials Secret by a key file of a new key, with the page's
// client_email, private_key_id and token_uri, and returns the key for the
// Google endpoint.
func docServiceAccountKey(g Gomega, page string, creds *corev1.Secret, ref *tokenatorv1.CredentialsSecretReference) oauthtest.ServiceAccountKey {
	keyKey := defaultKey(ref.ServiceAccountKeyKey, tokenatorv1.DefaultServiceAccountKeyKey)
	var file struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		TokenURI     string `json:"token_uri"`
	}
	g.Expect(json.Unmarshal([]byte(credentialValue(creds, keyKey)), &file)).To(Succeed(), "%s: the key file under %q is JSON", page, keyKey)
	g.Expect(file.Type).To(Equal("service_account"), page)
	g.Expect(file.PrivateKey).To(ContainSubstring("PRIVATE KEY-----"), "%s: the key file has a private_key", page)
	key := oauthtest.NewClientKey(oauthtest.RSA2048).(*rsa.PrivateKey)
	keyMaterial(oauthtest.PrivateKeyPEM(key))
	delete(creds.StringData, keyKey)
	if creds.Data == nil {
		creds.Data = map[string][]byte{}
	}
	creds.Data[keyKey] = oauthtest.ServiceAccountKeyFile(file.ClientEmail, file.PrivateKeyID, file.TokenURI, key)
	return oauthtest.ServiceAccountKey{Email: file.ClientEmail, KeyID: file.PrivateKeyID, Key: key.Public()}
}
