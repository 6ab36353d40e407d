package controllers_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// The ServiceAccount tokens tokenator sends are checked the way a cloud
// identity provider checks a federated credential (Entra ID's workload
// identity federation, Keycloak's federated client authentication): the
// signature with the keys the cluster publishes (service account issuer
// discovery of the suite's kube-apiserver, which envtest starts with
// --service-account-issuer at its own URL, so /.well-known/openid-configuration
// and /openid/v1/jwks are served), then iss, sub, aud and expiry.
//
// The verification is github.com/zitadel/oidc/v3's, a certified OpenID
// provider library: op.VerifyJWTAssertion with a key set fetched from the
// API server (rp.NewRemoteKeySet) and op.SubjectCheck, its hook for
// assertions whose issuer is not the client (RFC 7523 client authentication
// otherwise wants iss = sub = client_id, which a ServiceAccount token never
// has). github.com/ory/fosite was set aside: its jwt-bearer client
// authentication insists on iss = sub = client_id with no hook, and its RFC
// 7523 trusted-issuer support is for the jwt-bearer grant, not for client
// authentication.

// clusterIssuer is the suite's service account issuer discovery.
type clusterIssuer struct {
	issuer string
	keys   oidc.KeySet
}

var (
	issuerOnce sync.Once
	issuerVal  *clusterIssuer
	issuerErr  error
)

// kubeIssuer reads the suite's API server's issuer discovery document, and
// returns its issuer and a key set that fetches its JWKS, both through the
// API server with the suite's credentials.
func kubeIssuer(t testing.TB) *clusterIssuer {
	t.Helper()
	requireControlPlane(t)
	issuerOnce.Do(func() {
		httpClient, err := rest.HTTPClientFor(restConfig)
		if err != nil {
			issuerErr = err
			return
		}
		resp, err := httpClient.Get(strings.TrimRight(restConfig.Host, "/") + "/.well-known/openid-configuration")
		if err != nil {
			issuerErr = err
			return
		}
		defer func() { _ = resp.Body.Close() }()
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
			issuerErr = fmt.Errorf("service account issuer discovery: HTTP %d, %v", resp.StatusCode, err)
			return
		}
		if doc.Issuer == "" || !strings.HasPrefix(doc.JWKSURI, "https://127.0.0.1:") || !strings.HasSuffix(doc.JWKSURI, "/openid/v1/jwks") {
			issuerErr = fmt.Errorf("service account issuer discovery: unexpected document %+v", doc)
			return
		}
		issuerVal = &clusterIssuer{issuer: doc.Issuer, keys: rp.NewRemoteKeySet(httpClient, doc.JWKSURI)}
	})
	if issuerErr != nil {
		t.Fatal(issuerErr)
	}
	return issuerVal
}

// federatedCredential is what an identity provider registers for a client
// that authenticates with a ServiceAccount token: the token's issuer, subject
// and audience.
type federatedCredential struct {
	issuer, subject, audience string
}

// verify checks a ServiceAccount token against fc, as of now + ahead (an
// identity provider whose clock is ahead sees the token older).
func (fc federatedCredential) verify(ctx context.Context, keys oidc.KeySet, assertion string, ahead time.Duration) error {
	v := op.NewJWTProfileVerifierKeySet(keys, fc.audience, time.Hour, ahead,
		op.SubjectCheck(func(req *oidc.JWTTokenRequest) error {
			if req.Issuer != fc.issuer {
				return fmt.Errorf("iss %q is not the federated issuer", req.Issuer)
			}
			if req.Subject != fc.subject {
				return fmt.Errorf("sub %q is not the federated subject", req.Subject)
			}
			return nil
		}))
	_, err := op.VerifyJWTAssertion(ctx, assertion, v)
	return err
}

// assertionVerifier is an oauthtest.AssertionVerifier for the client id
// *clientID whose federated credential is *fc (read at each request, so that
// a test sets them once its namespace exists).
func assertionVerifier(keys oidc.KeySet, clientID *string, fc *federatedCredential) oauthtest.AssertionVerifier {
	return func(id, assertion string) error {
		recordAssertion(assertion)
		if id != *clientID {
			return errors.New("unknown client")
		}
		return fc.verify(context.Background(), keys, assertion, 0)
	}
}

