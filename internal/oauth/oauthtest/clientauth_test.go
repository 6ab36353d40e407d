package oauthtest

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// sign makes an assertion with go-jose; claims are iss = sub = id, aud, a
// 5-minute lifetime and jti, changed by mutate.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, id, aud string, mutate func(*jwt.Claims)) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), ID: RandomToken()}
	if mutate != nil {
		mutate(&c)
	}
	out, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertionBody(id, a string) map[string]string {
	return map[string]string{"grant_type": "client_credentials", "client_id": id,
		"client_assertion_type": ClientAssertionType, "client_assertion": a}
}

func TestAssertionAuthentication(t *testing.T) {
	const secret = "a-client-secret-of-at-least-32-bytes!"
	key, other := NewClientKey(P256), NewClientKey(P256)
	s := newServer(t, Config{Kind: RFC6749, Clients: map[string]string{"id": secret, "nosecret": ""},
		ClientKeys: map[string]crypto.PublicKey{"id": key.Public()}})
	aud := s.URL()
	send := func(body map[string]string) answer {
		return post(t, s, http.MethodPost, "/oauth2/token", formType, form(body), nil)
	}
	ok := func(a answer) {
		t.Helper()
		if a.status != 200 {
			t.Errorf("got %d %v", a.status, a.body)
		}
	}
	ok(send(assertionBody("id", sign(t, jose.ES256, key, "id", aud, nil))))
	ok(send(assertionBody("id", sign(t, jose.HS256, []byte(secret), "id", aud, nil))))
	noClientID := assertionBody("id", sign(t, jose.ES256, key, "id", aud, nil))
	delete(noClientID, "client_id")
	ok(send(noClientID))

	replayed := sign(t, jose.ES256, key, "id", aud, nil)
	ok(send(assertionBody("id", replayed)))
	refused := map[string]map[string]string{
		"replayed jti":      assertionBody("id", replayed),
		"another key":       assertionBody("id", sign(t, jose.ES256, other, "id", aud, nil)),
		"another secret":    assertionBody("id", sign(t, jose.HS256, []byte(strings.Repeat("x", 32)), "id", aud, nil)),
		"expired":           assertionBody("id", sign(t, jose.ES256, key, "id", aud, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) })),
		"iat in the future": assertionBody("id", sign(t, jose.ES256, key, "id", aud, func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Minute)) })),
		"too long":          assertionBody("id", sign(t, jose.ES256, key, "id", aud, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(2 * time.Hour)) })),
		"no jti":            assertionBody("id", sign(t, jose.ES256, key, "id", aud, func(c *jwt.Claims) { c.ID = "" })),
		"sub is not iss":    assertionBody("id", sign(t, jose.ES256, key, "id", aud, func(c *jwt.Claims) { c.Subject = "other" })),
		"another audience":  assertionBody("id", sign(t, jose.ES256, key, "id", "https://elsewhere.example/token", nil)),
		"client_id differs": assertionBody("other", sign(t, jose.ES256, key, "id", aud, nil)),
		"unknown client":    assertionBody("nosecret", sign(t, jose.HS256, []byte(strings.Repeat("x", 32)), "nosecret", aud, nil)),
		"wrong type":        with(assertionBody("id", sign(t, jose.ES256, key, "id", aud, nil)), "client_assertion_type", "urn:other"),
		"not a JWT":         assertionBody("id", "not.a.jwt"),
	}
	for name, body := range refused {
		if a := send(body); a.status != 401 || a.body["error"] != "invalid_client" {
			t.Errorf("%s: got %d %v, want 401 invalid_client", name, a.status, a.body)
		}
	}
	// An assertion and a secret: two methods.
	expectError(t, send(with(assertionBody("id", sign(t, jose.ES256, key, "id", aud, nil)), "client_secret", secret)), 400, "invalid_request")

	// A key rotation.
	s.SetClientKey("id", other.Public())
	ok(send(assertionBody("id", sign(t, jose.ES256, other, "id", aud, nil))))
	if a := send(assertionBody("id", sign(t, jose.ES256, key, "id", aud, nil))); a.status != 401 {
		t.Errorf("the old key still works: %d", a.status)
	}
	if n := len(s.Assertions()); n != len(refused)+7 {
		t.Errorf("%d assertions recorded, want %d", n, len(refused)+7)
	}

	// Only assertions.
	only := newServer(t, Config{Kind: RFC6749, ClientAuth: "assertion", Clients: map[string]string{"id": secret}})
	expectError(t, post(t, only, http.MethodPost, "/oauth2/token", formType, form(with(goodPost, "client_secret", secret)), nil), 401, "invalid_client")
	if a := post(t, only, http.MethodPost, "/oauth2/token", formType, form(assertionBody("id", sign(t, jose.HS256, []byte(secret), "id", only.URL(), nil))), nil); a.status != 200 {
		t.Errorf("assertion-only server: %d %v", a.status, a.body)
	}
}

// certClient trusts s and presents cert.
func certClient(t *testing.T, s *Server, cert *tls.Certificate) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func keyPair(t *testing.T, certPEM []byte, key crypto.Signer) *tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, PrivateKeyPEM(key))
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

func TestCertificateAuthentication(t *testing.T) {
	selfKey, issuedKey, strangerKey := NewClientKey(P256), NewClientKey(Ed25519), NewClientKey(P256)
	selfPEM := SelfSignedClientCertificate("self", selfKey, time.Time{})
	chainPEM, rootPEM := IssuedClientCertificate("issued", issuedKey)
	s := newServer(t, Config{Kind: RFC6749, ClientCertificates: map[string][]byte{"self": selfPEM, "issued": rootPEM}})
	body := func(id string) map[string]string {
		return map[string]string{"grant_type": "client_credentials", "client_id": id}
	}
	send := func(c *http.Client, b map[string]string) int {
		t.Helper()
		resp, err := c.Post(s.URL(), formType, strings.NewReader(string(form(b))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	self := certClient(t, s, keyPair(t, selfPEM, selfKey))
	issued := certClient(t, s, keyPair(t, chainPEM, issuedKey))
	stranger := certClient(t, s, keyPair(t, SelfSignedClientCertificate("self", strangerKey, time.Time{}), strangerKey))
	leafOnly := keyPair(t, chainPEM, issuedKey)
	leafOnly.Certificate = leafOnly.Certificate[:1]

	if got := send(self, body("self")); got != 200 {
		t.Errorf("self-signed: %d", got)
	}
	if got := send(issued, body("issued")); got != 200 {
		t.Errorf("issued: %d", got)
	}
	if n := len(s.LastRequest().ClientCertificates); n != 2 {
		t.Errorf("%d certificates recorded, want the chain of 2", n)
	}
	for name, c := range map[string]struct {
		client *http.Client
		id     string
	}{
		"another client's id":           {self, "issued"},
		"no client_id":                  {self, ""},
		"unregistered certificate":      {stranger, "self"},
		"leaf without its intermediate": {certClient(t, s, leafOnly), "issued"},
		"no certificate":                {certClient(t, s, nil), "self"},
	} {
		b := body(c.id)
		if c.id == "" {
			delete(b, "client_id")
		}
		if got := send(c.client, b); got != 401 {
			t.Errorf("%s: %d, want 401", name, got)
		}
	}
	// A renewed certificate replaces the registered one.
	s.SetClientCertificates("self", SelfSignedClientCertificate("self", strangerKey, time.Time{}))
	if got := send(self, body("self")); got != 401 {
		t.Errorf("the replaced certificate still works: %d", got)
	}
}
