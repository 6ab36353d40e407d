package oauth_test

import (
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

const (
	googleEmail = "reader@tokenator-test.iam.gserviceaccount.com"
	googleScope = "https://www.googleapis.com/auth/devstorage.read_only"
)

// googleAssertion signs, from a JSON key file, the assertion Google's
// client libraries make: iss client_email, kid private_key_id, aud
// token_uri, the scopes as a claim.
func googleAssertion(t *testing.T, keyFile []byte, lifetime time.Duration, now time.Time) (string, *assertion.ServiceAccountKey) {
	t.Helper()
	sa, err := assertion.ParseServiceAccountKey(keyFile, "credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := assertion.NewSigner(assertion.Config{Issuer: sa.ClientEmail, Scope: googleScope, Audience: sa.TokenURI,
		KeyID: sa.PrivateKeyID, Key: sa.Key, Lifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	a, err := signer.Sign(now)
	if err != nil {
		t.Fatal(err)
	}
	return a, sa
}

func TestJWTBearerGoogleKeyFile(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.Google})
	key := oauthtest.NewClientKey(oauthtest.RSA2048).(*rsa.PrivateKey)
	srv.SetServiceAccountKey(oauthtest.ServiceAccountKey{Email: googleEmail, KeyID: "7f3c", Key: key.Public()})
	keyFile := oauthtest.ServiceAccountKeyFile(googleEmail, "7f3c", srv.URL(), key)
	c := &oauth.Client{HTTPClient: httpClient(t, srv.CAPEM(), 10*time.Second)}
	send := func(a string) (*oauth.Token, error) {
		return requestToken(t, c, oauth.Request{TokenURL: srv.URL(), Grant: oauth.GrantJWTBearer, ClientAuth: oauth.ClientAuthNone, Assertion: a})
	}

	a, _ := googleAssertion(t, keyFile, time.Hour, time.Now())
	tok, err := send(a)
	if err != nil {
		t.Fatalf("RequestToken: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresAt.Sub(tok.IssuedAt) != 3599*time.Second {
		t.Errorf("token %s, lifetime %s", tok.TokenType, tok.ExpiresAt.Sub(tok.IssuedAt))
	}
	rec := srv.LastRequest()
	if len(rec.Params) != 2 || rec.Params["grant_type"] != string(oauth.GrantJWTBearer) || rec.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("request %q %v: Google's client libraries send grant_type and assertion, form-encoded", rec.ContentType, rec.Params)
	}

	t.Run("wrong key", func(t *testing.T) {
		other := oauthtest.ServiceAccountKeyFile(googleEmail, "7f3c", srv.URL(), oauthtest.NewClientKey(oauthtest.RSA2048).(*rsa.PrivateKey))
		a, _ := googleAssertion(t, other, time.Hour, time.Now())
		_, err := send(a)
		if re := mustResponseError(t, err); re.ErrorCode != "invalid_grant" || re.Description != "Invalid JWT Signature." {
			t.Errorf("error %v", err)
		}
	})
	t.Run("expired assertion", func(t *testing.T) {
		a, _ := googleAssertion(t, keyFile, 30*time.Minute, time.Now().Add(-time.Hour))
		_, err := send(a)
		if re := mustResponseError(t, err); re.ErrorCode != "invalid_grant" || !strings.Contains(re.Description, "iat and exp") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("over an hour", func(t *testing.T) {
		_, err := assertion.NewSigner(assertion.Config{Issuer: googleEmail, Audience: srv.URL(), Key: key, Lifetime: time.Hour + time.Second})
		if !assertion.IsError(err) {
			t.Errorf("NewSigner: %v, want a refusal of a lifetime over an hour", err)
		}
	})
}

func TestTokenExchangeRequest(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "secret"},
		VerifySubjectToken: func(tok string) error {
			if tok != "subject.jwt.token" {
				return errors.New("unknown subject")
			}
			return nil
		}})
	c := clientFor(t, srv.CAPEM())
	req := oauth.Request{TokenURL: srv.URL(), Grant: oauth.GrantTokenExchange, ClientID: "id", ClientSecret: "secret",
		SubjectToken: "subject.jwt.token", Audience: "https://api.example.com", Resource: "https://api.example.com/v1", Scopes: []string{"read"}}
	if _, err := requestToken(t, c, req); err != nil {
		t.Fatalf("RequestToken: %v", err)
	}
	p := srv.LastRequest().Params
	want := map[string]string{"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "subject.jwt.token",
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": "https://api.example.com",
		"resource": "https://api.example.com/v1", "scope": "read", "client_id": "id", "client_secret": "secret"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if _, ok := p["requested_token_type"]; ok {
		t.Error("requested_token_type sent though unset")
	}
	req.RequestedTokenType = oauth.TokenTypeAccessToken
	if _, err := requestToken(t, c, req); err != nil || srv.LastRequest().Params["requested_token_type"] != oauth.TokenTypeAccessToken {
		t.Errorf("requested_token_type: %v %v", err, srv.LastRequest().Params)
	}
	req.SubjectToken = "another.jwt.token"
	if re := mustResponseError(t, func() error { _, err := requestToken(t, c, req); return err }()); re.ErrorCode != "invalid_grant" {
		t.Errorf("another subject: %v", re)
	}
}

func TestGrantRequestsRefused(t *testing.T) {
	c := &oauth.Client{HTTPClient: httpClient(t, nil, time.Second)}
	const url = "https://127.0.0.1:1/token"
	cases := map[string]oauth.Request{
		"none with client_credentials": {TokenURL: url, ClientAuth: oauth.ClientAuthNone},
		"jwt-bearer without assertion": {TokenURL: url, Grant: oauth.GrantJWTBearer, ClientAuth: oauth.ClientAuthNone},
		"exchange without subject":     {TokenURL: url, Grant: oauth.GrantTokenExchange, ClientAuth: oauth.ClientAuthNone},
		"unknown grant":                {TokenURL: url, Grant: "password", ClientID: "id"},
		"assertion as extra parameter": {TokenURL: url, ClientID: "id", ExtraParameters: map[string]string{"assertion": "x"}},
		"subject_token as extra":       {TokenURL: url, ClientID: "id", ExtraParameters: map[string]string{"subject_token": "x"}},
		"resource twice": {TokenURL: url, ClientID: "id", Resource: "https://a.example",
			ExtraParameters: map[string]string{"resource": "https://b.example"}},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := requestToken(t, c, req); !errors.Is(err, oauth.ErrInvalidRequest) {
				t.Errorf("error %v, want ErrInvalidRequest", err)
			}
		})
	}
}
