package assertion_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenator-dev/tokenator/internal/assertion"
)

const keyFileField = `credentialsSecretRef.serviceAccountKeyKey "credentials.json" of Secret "google-sa"`

func keyFile(t *testing.T, edit func(map[string]string)) []byte {
	t.Helper()
	f := map[string]string{"type": "service_account", "project_id": "p", "private_key_id": "a1b2c3",
		"private_key": string(pkcs8(t, rsa2048(t))), "client_email": "sa@p.iam.gserviceaccount.com",
		"client_id": "1234", "token_uri": "https://oauth2.googleapis.com/token"}
	if edit != nil {
		edit(f)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGrantAssertionFromKeyFile(t *testing.T) {
	sa, err := assertion.ParseServiceAccountKey(keyFile(t, nil), keyFileField)
	if err != nil {
		t.Fatal(err)
	}
	if sa.ClientEmail != "sa@p.iam.gserviceaccount.com" || sa.PrivateKeyID != "a1b2c3" || sa.TokenURI != "https://oauth2.googleapis.com/token" {
		t.Fatalf("parsed %+v", sa)
	}
	signer, err := assertion.NewSigner(assertion.Config{Issuer: sa.ClientEmail, Scope: "a b", Audience: sa.TokenURI,
		KeyID: sa.PrivateKeyID, Key: sa.Key, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, err := signer.Sign(now)
	if err != nil {
		t.Fatal(err)
	}
	h, claims := verify(t, a, jose.RS256, rsa2048(t).Public())
	if h.KeyID != "a1b2c3" || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header %+v: want kid = private_key_id and typ JWT", h)
	}
	if claims.Issuer != sa.ClientEmail || claims.Subject != "" || claims.Expiry.Time().Sub(claims.IssuedAt.Time()) != time.Hour || claims.ID == "" {
		t.Errorf("claims %+v: want iss client_email, no sub, exp - iat 1h, a jti", claims)
	}
	var raw map[string]any
	parsed, _ := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.RS256})
	_ = parsed.UnsafeClaimsWithoutVerification(&raw)
	if raw["scope"] != "a b" || raw["aud"] != sa.TokenURI {
		t.Errorf("claims %v: want scope \"a b\" and aud the token_uri, as a string", raw)
	}

	withSub, err := assertion.NewSigner(assertion.Config{Issuer: "3MVG9", Subject: "integration@example.com", Audience: "https://login.salesforce.com", Key: rsa2048(t)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := withSub.Sign(now)
	_, claims = verify(t, b, jose.RS256, rsa2048(t).Public())
	if claims.Subject != "integration@example.com" || claims.Issuer != "3MVG9" || claims.Expiry.Time().Sub(claims.IssuedAt.Time()) != assertion.DefaultLifetime {
		t.Errorf("claims %+v", claims)
	}
}

func TestServiceAccountKeyRefused(t *testing.T) {
	cases := map[string]struct {
		file []byte
		want string
	}{
		"not JSON":         {[]byte("-----BEGIN PRIVATE KEY-----\nMIIEv"), "not a JSON service account key file"},
		"user credentials": {keyFile(t, func(f map[string]string) { f["type"] = "authorized_user" }), "type is not service_account"},
		"no client_email":  {keyFile(t, func(f map[string]string) { delete(f, "client_email") }), "no [client_email]"},
		"no private_key":   {keyFile(t, func(f map[string]string) { delete(f, "private_key") }), "no [private_key]"},
		"broken key": {keyFile(t, func(f map[string]string) {
			f["private_key"] = "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n"
		}), "cannot be parsed"},
		"http token_uri":    {keyFile(t, func(f map[string]string) { f["token_uri"] = "http://oauth2.googleapis.com/token" }), "token_uri is not an absolute https URL"},
		"JSON with garbage": {append(keyFile(t, nil)[:40:40], []byte(`"private_key": "secret-ish"`)...), "not a JSON"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := assertion.ParseServiceAccountKey(c.file, keyFileField)
			if !assertion.IsError(err) || !strings.HasPrefix(err.Error(), keyFileField) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming the field and %q", err, c.want)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "QUJD") || strings.Contains(err.Error(), "secret-ish") {
				t.Errorf("error quotes the key file: %v", err)
			}
		})
	}
}
