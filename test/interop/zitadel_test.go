// Package interop_test runs tokenator's token requests, as the controller
// makes them (internal/assertion signs, internal/oauth sends through the
// HTTP clients of internal/oauth), against an authorization server this
// project did not write, in the test process.
//
// The server is github.com/zitadel/oidc/v3's op package, a certified OpenID
// provider library: its HTTP server parses the token request (form only, one
// client authentication method per request, the client_assertion_type), and
// its JWT profile verifier checks a private_key_jwt assertion the way ZITADEL
// does (signature with the client's key found by kid, aud = the issuer,
// exp, iat, iss = sub). It was chosen over github.com/ory/fosite because it
// is a complete OP whose server and verifier can be used as they are. Neither
// library covers everything, and the test says where it fills a gap:
//
//   - client_secret_jwt: op lists only client_secret_basic, client_secret_post,
//     none and private_key_jwt, and its verifier accepts RS256, ES256 and PS256
//     only; fosite refuses client_secret_jwt (it keeps secrets hashed). The
//     HS256/HS384/HS512 assertion is verified, inside op's server, with
//     github.com/golang-jwt/jwt/v5, a JOSE implementation independent of the
//     go-jose that signs it.
//   - tls_client_auth (RFC 8705): neither library does mutual TLS. The OP
//     serves behind Go's crypto/tls with RequireAndVerifyClientCert and the
//     client CA, as an OP's mTLS endpoint alias does, and op's client look-up
//     maps the verified certificate to the client by its subject
//     (tls_client_auth_subject_dn).
package interop_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	jwtv5 "github.com/golang-jwt/jwt/v5"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

const tokenPath = "/oauth/v2/token"

// authMethodSecretJWT is client_secret_jwt, which op does not name.
const authMethodSecretJWT oidc.AuthMethod = "client_secret_jwt"

// opClient is a registered client: its method and its credential.
type opClient struct {
	id      string
	method  oidc.AuthMethod
	key     *jose.JSONWebKey // private_key_jwt; KeyID is its RFC 7638 thumbprint
	secret  []byte           // client_secret_jwt
	subject string           // tls_client_auth: the certificate's subject common name
	// grants are the grants the client may use; nil means client_credentials.
	grants []oidc.GrantType
}

func (c *opClient) GetID() string                       { return c.id }
func (c *opClient) RedirectURIs() []string              { return nil }
func (c *opClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod         { return c.method }
func (c *opClient) ResponseTypes() []oidc.ResponseType  { return nil }
func (c *opClient) GrantTypes() []oidc.GrantType {
	if c.grants != nil {
		return c.grants
	}
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (c *opClient) LoginURL(string) string               { return "" }
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *opClient) DevMode() bool                        { return false }
func (c *opClient) IsScopeAllowed(string) bool           { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// opServer is op's Server for the client-credentials grant.
type opServer struct {
	op.UnimplementedServer
	issuer  string
	clients map[string]*opClient

	// subjectKey verifies the subject tokens of token exchanges.
	subjectKey crypto.PublicKey

	mu           sync.Mutex
	issued       int
	lastExchange *oidc.TokenExchangeRequest
}

type peerKey struct{}

// peerCertificates carries the verified TLS client chain from the
// connection to VerifyClient.
func peerCertificates(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), peerKey{}, r.TLS.VerifiedChains[0]))
		}
		next.ServeHTTP(w, r)
	})
}

