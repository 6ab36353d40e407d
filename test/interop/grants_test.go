package interop_test

// The jwt-bearer and token exchange grants against op's server: op parses
// the request and dispatches on grant_type (urn:ietf:params:oauth:grant-type:jwt-bearer
// goes to its JWT profile handler, which takes no client authentication;
// token-exchange goes through its client verification and its check of the
// token types), and op's JWT profile verifier checks the assertion (the
// signature with the key found by kid and iss, aud = the issuer, exp, iat at
// most an hour old). The subject token of the exchange stands for a
// ServiceAccount token: a JWT of another issuer, verified by the same
// verifier with that issuer's key set.

import (
	"context"
	"crypto"
	"crypto/subtle"
	"errors"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// Integration users of the jwt-bearer tests: a ZITADEL service user signs
// with iss = sub; a Salesforce-style integration names the user in sub.
const (
	serviceUser     = "service-user"
	integrationKey  = "3MVG9-integration"
	integrationUser = "integration@example.com"
	clusterIssuer   = "https://kubernetes.default.svc.cluster.local"
	stsAudience     = "sts.example.com"
	workload        = "system:serviceaccount:ci:ci-bot"
)

// verifySecret checks the client secret of a client_secret_basic or
// client_secret_post client, and that a public client sends none.
func verifySecret(c *opClient, secret string) (op.Client, error) {
	if c.method == oidc.AuthMethodNone {
		if secret != "" {
			return nil, oidc.ErrInvalidClient()
		}
		return c, nil
	}
	if secret == "" || subtle.ConstantTimeCompare(c.secret, []byte(secret)) != 1 {
		return nil, oidc.ErrInvalidClient()
	}
	return c, nil
}

// JWTProfile is the JWT bearer grant (RFC 7523 section 2.1): op's verifier
// checks the assertion; iss names a registered key, sub is iss (a ZITADEL
// service user) or the integration user of that key.
func (s *opServer) JWTProfile(ctx context.Context, r *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	v := op.NewJWTProfileVerifier(s, s.issuer, time.Hour, 0, op.SubjectCheck(func(req *oidc.JWTTokenRequest) error {
		if req.Subject == req.Issuer || (req.Issuer == integrationKey && req.Subject == integrationUser) {
			return nil
		}
		return oidc.ErrSubjectInvalid
	}))
	if _, err := op.VerifyJWTAssertion(ctx, r.Data.Assertion, v); err != nil {
		return nil, oidc.ErrInvalidGrant().WithParent(err)
	}
	if !slices.Contains(r.Data.Scope, "api") {
		return nil, oidc.ErrInvalidScope().WithDescription("scope api is required")
	}
	s.countIssued()
	return op.NewResponse(&oidc.AccessTokenResponse{AccessToken: oauthtest.RandomToken(), TokenType: oidc.BearerToken, ExpiresIn: 3600}), nil
}

// staticKeySet is the key set of the cluster issuer of subject tokens.
type staticKeySet struct{ key crypto.PublicKey }

func (k staticKeySet) VerifySignature(_ context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	return jws.Verify(k.key)
}

// TokenExchange exchanges a subject token of the cluster issuer, for
// stsAudience, of the workload.
func (s *opServer) TokenExchange(ctx context.Context, r *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	if r.Data.SubjectTokenType != oidc.JWTTokenType {
		return nil, oidc.ErrInvalidRequest().WithDescription("subject_token_type must be jwt")
	}
	v := op.NewJWTProfileVerifierKeySet(staticKeySet{s.subjectKey}, stsAudience, time.Hour, 0, op.SubjectCheck(func(req *oidc.JWTTokenRequest) error {
		if req.Issuer != clusterIssuer || req.Subject != workload {
			return oidc.ErrSubjectInvalid
		}
		return nil
	}))
	if _, err := op.VerifyJWTAssertion(ctx, r.Data.SubjectToken, v); err != nil {
		return nil, oidc.ErrInvalidGrant().WithParent(err)
	}
	s.countIssued()
	s.mu.Lock()
	s.lastExchange = r.Data
	s.mu.Unlock()
	return op.NewResponse(&oidc.TokenExchangeResponse{AccessToken: oauthtest.RandomToken(), IssuedTokenType: oidc.AccessTokenType,
		TokenType: oidc.BearerToken, ExpiresIn: 3600}), nil
}

func (s *opServer) countIssued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued++
}

func expectGrantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var re *oauth.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("%s: %v, want invalid_grant", what, err)
	}
}