// recordAssertion adds a ServiceAccount token an endpoint received to what
// the leak scan looks for.
func recordAssertion(assertion string) {
	if assertion == "" {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	if !slices.Contains(secretsSeen, assertion) {
		secretsSeen = append(secretsSeen, assertion)
	}
}

// federationServer is an OAuth 2.0 token endpoint served by zitadel/oidc's op
// package (op.RegisterServer: its form parsing, its refusal of more than one
// client authentication method, its grant dispatch and error answers), whose
// clients authenticate with a federated ServiceAccount token verified by
// op.VerifyJWTAssertion. It imitates Entra ID or Keycloak through the token
// path and the audience it registers.
type federationServer struct {
	op.UnimplementedServer
	keys oidc.KeySet
	ts   *httptest.Server
	path string

	mu          sync.Mutex
	credentials map[string]federatedCredential // by client_id
	ahead       time.Duration
	issued      []string
	assertions  []string
	refusals    []string
}

// newFederationServer starts a federation server on loopback with the token
// endpoint at path.
func newFederationServer(t *testing.T, path string) *federationServer {
	t.Helper()
	s := &federationServer{keys: kubeIssuer(t).keys, path: path, credentials: map[string]federatedCredential{}}
	handler := op.RegisterServer(s, op.Endpoints{Token: op.NewEndpoint(path)})
	s.ts = httptest.NewTLSServer(handler)
	t.Cleanup(s.ts.Close)
	return s
}

// URL is the token URL.
func (s *federationServer) URL() string { return s.ts.URL + s.path }

// Register accepts clientID with a ServiceAccount token matching fc.
func (s *federationServer) Register(clientID string, fc federatedCredential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credentials[clientID] = fc
}

// SetClockAhead makes the server check expiry as of now + d.
func (s *federationServer) SetClockAhead(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ahead = d
}

// Issued, Assertions and Refusals are the tokens issued, the assertions
// received and why the refused ones were.
func (s *federationServer) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

func (s *federationServer) Assertions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.assertions)
}

func (s *federationServer) Refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refusals)
}

// VerifyClient authenticates the client of a token request: a jwt-bearer
// client assertion, verified against the client's federated credential.
func (s *federationServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	if cc.ClientAssertionType != oidc.ClientAssertionTypeJWTAssertion || cc.ClientAssertion == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("a client assertion is required")
	}
	recordAssertion(cc.ClientAssertion)
	s.mu.Lock()
	s.assertions = append(s.assertions, cc.ClientAssertion)
	fc, ok := s.credentials[cc.ClientID]
	ahead := s.ahead
	s.mu.Unlock()
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err := fc.verify(ctx, s.keys, cc.ClientAssertion, ahead); err != nil {
		s.mu.Lock()
		s.refusals = append(s.refusals, err.Error())
		s.mu.Unlock()
		return nil, oidc.ErrInvalidClient().WithDescription("the client assertion was refused")
	}
	return federatedClient(cc.ClientID), nil
}

// ClientCredentialsExchange issues an opaque access token.
func (s *federationServer) ClientCredentialsExchange(_ context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	token := oauthtest.RandomToken()
	s.mu.Lock()
	s.issued = append(s.issued, token)
	s.mu.Unlock()
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, token)
	secretsMu.Unlock()
	return op.NewResponse(&oidc.AccessTokenResponse{AccessToken: token, TokenType: oidc.BearerToken,
		ExpiresIn: 3600, Scope: r.Data.Scope}), nil
}

// federatedClient is a confidential client of the client_credentials grant
// that authenticates with a JWT assertion.
type federatedClient string