// VerifyClient authenticates the client of a token request.
func (s *opServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	if cc.ClientAssertionType == oidc.ClientAssertionTypeJWTAssertion {
		var id string
		var err error
		if alg := assertionAlgorithm(cc.ClientAssertion); strings.HasPrefix(alg, "HS") {
			id, err = s.verifySecretJWT(cc.ClientAssertion)
		} else {
			id, err = op.ClientJWTAuth(ctx, oidc.ClientAssertionParams{ClientAssertion: cc.ClientAssertion, ClientAssertionType: cc.ClientAssertionType}, s)
		}
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithParent(err)
		}
		c, ok := s.clients[id]
		if !ok || (cc.ClientID != "" && cc.ClientID != id) {
			return nil, oidc.ErrInvalidClient()
		}
		return c, nil
	}
	c, ok := s.clients[cc.ClientID]
	if ok && (c.method == oidc.AuthMethodBasic || c.method == oidc.AuthMethodPost || c.method == oidc.AuthMethodNone) {
		return verifySecret(c, cc.ClientSecret)
	}
	if !ok || c.method != "tls_client_auth" || cc.ClientSecret != "" {
		return nil, oidc.ErrInvalidClient()
	}
	chain, _ := ctx.Value(peerKey{}).([]*x509.Certificate)
	if len(chain) == 0 || chain[0].Subject.CommonName != c.subject {
		return nil, oidc.ErrInvalidClient().WithDescription("no client certificate of this client")
	}
	return c, nil
}

// ClientCredentialsExchange issues an opaque token.
func (s *opServer) ClientCredentialsExchange(_ context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	s.mu.Lock()
	s.issued++
	s.mu.Unlock()
	return op.NewResponse(&oidc.AccessTokenResponse{AccessToken: oauthtest.RandomToken(), TokenType: oidc.BearerToken, ExpiresIn: 3600}), nil
}

// JWTProfileVerifier is op's verifier of client assertions: aud must name
// the issuer, iat at most an hour old.
func (s *opServer) JWTProfileVerifier(context.Context) *op.JWTProfileVerifier {
	return op.NewJWTProfileVerifier(s, s.issuer, time.Hour, 0)
}

// GetKeyByIDAndClientID is the key storage of op's verifier.
func (s *opServer) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, ok := s.clients[clientID]
	if !ok || c.method != oidc.AuthMethodPrivateKeyJWT || c.key.KeyID != keyID {
		return nil, errors.New("no such key")
	}
	return c.key, nil
}

func (s *opServer) verifySecretJWT(raw string) (string, error) {
	claims := &jwtv5.RegisteredClaims{}
	_, err := jwtv5.ParseWithClaims(raw, claims, func(t *jwtv5.Token) (any, error) {
		c, ok := s.clients[claims.Issuer]
		if !ok || c.method != authMethodSecretJWT {
			return nil, errors.New("no such client")
		}
		return c.secret, nil
	}, jwtv5.WithValidMethods([]string{"HS256", "HS384", "HS512"}), jwtv5.WithAudience(s.issuer),
		jwtv5.WithExpirationRequired(), jwtv5.WithIssuedAt())
	if err != nil {
		return "", err
	}
	if claims.Subject != claims.Issuer || claims.ID == "" {
		return "", errors.New("sub must be iss, and jti is required")
	}
	return claims.Issuer, nil
}

func assertionAlgorithm(raw string) string {
	sig, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512})
	if err != nil || len(sig.Signatures) != 1 {
		return ""
	}
	return sig.Signatures[0].Header.Algorithm
}

// startOP serves s over HTTPS on loopback; with clientCAs, every client must
// present a certificate issued by them. It returns the token URL and the
// server's CA.
func startOP(t *testing.T, s *opServer, clientCAs *x509.CertPool) (string, []byte) {
	t.Helper()
	handler := op.RegisterServer(s, op.Endpoints{Token: op.NewEndpoint(tokenPath)}, op.WithHTTPMiddleware(peerCertificates))
	ts := httptest.NewUnstartedServer(handler)
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		ts.TLS.ClientAuth, ts.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs
	}
	// Handshakes refused on purpose are not worth a log line.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	s.issuer = ts.URL
	return ts.URL + tokenPath, certPEM(ts.Certificate())
}

func certPEM(c *x509.Certificate) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(c.Raw) + "\n-----END CERTIFICATE-----\n")
}

