package assertion_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the x5t header is a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenator-dev/tokenator/internal/assertion"
)

const (
	keyField    = `credentialsSecretRef.privateKeyKey "tls.key" of Secret "okta-client"`
	certField   = `credentialsSecretRef.certificateKey "tls.crt" of Secret "okta-client"`
	secretField = `credentialsSecretRef.clientSecretKey "client_secret" of Secret "okta-client"`
	configField = "spec.clientAssertion"
	audience    = "https://idp.example/oauth2/v1/token"
	clientID    = "0oa1b2c3d4"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
)

func rsa2048(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: clientID},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func certPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// verify checks the assertion's signature with pub (go-jose, with only alg
// allowed) and returns its headers and claims.
func verify(t *testing.T, token string, alg jose.SignatureAlgorithm, pub any) (jose.Header, jwt.Claims) {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parsing the assertion: %v", err)
	}
	var claims jwt.Claims
	if err := parsed.Claims(pub, &claims); err != nil {
		t.Fatalf("verifying the assertion with %s: %v", alg, err)
	}
	return parsed.Headers[0], claims
}

func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestSignEveryAlgorithm(t *testing.T) {
	secret := []byte(strings.Repeat("s3cr3t-", 10)) // 70 bytes: long enough for HS512
	p256, p384, p521, ed := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P384()), ecKey(t, elliptic.P521()), edKey(t)
	cases := []struct {
		name  string
		key   crypto.Signer
		asked string
		want  jose.SignatureAlgorithm
	}{
		{"RSA default", rsa2048(t), "", jose.RS256},
		{"RSA RS256", rsa2048(t), "RS256", jose.RS256},
		{"RSA PS256", rsa2048(t), "PS256", jose.PS256},
		{"P-256 default", p256, "", jose.ES256},
		{"P-384 default", p384, "", jose.ES384},
		{"P-521 default", p521, "", jose.ES512},
		{"P-521 ES512", p521, "ES512", jose.ES512},
		{"Ed25519 default", ed, "", jose.EdDSA},
		{"secret default", nil, "", jose.HS256},
		{"secret HS384", nil, "HS384", jose.HS384},
		{"secret HS512", nil, "HS512", jose.HS512},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := assertion.Config{ClientID: clientID, Audience: audience, Algorithm: tc.asked,
				KeyField: keyField, SecretField: secretField, ConfigField: configField}
			var verifyKey any
			if tc.key != nil {
				cfg.Key, verifyKey = tc.key, tc.key.Public()
			} else {
				cfg.Secret, verifyKey = secret, secret
			}
			s, err := assertion.NewSigner(cfg)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			token, err := s.Sign(now)
			if err != nil {
				t.Fatal(err)
			}
			h, c := verify(t, token, tc.want, verifyKey)
			if h.Algorithm != string(tc.want) {
				t.Errorf("alg %q, want %q", h.Algorithm, tc.want)
			}
			if typ := h.ExtraHeaders[jose.HeaderType]; typ != "JWT" {
				t.Errorf("typ %v, want JWT", typ)
			}
			if tc.key != nil {
				if want := thumbprint(t, tc.key.Public()); h.KeyID != want {
					t.Errorf("kid %q, want the RFC 7638 thumbprint %q", h.KeyID, want)
				}
			} else if h.KeyID != "" {
				t.Errorf("kid %q for a secret, want none", h.KeyID)
			}
			if c.Issuer != clientID || c.Subject != clientID {
				t.Errorf("iss %q sub %q, want both %q", c.Issuer, c.Subject, clientID)
			}
			if err := c.ValidateWithLeeway(jwt.Expected{Issuer: clientID, Subject: clientID, AnyAudience: jwt.Audience{audience}, Time: now}, 0); err != nil {
				t.Errorf("claims: %v", err)
			}
			if got := c.Expiry.Time().Sub(c.IssuedAt.Time()); got != assertion.DefaultLifetime {
				t.Errorf("exp - iat = %v, want %v", got, assertion.DefaultLifetime)
			}
			if len(c.ID) < 20 {
				t.Errorf("jti %q: too short to be unique", c.ID)
			}
			// The wrong key does not verify.
			other := any([]byte(strings.Repeat("x", 70)))
			if tc.key != nil {
				other = ecKey(t, elliptic.P256()).Public()
				if _, ok := tc.key.(*rsa.PrivateKey); ok {
					k, _ := rsa.GenerateKey(rand.Reader, 2048)
					other = k.Public()
				}
			}
			parsed, _ := jwt.ParseSigned(token, []jose.SignatureAlgorithm{tc.want})
			if err := parsed.Claims(other, &jwt.Claims{}); err == nil {
				t.Error("the assertion verifies with another key")
			}
		})
	}
}