func (c federatedClient) GetID() string                      { return string(c) }
func (federatedClient) RedirectURIs() []string               { return nil }
func (federatedClient) PostLogoutRedirectURIs() []string     { return nil }
func (federatedClient) ApplicationType() op.ApplicationType  { return op.ApplicationTypeWeb }
func (federatedClient) AuthMethod() oidc.AuthMethod          { return oidc.AuthMethodPrivateKeyJWT }
func (federatedClient) ResponseTypes() []oidc.ResponseType   { return nil }
func (federatedClient) LoginURL(string) string               { return "" }
func (federatedClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (federatedClient) IDTokenLifetime() time.Duration       { return 0 }
func (federatedClient) DevMode() bool                        { return false }
func (federatedClient) IsScopeAllowed(string) bool           { return true }
func (federatedClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (federatedClient) ClockSkew() time.Duration             { return 0 }
func (federatedClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (federatedClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (federatedClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// tokenRequestCounter counts the TokenRequests (serviceaccounts/token
// creates) a manager sends to the API server.
type tokenRequestCounter struct{ n atomic.Int64 }

func (c *tokenRequestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/serviceaccounts/") && strings.HasSuffix(r.URL.Path, "/token") {
			c.n.Add(1)
		}
		return rt.RoundTrip(r)
	})
}

func (c *tokenRequestCounter) count() int { return int(c.n.Load()) }

// caPEM is the PEM certificate of the federation server, to trust it.
func (s *federationServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// fedClient is a serviceAccountToken OAuthClient of fed, for clientID.
func (e *testEnv) fedClient(fed *federationServer, name, clientID, sa, audience string) *tokenatorv1.OAuthClient {
	oc := e.saClient(name, sa, audience)
	oc.Spec.TokenURL = fed.URL()
	oc.Spec.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "fed-ca"}}
	oc.Spec.ClientID = clientID
	return oc
}

// End to end against an authorization server this project did not write
// (zitadel/oidc's op package, see federationServer), which verifies the
// ServiceAccount token with the keys the suite's kube-apiserver publishes and
// checks iss, sub, aud and expiry as Entra ID does with a federated
// credential. It issues a token to the client whose ServiceAccount, issuer
// and audience match, and refuses a token for another audience and an
// expired one (its clock 11 minutes ahead: the 10-minute token is past its
// exp for it). A ServiceAccount that did not opt in gets no token at all, so
// the server receives nothing from it.
func TestServiceAccountTokenFederation(t *testing.T) {
	t.Parallel()
	const aud = "api://AzureADTokenExchange"
	k := kubeIssuer(t)
	fed := newFederationServer(t, "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token")
	late := newFederationServer(t, "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token")
	late.SetClockAhead(11 * time.Minute)
	requests := &tokenRequestCounter{}
	e := newEnvWrapped(t, oauthtest.Config{Kind: oauthtest.RFC6749}, nil, requests.wrap)
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fed-ca"},
		Data: map[string][]byte{"ca.crt": append(fed.caPEM(), late.caPEM()...)}})
	subject := func(sa string) string { return "system:serviceaccount:" + e.ns + ":" + sa }

	e.serviceAccount("orders", aud)
	e.serviceAccount("reports", aud+", api://reports")
	e.serviceAccount("billing", "")
	fed.Register("orders-app", federatedCredential{issuer: k.issuer, subject: subject("orders"), audience: aud})
	fed.Register("reports-app", federatedCredential{issuer: k.issuer, subject: subject("reports"), audience: aud})
	fed.Register("billing-app", federatedCredential{issuer: k.issuer, subject: subject("billing"), audience: aud})
	late.Register("orders-app", federatedCredential{issuer: k.issuer, subject: subject("orders"), audience: aud})

	e.create(e.fedClient(fed, "orders", "orders-app", "orders", aud))
	e.create(e.fedClient(fed, "reports", "reports-app", "reports", "api://reports"))
	e.create(e.fedClient(fed, "billing", "billing-app", "billing", aud))
	e.create(e.fedClient(late, "late", "orders-app", "orders", aud))

	oc := e.waitReady("orders")
	e.g.Expect(fed.Issued()).To(ContainElement(e.token(oc.Status.SecretName)))

	oc = e.waitReason("reports", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(oc)).To(ContainSubstring("invalid_client"))
	e.g.Expect(fed.Refusals()).To(ContainElement(ContainSubstring(oidc.ErrAudience.Error())))

	oc = e.waitReason("late", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(oc)).To(ContainSubstring("invalid_client"))
	e.g.Expect(late.Refusals()).To(ContainElement(ContainSubstring(oidc.ErrExpired.Error())))
	e.g.Expect(late.Issued()).To(BeEmpty())

	e.waitReason("billing", tokenatorv1.ReasonInvalidSpec)
	for _, a := range fed.Assertions() {
		e.g.Expect(jwtClaims(t, a)["sub"]).NotTo(Equal(subject("billing")))
	}
	// orders and late share a ServiceAccount and audience: one token, reused.
	e.g.Expect(requests.count()).To(Equal(2))
}