func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// requestToken sends tokenator's token request through a client of
// oauth.HTTPClients, as the controller does.
func requestToken(t *testing.T, clients *oauth.HTTPClients, caPEM []byte, cert *tls.Certificate, req oauth.Request) (*oauth.Token, error) {
	t.Helper()
	hc, err := clients.GetWithCertificate(caPEM, cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return (&oauth.Client{HTTPClient: hc}).RequestToken(context.Background(), req)
}

func sign(t *testing.T, cfg assertion.Config, at time.Time) string {
	t.Helper()
	s, err := assertion.NewSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Sign(at)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func expectRefused(t *testing.T, what string, err error) {
	t.Helper()
	var re *oauth.ResponseError
	if !errors.As(err, &re) || (re.ErrorCode != "invalid_client" && re.ErrorCode != "unauthorized_client") {
		t.Errorf("%s: %v, want invalid_client or unauthorized_client", what, err)
	}
}

func TestPrivateKeyJWTWithZitadelOP(t *testing.T) {
	rsaKey, ecKey, wrongKey := oauthtest.NewClientKey(oauthtest.RSA2048), oauthtest.NewClientKey(oauthtest.P256), oauthtest.NewClientKey(oauthtest.RSA2048)
	s := &opServer{clients: map[string]*opClient{
		"rsa-client": {id: "rsa-client", method: oidc.AuthMethodPrivateKeyJWT, key: &jose.JSONWebKey{Key: rsaKey.Public(), KeyID: thumbprint(t, rsaKey.Public())}},
		"ec-client":  {id: "ec-client", method: oidc.AuthMethodPrivateKeyJWT, key: &jose.JSONWebKey{Key: ecKey.Public(), KeyID: thumbprint(t, ecKey.Public())}},
	}}
	tokenURL, caPEM := startOP(t, s, nil)
	clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
	cert := oauthtest.SelfSignedClientCertificate("rsa-client", rsaKey, time.Time{})
	leaf, err := assertion.ParseCertificates(cert, "tls.crt")
	if err != nil {
		t.Fatal(err)
	}
	// op checks that aud names the issuer (clientAssertion.audience), as ZITADEL does.
	cases := []struct {
		name string
		cfg  assertion.Config
	}{
		{"RS256", assertion.Config{ClientID: "rsa-client", Audience: s.issuer, Key: rsaKey}},
		{"PS256", assertion.Config{ClientID: "rsa-client", Audience: s.issuer, Key: rsaKey, Algorithm: "PS256"}},
		{"ES256", assertion.Config{ClientID: "ec-client", Audience: s.issuer, Key: ecKey, Lifetime: time.Minute}},
		{"RS256 with x5t", assertion.Config{ClientID: "rsa-client", Audience: s.issuer, Key: rsaKey, Certificate: leaf[0], Thumbprint: assertion.ThumbprintSHA1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthAssertion, ClientID: tc.cfg.ClientID,
				ClientAssertion: sign(t, tc.cfg, time.Now()), Scopes: []string{"api"}}
			tok, err := requestToken(t, clients, caPEM, nil, req)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" || tok.TokenType != "Bearer" {
				t.Errorf("token %q of type %q", tok.AccessToken, tok.TokenType)
			}
		})
	}

	refused := map[string]assertion.Config{
		// The wrong key under the registered kid: the signature fails.
		"wrong key": {ClientID: "rsa-client", Audience: s.issuer, Key: wrongKey, KeyID: thumbprint(t, rsaKey.Public())},
		// Another key's thumbprint: op finds no key.
		"unregistered key": {ClientID: "rsa-client", Audience: s.issuer, Key: wrongKey},
		"wrong audience":   {ClientID: "rsa-client", Audience: tokenURL + "/other", Key: rsaKey},
	}
	for name, cfg := range refused {
		req := oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthAssertion, ClientID: cfg.ClientID, ClientAssertion: sign(t, cfg, time.Now())}
		_, err := requestToken(t, clients, caPEM, nil, req)
		expectRefused(t, name, err)
	}
	// An assertion from a client clock ten minutes behind: expired.
	cfg := assertion.Config{ClientID: "ec-client", Audience: s.issuer, Key: ecKey}
	_, err = requestToken(t, clients, caPEM, nil, oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthAssertion, ClientID: "ec-client",
		ClientAssertion: sign(t, cfg, time.Now().Add(-10*time.Minute))})
	expectRefused(t, "expired", err)
	if s.issued != len(cases) {
		t.Errorf("%d tokens issued, want %d", s.issued, len(cases))
	}
}

