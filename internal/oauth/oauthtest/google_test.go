package oauthtest

import (
	"crypto/rsa"
	"errors"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const googleEmail = "reader@tokenator-test.iam.gserviceaccount.com"

// googleKey is the service account key every Google test server knows.
var googleKey = NewClientKey(RSA2048).(*rsa.PrivateKey)

// googleRequest is the body of a jwt-bearer request signed as Google's
// client libraries sign it (header RS256, typ JWT, kid; claims iss, scope,
// aud, iat, exp), after mutate changes the claims and header the header.
func googleRequest(t *testing.T, s *Server, mutate func(map[string]any), header func(*jose.SignerOptions) jose.SigningKey) map[string]string {
	t.Helper()
	s.SetServiceAccountKey(ServiceAccountKey{Email: googleEmail, KeyID: "key-1", Key: googleKey.Public()})
	now := time.Now()
	claims := map[string]any{"iss": googleEmail, "scope": "https://www.googleapis.com/auth/cloud-platform",
		"aud": s.URL(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mutate != nil {
		mutate(claims)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "key-1")
	sk := jose.SigningKey{Algorithm: jose.RS256, Key: googleKey}
	if header != nil {
		sk = header(opts)
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"grant_type": GrantJWTBearer, "assertion": a}
}

func TestGoogleServiceAccountGrant(t *testing.T) {
	s := newServer(t, Config{Kind: Google})
	a := post(t, s, http.MethodPost, "/token", formType, form(googleRequest(t, s, nil, nil)), nil)
	if a.status != 200 || a.body["token_type"] != "Bearer" || a.body["expires_in"] != float64(3599) || a.body["access_token"] == nil {
		t.Fatalf("good request: %d %v", a.status, a.body)
	}
	if len(a.body) != 3 {
		t.Errorf("answer %v: Google answers access_token, expires_in and token_type only", a.body)
	}
	other := NewClientKey(RSA2048)
	now := time.Now()
	refusals := []struct {
		name        string
		mutate      func(map[string]any)
		header      func(*jose.SignerOptions) jose.SigningKey
		code, descr string
	}{
		{"wrong key", nil, func(*jose.SignerOptions) jose.SigningKey { return jose.SigningKey{Algorithm: jose.RS256, Key: other} }, "invalid_grant", googleBadSignature},
		{"unknown key id", nil, func(o *jose.SignerOptions) jose.SigningKey {
			o.WithHeader("kid", "key-2")
			return jose.SigningKey{Algorithm: jose.RS256, Key: googleKey}
		}, "invalid_grant", googleBadSignature},
		{"PS256", nil, func(*jose.SignerOptions) jose.SigningKey {
			return jose.SigningKey{Algorithm: jose.PS256, Key: googleKey}
		}, "invalid_grant", googleBadSignature},
		{"expired", func(c map[string]any) { c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix() }, nil, "invalid_grant", googleBadTime},
		{"over an hour", func(c map[string]any) { c["exp"] = now.Add(time.Hour + time.Second).Unix() }, nil, "invalid_grant", googleBadTime},
		{"no iat", func(c map[string]any) { delete(c, "iat") }, nil, "invalid_grant", googleBadTime},
		{"issued in the future", func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }, nil, "invalid_grant", googleBadTime},
		{"other service account", func(c map[string]any) { c["iss"] = "other@tokenator-test.iam.gserviceaccount.com" }, nil, "invalid_grant", googleNoAccount},
		{"wrong audience", func(c map[string]any) { c["aud"] = "https://www.googleapis.com/oauth2/v4/token" }, nil, "invalid_grant", googleBadAudience},
		{"no scope", func(c map[string]any) { delete(c, "scope") }, nil, "invalid_scope", googleNoScope},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			a := post(t, s, http.MethodPost, "/token", formType, form(googleRequest(t, s, r.mutate, r.header)), nil)
			expectError(t, a, http.StatusBadRequest, r.code)
			if a.body["error_description"] != r.descr || len(a.body) != 2 {
				t.Errorf("answer %v, want Google's {error, error_description: %q}", a.body, r.descr)
			}
		})
	}
	t.Run("scope in the body", func(t *testing.T) {
		body := googleRequest(t, s, func(c map[string]any) { delete(c, "scope") }, nil)
		body["scope"] = "https://www.googleapis.com/auth/cloud-platform"
		expectError(t, post(t, s, http.MethodPost, "/token", formType, form(body), nil), http.StatusBadRequest, "invalid_scope")
	})
	t.Run("client credentials", func(t *testing.T) {
		a := post(t, s, http.MethodPost, "/token", formType, form(map[string]string{"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"}), nil)
		expectError(t, a, http.StatusBadRequest, "unsupported_grant_type")
	})
	t.Run("JSON body", func(t *testing.T) {
		expectError(t, post(t, s, http.MethodPost, "/token", "application/json", jsonBody(googleRequest(t, s, nil, nil)), nil), http.StatusBadRequest, "invalid_request")
	})
	t.Run("deleted key", func(t *testing.T) {
		body := googleRequest(t, s, nil, nil)
		s.SetServiceAccountKey(ServiceAccountKey{KeyID: "key-1"})
		expectError(t, post(t, s, http.MethodPost, "/token", formType, form(body), nil), http.StatusBadRequest, "invalid_grant")
	})
}

func TestTokenExchange(t *testing.T) {
	var seen string
	s := newServer(t, Config{Kind: RFC6749, Clients: map[string]string{"id": "secret-1"}, VerifySubjectToken: func(tok string) error {
		seen = tok
		if tok != "subject-ok" {
			return errors.New("not this subject")
		}
		return nil
	}})
	base := map[string]string{"grant_type": GrantTokenExchange, "client_id": "id", "client_secret": "secret-1",
		"subject_token": "subject-ok", "subject_token_type": TokenTypeJWT}
	a := post(t, s, http.MethodPost, "/oauth2/token", formType, form(base), nil)
	if a.status != 200 || a.body["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" || seen != "subject-ok" {
		t.Fatalf("good exchange: %d %v", a.status, a.body)
	}
	expectError(t, post(t, s, http.MethodPost, "/oauth2/token", formType, form(with(base, "subject_token", "other")), nil), 400, "invalid_grant")
	expectError(t, post(t, s, http.MethodPost, "/oauth2/token", formType, form(with(base, "subject_token_type", "urn:ietf:params:oauth:token-type:saml2")), nil), 400, "invalid_request")
	expectError(t, post(t, s, http.MethodPost, "/oauth2/token", formType, form(with(base, "client_secret", "wrong")), nil), 401, "invalid_client")
}