func TestSignFreshAssertionEachTime(t *testing.T) {
	s, err := assertion.NewSigner(assertion.Config{ClientID: clientID, Audience: audience, Lifetime: 90 * time.Second,
		Key: ecKey(t, elliptic.P256())})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	seen := map[string]bool{}
	for i := range 50 {
		token, err := s.Sign(now.Add(time.Duration(i) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.Claims
		if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("jti %q used twice", c.ID)
		}
		seen[c.ID] = true
		if want := now.Add(time.Duration(i) * time.Second); !c.IssuedAt.Time().Equal(want) {
			t.Errorf("iat %v, want %v", c.IssuedAt.Time(), want)
		}
		if got := c.Expiry.Time().Sub(c.IssuedAt.Time()); got != 90*time.Second {
			t.Errorf("exp - iat = %v, want the lifetime 90s", got)
		}
	}
}

func TestKeyIDAndThumbprintHeaders(t *testing.T) {
	key := rsa2048(t)
	cert := selfSigned(t, key)
	sha1Sum := sha1.Sum(cert.Raw) //nolint:gosec // x5t
	sha256Sum := sha256.Sum256(cert.Raw)
	cases := []struct {
		thumbprint, header, want string
	}{
		{assertion.ThumbprintSHA1, "x5t", base64.RawURLEncoding.EncodeToString(sha1Sum[:])},
		{assertion.ThumbprintSHA256, "x5t#S256", base64.RawURLEncoding.EncodeToString(sha256Sum[:])},
	}
	for _, tc := range cases {
		s, err := assertion.NewSigner(assertion.Config{ClientID: clientID, Audience: audience, Key: key, Certificate: cert,
			Thumbprint: tc.thumbprint, KeyID: "my-key"})
		if err != nil {
			t.Fatal(err)
		}
		token, err := s.Sign(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h, _ := verify(t, token, jose.RS256, key.Public())
		if h.KeyID != "my-key" {
			t.Errorf("kid %q, want the keyID set", h.KeyID)
		}
		if got := h.ExtraHeaders[jose.HeaderKey(tc.header)]; got != tc.want {
			t.Errorf("%s = %v, want %s", tc.header, got, tc.want)
		}
		other := "x5t#S256"
		if tc.header == other {
			other = "x5t"
		}
		if _, ok := h.ExtraHeaders[jose.HeaderKey(other)]; ok {
			t.Errorf("%s sent too", other)
		}
	}
	// Without a thumbprint asked, no x5t.
	s, err := assertion.NewSigner(assertion.Config{ClientID: clientID, Audience: audience, Key: key, Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	token, _ := s.Sign(time.Now())
	h, _ := verify(t, token, jose.RS256, key.Public())
	if len(h.ExtraHeaders) != 1 { // typ only
		t.Errorf("headers %v, want only typ besides alg and kid", h.ExtraHeaders)
	}
	// A secret with a keyID sends it.
	s, err = assertion.NewSigner(assertion.Config{ClientID: clientID, Audience: audience, Secret: []byte(strings.Repeat("k", 32)), KeyID: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	token, _ = s.Sign(time.Now())
	if h, _ := verify(t, token, jose.HS256, []byte(strings.Repeat("k", 32))); h.KeyID != "v2" {
		t.Errorf("kid %q, want v2", h.KeyID)
	}
}

func TestParsePrivateKeyForms(t *testing.T) {
	rk, ek, edk := rsa2048(t), ecKey(t, elliptic.P384()), edKey(t)
	ecDER, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 5, 43, 129, 4, 0, 34}})
	cases := []struct {
		name string
		pem  []byte
		want crypto.PublicKey
	}{
		{"PKCS#8 RSA", pkcs8(t, rk), rk.Public()},
		{"PKCS#1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), rk.Public()},
		{"PKCS#8 EC", pkcs8(t, ek), ek.Public()},
		{"SEC 1 EC after EC PARAMETERS", append(params, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...), ek.Public()},
		{"PKCS#8 Ed25519", pkcs8(t, edk), edk.Public()},
		{"key after a certificate", append(certPEM(selfSigned(t, rk)), pkcs8(t, rk)...), rk.Public()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, err := assertion.ParsePrivateKey(tc.pem, keyField)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.want) {
				t.Error("parsed a different key")
			}
		})
	}
}

// TestRefusals checks that every refusal is an *assertion.Error naming the
// field, and holds no key material.
func TestRefusals(t *testing.T) {
	rk := rsa2048(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224DER, err := x509.MarshalECPrivateKey(p224)
	if err != nil {
		t.Fatal(err)
	}
	p256, ed := ecKey(t, elliptic.P256()), edKey(t)
	goodPEM := pkcs8(t, rk)
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   x509.MarshalPKCS1PrivateKey(rk)})
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("0123456789abcdef0123456789abcdef")})
	secret := []byte("short-secret-of-23-byte")
	otherCert := selfSigned(t, p256)

	type tc struct {
		name, field, want string
		run               func() error
	}
	parse := func(p []byte) func() error {
		return func() error { _, err := assertion.ParsePrivateKey(p, keyField); return err }
	}
	sign := func(cfg assertion.Config) func() error {
		return func() error {
			cfg.ClientID, cfg.Audience = clientID, audience
			cfg.KeyField, cfg.SecretField, cfg.CertificateField, cfg.ConfigField = keyField, secretField, certField, configField
			_, err := assertion.NewSigner(cfg)
			return err
		}
	}
	cases := []tc{
		{"encrypted PEM (legacy)", keyField, "encrypted", parse(legacyEncrypted)},
		{"encrypted PKCS#8", keyField, "encrypted", parse(pkcs8Encrypted)},
		{"RSA 1024", keyField, "RSA key of 1024 bits; at least 2048 are required", parse(pkcs8(t, weak))},
		{"EC P-224", keyField, "curve P-224", parse(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p224DER}))},
		{"no key", keyField, "no PEM private key", parse(certPEM(otherCert))},
		{"garbage", keyField, "no PEM private key", parse([]byte("not a key"))},
		{"corrupt block", keyField, "cannot be parsed", parse(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("0123456789abcdef")}))},
		{"RSA with ES256", keyField, "an RSA key does not fit algorithm ES256", sign(assertion.Config{Key: rk, Algorithm: "ES256"})},
		{"RSA with EdDSA", keyField, "does not fit algorithm EdDSA", sign(assertion.Config{Key: rk, Algorithm: "EdDSA"})},
		{"RSA with HS256", keyField, "does not fit algorithm HS256", sign(assertion.Config{Key: rk, Algorithm: "HS256"})},
		{"P-256 with ES384", keyField, "an EC key on P-256 does not fit algorithm ES384", sign(assertion.Config{Key: p256, Algorithm: "ES384"})},
		{"Ed25519 with RS256", keyField, "an Ed25519 key does not fit algorithm RS256", sign(assertion.Config{Key: ed, Algorithm: "RS256"})},
		{"secret with RS256", configField, "does not sign with a client secret", sign(assertion.Config{Secret: []byte(strings.Repeat("k", 64)), Algorithm: "RS256"})},
		{"short secret HS256", secretField, "23 bytes is too short for HS256; at least 32", sign(assertion.Config{Secret: secret})},
		{"short secret HS512", secretField, "is too short for HS512; at least 64", sign(assertion.Config{Secret: []byte(strings.Repeat("k", 63)), Algorithm: "HS512"})},
		{"certificate of another key", certField, "does not match the private key of " + keyField, sign(assertion.Config{Key: rk, Certificate: otherCert, Thumbprint: "x5t"})},
		{"thumbprint without certificate", certField, "a certificate is required for the x5t#S256 header", sign(assertion.Config{Key: rk, Thumbprint: "x5t#S256"})},
		{"thumbprint with a secret", configField, "certificateThumbprint applies only to a private key", sign(assertion.Config{Secret: []byte(strings.Repeat("k", 32)), Thumbprint: "x5t"})},
		{"key pair mismatch", certField, "does not match", func() error {
			_, err := assertion.KeyPair(certPEM(otherCert), goodPEM, certField, keyField)
			return err
		}},
		{"key pair without certificate", certField, "no PEM certificate found", func() error {
			_, err := assertion.KeyPair(goodPEM, goodPEM, certField, keyField)
			return err
		}},
		{"key pair with a weak key", keyField, "at least 2048", func() error {
			_, err := assertion.KeyPair(certPEM(selfSigned(t, weak)), pkcs8(t, weak), certField, keyField)
			return err
		}},
	}
	material := []string{string(goodPEM), string(secret), string(legacyEncrypted), string(pkcs8(t, weak))}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil {
				t.Fatal("accepted")
			}
			if !assertion.IsError(err) {
				t.Errorf("%T is not an *assertion.Error", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.field+": ") {
				t.Errorf("%q does not name the field %s", msg, c.field)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("%q does not say %q", msg, c.want)
			}
			for _, m := range material {
				if leaksPart(msg, m) {
					t.Errorf("%q holds key material", msg)
				}
			}
		})
	}
}

// leaksPart reports whether msg holds a 12-character run of a PEM body or a secret.
func leaksPart(msg, material string) bool {
	for _, line := range strings.Split(material, "\n") {
		if strings.HasPrefix(line, "-----") || strings.Contains(line, ":") {
			continue
		}
		for i := 0; i+12 <= len(line); i += 6 {
			if strings.Contains(msg, line[i:i+12]) {
				return true
			}
		}
	}
	return false
}

func TestKeyPairChain(t *testing.T) {
	leafKey := ecKey(t, elliptic.P256())
	caKey := ecKey(t, elliptic.P256())
	ca := selfSigned(t, caKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pair, err := assertion.KeyPair(certPEM(leaf, ca), pkcs8(t, leafKey), certField, keyField)
	if err != nil {
		t.Fatal(err)
	}
	if len(pair.Certificate) != 2 || string(pair.Certificate[0]) != string(leaf.Raw) || string(pair.Certificate[1]) != string(ca.Raw) {
		t.Error("the chain is not kept in order, leaf first")
	}
	if pair.Leaf == nil || string(pair.Leaf.Raw) != string(leaf.Raw) {
		t.Error("Leaf is not the first certificate")
	}
}