func TestClientSecretJWTWithZitadelOP(t *testing.T) {
	secret := []byte(strings.Repeat("0123456789abcdef", 4))
	s := &opServer{clients: map[string]*opClient{"hs-client": {id: "hs-client", method: authMethodSecretJWT, secret: secret}}}
	tokenURL, caPEM := startOP(t, s, nil)
	clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
	for _, alg := range []string{"", "HS384", "HS512"} {
		cfg := assertion.Config{ClientID: "hs-client", Audience: s.issuer, Secret: secret, Algorithm: alg}
		req := oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthAssertion, ClientID: "hs-client",
			ClientSecret: string(secret), ClientAssertion: sign(t, cfg, time.Now())}
		if _, err := requestToken(t, clients, caPEM, nil, req); err != nil {
			t.Errorf("%q: %v", alg, err)
		}
	}
	wrong := assertion.Config{ClientID: "hs-client", Audience: s.issuer, Secret: []byte(strings.Repeat("x", 64))}
	_, err := requestToken(t, clients, caPEM, nil, oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthAssertion, ClientID: "hs-client",
		ClientAssertion: sign(t, wrong, time.Now())})
	expectRefused(t, "wrong secret", err)
	expired := assertion.Config{ClientID: "hs-client", Audience: s.issuer, Secret: secret}
	_, err = requestToken(t, clients, caPEM, nil, oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthAssertion, ClientID: "hs-client",
		ClientAssertion: sign(t, expired, time.Now().Add(-10*time.Minute))})
	expectRefused(t, "expired", err)
	if s.issued != 3 {
		t.Errorf("%d tokens issued, want 3", s.issued)
	}
}

func TestTLSClientAuthWithZitadelOP(t *testing.T) {
	key, otherKey := oauthtest.NewClientKey(oauthtest.P384), oauthtest.NewClientKey(oauthtest.P256)
	chainPEM, rootPEM := oauthtest.IssuedClientCertificate("mtls-client", key)
	// The same subject, issued under another root, which the server does not trust.
	strangerPEM, _ := oauthtest.IssuedClientCertificate("mtls-client", otherKey)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	s := &opServer{clients: map[string]*opClient{
		"mtls-client": {id: "mtls-client", method: "tls_client_auth", subject: "mtls-client"},
		"other":       {id: "other", method: "tls_client_auth", subject: "other"},
	}}
	tokenURL, caPEM := startOP(t, s, roots)
	clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
	pair := func(chain []byte, k crypto.Signer) *tls.Certificate {
		p, err := assertion.KeyPair(chain, oauthtest.PrivateKeyPEM(k), "tls.crt", "tls.key")
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	// op's server reads forms only: the other encodings are tested against oauthtest.
	req := oauth.Request{TokenURL: tokenURL, ClientAuth: oauth.ClientAuthTLS, ClientID: "mtls-client"}
	if _, err := requestToken(t, clients, caPEM, pair(chainPEM, key), req); err != nil {
		t.Fatal(err)
	}
	// The certificate of another client.
	other := req
	other.ClientID = "other"
	_, err := requestToken(t, clients, caPEM, pair(chainPEM, key), other)
	expectRefused(t, "another client's certificate", err)
	// A certificate of a CA the server does not trust, and none: the handshake fails.
	for name, cert := range map[string]*tls.Certificate{"untrusted CA": pair(strangerPEM, otherKey), "no certificate": nil} {
		_, err := requestToken(t, clients, caPEM, cert, req)
		var re *oauth.ResponseError
		if err == nil || errors.As(err, &re) {
			t.Errorf("%s: %v, want a TLS failure", name, err)
		}
	}
	if s.issued != 1 {
		t.Errorf("%d tokens issued, want 1", s.issued)
	}
}
