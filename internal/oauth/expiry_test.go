package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

func TestExpiryFromResponse(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	c := clientFor(t, srv.CAPEM())
	jwt := oauthtest.JWT(map[string]any{"exp": fixedNow.Add(90 * time.Minute).Unix()})
	tests := []struct {
		name       string
		expiresIn  string // JSON text of expires_in, "" for absent
		token      string
		wantLife   time.Duration
		wantSource oauth.ExpirySource
	}{
		{"number", `3600`, "opaque", time.Hour, oauth.ExpirySourceExpiresIn},
		{"float", `59.5`, "opaque", 59500 * time.Millisecond, oauth.ExpirySourceExpiresIn},
		{"exponent", `1.8e3`, "opaque", 30 * time.Minute, oauth.ExpirySourceExpiresIn},
		{"numeric string", `"3600"`, "opaque", time.Hour, oauth.ExpirySourceExpiresIn},
		{"numeric string with spaces", `" 120 "`, "opaque", 2 * time.Minute, oauth.ExpirySourceExpiresIn},
		{"expires_in wins over JWT exp", `600`, jwt, 10 * time.Minute, oauth.ExpirySourceExpiresIn},
		{"huge is capped", `1e300`, "opaque", oauth.MaxLifetime, oauth.ExpirySourceExpiresIn},
		{"absent, opaque", ``, "opaque", 45 * time.Minute, oauth.ExpirySourceDefault},
		{"zero", `0`, "opaque", 45 * time.Minute, oauth.ExpirySourceDefault},
		{"negative", `-30`, "opaque", 45 * time.Minute, oauth.ExpirySourceDefault},
		{"null", `null`, "opaque", 45 * time.Minute, oauth.ExpirySourceDefault},
		{"unparsable string", `"soon"`, "opaque", 45 * time.Minute, oauth.ExpirySourceDefault},
		{"boolean", `true`, "opaque", 45 * time.Minute, oauth.ExpirySourceDefault},
		{"absent, JWT", ``, jwt, 90 * time.Minute, oauth.ExpirySourceJWT},
		{"unparsable, JWT", `"1h"`, jwt, 90 * time.Minute, oauth.ExpirySourceJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"access_token":` + quote(tt.token) + `,"token_type":"Bearer"`
			if tt.expiresIn != "" {
				body += `,"expires_in":` + tt.expiresIn
			}
			srv.SetFault(oauthtest.Fault{Status: 200, Body: body + "}"})
			req := request(srv.URL(), "id", "pw")
			req.DefaultLifetime = 45 * time.Minute
			tok, err := requestToken(t, c, req)
			if err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			if tok.AccessToken != tt.token || tok.ExpirySource != tt.wantSource || tok.ExpiresAt.Sub(tok.IssuedAt) != tt.wantLife {
				t.Errorf("source %q lifetime %v, want %q %v", tok.ExpirySource, tok.ExpiresAt.Sub(tok.IssuedAt), tt.wantSource, tt.wantLife)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jwtExp decodes the exp claim of a JWT independently of the package.
func jwtExp(t *testing.T, token string) float64 {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decoding payload: %v", err)
	}
	var claims struct {
		Exp float64 `json:"exp"`
		Iat float64 `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == 0 || claims.Iat == 0 {
		t.Fatalf("claims %+v, err %v", claims, err)
	}
	return claims.Exp
}

func TestExpiryFallbacks(t *testing.T) {
	t.Run("JWT exp when expires_in is absent", func(t *testing.T) {
		srv := startServer(t, oauthtest.Config{Kind: oauthtest.JSONBody, Clients: map[string]string{"id": "pw"}, OmitExpiresIn: true})
		req := request(srv.URL(), "id", "pw")
		req.Encoding = oauth.EncodingJSON
		// The real clock: the server stamps its JWTs with it.
		c := &oauth.Client{HTTPClient: httpClient(t, srv.CAPEM(), 10*time.Second)}
		tok, err := requestToken(t, c, req)
		if err != nil {
			t.Fatalf("RequestToken: %v", err)
		}
		exp := jwtExp(t, tok.AccessToken)
		want := time.UnixMicro(int64(exp*1e6 + 0.5))
		if tok.ExpirySource != oauth.ExpirySourceJWT || tok.ExpiresAt.Sub(want).Abs() > time.Microsecond {
			t.Errorf("ExpiresAt %v (%q), want %v from the JWT", tok.ExpiresAt, tok.ExpirySource, want)
		}
	})
	for _, tt := range []struct {
		name string
		def  time.Duration
		want time.Duration
	}{{"DefaultLifetime", 20 * time.Minute, 20 * time.Minute}, {"one hour when unset", 0, time.Hour}} {
		t.Run(tt.name+" for an opaque token", func(t *testing.T) {
			srv := startServer(t, oauthtest.Config{Kind: oauthtest.Lucca, Clients: map[string]string{"id": "pw"}, OmitExpiresIn: true})
			req := request(srv.URL(), "id", "pw")
			req.DefaultLifetime = tt.def
			tok, err := requestToken(t, clientFor(t, srv.CAPEM()), req)
			if err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			if tok.ExpirySource != oauth.ExpirySourceDefault || !tok.ExpiresAt.Equal(fixedNow.Add(tt.want)) {
				t.Errorf("ExpiresAt %v (%q), want %v", tok.ExpiresAt, tok.ExpirySource, fixedNow.Add(tt.want))
			}
		})
	}
}

func TestExpiredJWTIsRejected(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	c := clientFor(t, srv.CAPEM())
	for _, exp := range []time.Time{fixedNow.Add(-time.Hour), fixedNow} {
		token := oauthtest.JWT(map[string]any{"exp": exp.Unix(), "sub": "x"})
		srv.SetFault(oauthtest.Fault{Status: 200, Body: `{"access_token":` + quote(token) + `}`, ContentType: "application/json; charset=utf-8"})
		tok, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
		if tok != nil || !errors.Is(err, oauth.ErrInvalidResponse) {
			t.Fatalf("token %v, error %v; want ErrInvalidResponse", tok, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "already expired") || !strings.Contains(msg, exp.UTC().Format(time.RFC3339)) ||
			!strings.Contains(msg, `Content-Type "application/json"`) {
			t.Errorf("error %q does not say when the token expired", msg)
		}
		if strings.Contains(msg, token) || strings.Contains(msg, strings.Split(token, ".")[1]) {
			t.Errorf("error contains the token: %q", msg)
		}
	}
}