func TestJWTBearerGrantWithZitadelOP(t *testing.T) {
	userKey, integration, wrongKey := oauthtest.NewClientKey(oauthtest.RSA2048), oauthtest.NewClientKey(oauthtest.P256), oauthtest.NewClientKey(oauthtest.RSA2048)
	s := &opServer{clients: map[string]*opClient{
		serviceUser:    {id: serviceUser, method: oidc.AuthMethodPrivateKeyJWT, key: &jose.JSONWebKey{Key: userKey.Public(), KeyID: "user-key-1"}},
		integrationKey: {id: integrationKey, method: oidc.AuthMethodPrivateKeyJWT, key: &jose.JSONWebKey{Key: integration.Public(), KeyID: thumbprint(t, integration.Public())}},
	}}
	tokenURL, caPEM := startOP(t, s, nil)
	clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
	grant := func(cfg assertion.Config, at time.Time) oauth.Request {
		return oauth.Request{TokenURL: tokenURL, Grant: oauth.GrantJWTBearer, ClientAuth: oauth.ClientAuthNone,
			Assertion: sign(t, cfg, at), Scopes: []string{"api"}}
	}
	// As the controller signs it: iss the issuer, sub when set, aud (the
	// issuer, as ZITADEL wants), a kid, the lifetime.
	good := map[string]assertion.Config{
		"service user, iss = sub": {Issuer: serviceUser, Subject: serviceUser, Audience: s.issuer, Key: userKey, KeyID: "user-key-1", Lifetime: time.Hour},
		"integration user in sub": {Issuer: integrationKey, Subject: integrationUser, Audience: s.issuer, Key: integration, Lifetime: 5 * time.Minute},
	}
	for name, cfg := range good {
		tok, err := requestToken(t, clients, caPEM, nil, grant(cfg, time.Now()))
		if err != nil || tok.TokenType != "Bearer" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	refused := map[string]assertion.Config{
		"wrong key":       {Issuer: serviceUser, Subject: serviceUser, Audience: s.issuer, Key: wrongKey, KeyID: "user-key-1"},
		"unknown key id":  {Issuer: serviceUser, Subject: serviceUser, Audience: s.issuer, Key: userKey},
		"wrong audience":  {Issuer: serviceUser, Subject: serviceUser, Audience: tokenURL + "/other", Key: userKey, KeyID: "user-key-1"},
		"another subject": {Issuer: integrationKey, Subject: "someone@example.com", Audience: s.issuer, Key: integration},
	}
	for name, cfg := range refused {
		_, err := requestToken(t, clients, caPEM, nil, grant(cfg, time.Now()))
		expectGrantRefused(t, name, err)
	}
	// An assertion signed by a clock ten minutes behind, of five minutes: expired.
	expired := good["integration user in sub"]
	_, err := requestToken(t, clients, caPEM, nil, grant(expired, time.Now().Add(-10*time.Minute)))
	expectGrantRefused(t, "expired", err)
	if s.issued != len(good) {
		t.Errorf("%d tokens issued, want %d", s.issued, len(good))
	}
}

func TestTokenExchangeWithZitadelOP(t *testing.T) {
	clusterKey, otherCluster := oauthtest.NewClientKey(oauthtest.RSA2048), oauthtest.NewClientKey(oauthtest.RSA2048)
	exchange := []oidc.GrantType{oidc.GrantTypeTokenExchange}
	s := &opServer{subjectKey: clusterKey.Public(), clients: map[string]*opClient{
		"confidential": {id: "confidential", method: oidc.AuthMethodBasic, secret: []byte("exchange-secret-1"), grants: exchange},
		"public":       {id: "public", method: oidc.AuthMethodNone, grants: exchange},
		"cc-only":      {id: "cc-only", method: oidc.AuthMethodBasic, secret: []byte("cc-secret-1")},
	}}
	tokenURL, caPEM := startOP(t, s, nil)
	clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
	// A ServiceAccount token as the API server makes it: iss the cluster,
	// sub the ServiceAccount, aud as asked.
	subject := func(key crypto.Signer, audience, sub string) string {
		return sign(t, assertion.Config{Issuer: clusterIssuer, Subject: sub, Audience: audience, Key: key, Lifetime: 10 * time.Minute}, time.Now())
	}
	req := func(clientAuth oauth.ClientAuthentication, id, secret, subjectToken string) oauth.Request {
		return oauth.Request{TokenURL: tokenURL, Grant: oauth.GrantTokenExchange, ClientAuth: clientAuth, ClientID: id, ClientSecret: secret,
			SubjectToken: subjectToken, SubjectTokenType: oauth.TokenTypeJWT, RequestedTokenType: oauth.TokenTypeAccessToken,
			Audience: "https://api.example.com", Resource: "https://api.example.com/v1", Scopes: []string{"read"}}
	}
	good := subject(clusterKey, stsAudience, workload)
	for _, r := range []oauth.Request{
		req(oauth.ClientAuthBasic, "confidential", "exchange-secret-1", good),
		req(oauth.ClientAuthNone, "public", "", good),
	} {
		tok, err := requestToken(t, clients, caPEM, nil, r)
		if err != nil || tok.TokenType != "Bearer" {
			t.Fatalf("%s: %v", r.ClientAuth, err)
		}
	}
	got := s.lastExchange
	if !slices.Equal(got.Audience, []string{"https://api.example.com"}) || !slices.Equal(got.Resource, []string{"https://api.example.com/v1"}) ||
		got.RequestedTokenType != oidc.AccessTokenType || !slices.Equal(got.Scopes, []string{"read"}) {
		t.Errorf("op read %+v", got)
	}
	refused := map[string]string{
		"another audience (not opted in)": subject(clusterKey, "other.example.com", workload),
		"another ServiceAccount":          subject(clusterKey, stsAudience, "system:serviceaccount:ci:other"),
		"another cluster's key":           subject(otherCluster, stsAudience, workload),
	}
	for name, tok := range refused {
		_, err := requestToken(t, clients, caPEM, nil, req(oauth.ClientAuthBasic, "confidential", "exchange-secret-1", tok))
		expectGrantRefused(t, name, err)
	}
	_, err := requestToken(t, clients, caPEM, nil, req(oauth.ClientAuthBasic, "confidential", "wrong-secret", good))
	expectRefused(t, "wrong client secret", err)
	_, err = requestToken(t, clients, caPEM, nil, req(oauth.ClientAuthBasic, "cc-only", "cc-secret-1", good))
	expectRefused(t, "a client not allowed the grant", err)
	if s.issued != 2 {
		t.Errorf("%d tokens issued, want 2", s.issued)
	}
}
