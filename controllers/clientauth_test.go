package controllers_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// longSecret is a client secret long enough for HS256 (32 bytes).
func longSecret() string {
	s := randomString("jwt-secret-") + randomString("-")
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, s)
	secretsMu.Unlock()
	return s
}

// keyMaterial registers the base64 lines of PEM key material with the leak
// scan, and returns the PEM.
func keyMaterial(pemBytes []byte) []byte {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, line := range strings.Split(string(pemBytes), "\n") {
		if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
			secretsSeen = append(secretsSeen, line)
		}
	}
	return pemBytes
}

// tlsSecret is a kubernetes.io/tls Secret as cert-manager writes it: tls.key,
// tls.crt (the chain) and no client_id.
func tlsSecret(name string, key crypto.Signer, chainPEM []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSPrivateKeyKey: keyMaterial(oauthtest.PrivateKeyPEM(key)), corev1.TLSCertKey: chainPEM}}
}

// assertionsOf returns the headers and claims of the assertions srv received
// from clientID, unverified (the server verified them).
func assertionsOf(srv *oauthtest.Server, clientID string) (headers []jose.Header, claims []jwt.Claims) {
	for _, a := range srv.Assertions() {
		parsed, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512})
		if err != nil {
			continue
		}
		var c jwt.Claims
		if parsed.UnsafeClaimsWithoutVerification(&c) == nil && c.Issuer == clientID {
			headers, claims = append(headers, parsed.Headers[0]), append(claims, c)
		}
	}
	return headers, claims
}

// Each of secretJWT, privateKeyJWT and tls gets a token with each encoding,
// from an endpoint that verifies the assertion (signature, claims, a jti
// never seen) or the client certificate chain, and knows none of these
// clients by a secret it would accept in the body.
func TestClientAuthenticationMethods(t *testing.T) {
	t.Parallel()
	for _, kind := range []oauthtest.Kind{oauthtest.RFC6749, oauthtest.Luxclusif, oauthtest.JSONBody} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, oauthtest.Config{Kind: kind})
			jwtKey, tlsKey := oauthtest.NewClientKey(oauthtest.P256), oauthtest.NewClientKey(oauthtest.RSA2048)
			chainPEM, rootPEM := oauthtest.IssuedClientCertificate("tls-client", tlsKey)
			secret := longSecret()
			e.idp.SetClientSecret("hs-client", secret)
			e.idp.SetClientKey("pk-client", jwtKey.Public())
			e.idp.SetClientCertificates("tls-client", rootPEM)

			e.create(e.credentials("hs-creds", "hs-client", secret))
			// The key's Secret holds no client_id: spec.clientID names the client.
			e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-creds"},
				Data: map[string][]byte{"client_id": []byte("not-this-one"), "signing.pem": keyMaterial(oauthtest.PrivateKeyPEM(jwtKey))}})
			e.create(tlsSecret("tls-creds", tlsKey, chainPEM))

			hs := e.oauthClient("hs")
			hs.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationSecretJWT
			hs.Spec.CredentialsSecretRef.Name = "hs-creds"
			pk := e.oauthClient("pk")
			pk.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationPrivateKeyJWT
			pk.Spec.ClientID = "pk-client"
			pk.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "pk-creds", PrivateKeyKey: "signing.pem"}
			pk.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Lifetime: &metav1.Duration{Duration: time.Minute}}
			tc := e.oauthClient("tls")
			tc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationTLS
			tc.Spec.ClientID = "tls-client"
			tc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "tls-creds"}
			for _, oc := range []*tokenatorv1.OAuthClient{hs, pk, tc} {
				e.create(oc)
			}
			for _, name := range []string{"hs", "pk", "tls"} {
				oc := e.waitReady(name)
				e.g.Expect(e.issuedToken(e.token(oc.Status.SecretName))).To(BeTrue(), name)
			}

			headers, claims := assertionsOf(e.idp, "hs-client")
			e.g.Expect(headers).NotTo(BeEmpty())
			e.g.Expect(headers[0].Algorithm).To(Equal("HS256"))
			e.g.Expect(headers[0].KeyID).To(BeEmpty())
			e.g.Expect([]string(claims[0].Audience)).To(Equal([]string{e.idp.URL()}))
			headers, claims = assertionsOf(e.idp, "pk-client")
			e.g.Expect(headers).NotTo(BeEmpty())
			e.g.Expect(headers[0].Algorithm).To(Equal("ES256"))
			e.g.Expect(headers[0].KeyID).NotTo(BeEmpty())
			e.g.Expect(claims[0].Subject).To(Equal("pk-client"))
			e.g.Expect(claims[0].Expiry.Time().Sub(claims[0].IssuedAt.Time())).To(Equal(time.Minute))

			// A requested refresh sends a new assertion (a new jti): the
			// endpoint refuses a replayed one.
			before := len(claims)
			oldToken := e.token(e.get("pk").Status.SecretName)
			e.update("pk", func(oc *tokenatorv1.OAuthClient) {
				oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: time.Now().Format(time.RFC3339Nano)}
			})
			e.waitNewToken(e.get("pk").Status.SecretName, oldToken)
			_, claims = assertionsOf(e.idp, "pk-client")
			e.g.Expect(len(claims)).To(BeNumerically(">", before))
			e.g.Expect(claims[len(claims)-1].ID).NotTo(Equal(claims[0].ID))
		})
	}
}

// A renewed client certificate (the Secret changes, as cert-manager renews
// it) gets a new token at once, presenting the new certificate; the
// endpoint no longer accepts the old one.
func TestClientCertificateRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "tls"})
	key := oauthtest.NewClientKey(oauthtest.P384)
	first := oauthtest.SelfSignedClientCertificate(e.clientID, key, time.Time{})
	e.idp.SetClientCertificates(e.clientID, first)
	e.create(tlsSecret("client-tls", key, first))
	oc := e.oauthClient("mtls")
	oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationTLS
	oc.Spec.ClientID = e.clientID
	oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "client-tls"}
	e.create(oc)
	ready := e.waitReady("mtls")
	old := e.token(ready.Status.SecretName)
	e.g.Expect(e.idp.LastRequest().ClientCertificates).To(HaveLen(1))

	renewedKey := oauthtest.NewClientKey(oauthtest.Ed25519)
	renewed := oauthtest.SelfSignedClientCertificate(e.clientID, renewedKey, time.Time{})
	e.idp.SetClientCertificates(e.clientID, renewed)
	s := e.secret("client-tls")
	s.Data[corev1.TLSPrivateKeyKey] = keyMaterial(oauthtest.PrivateKeyPEM(renewedKey))
	s.Data[corev1.TLSCertKey] = renewed
	e.g.Expect(k8s.Update(e.ctx, s)).To(Succeed())

	renewedToken := e.waitNewToken(ready.Status.SecretName, old)
	block, _ := pem.Decode(renewed)
	e.g.Expect(e.idp.LastRequest().ClientCertificates[0]).To(Equal(block.Bytes))
	e.waitReady("mtls")

	// The endpoint no longer accepts the certificate: the request fails with
	// its invalid_client, and the Secret keeps the token.
	e.idp.SetClientCertificates(e.clientID, first)
	e.update("mtls", func(oc *tokenatorv1.OAuthClient) {
		oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "again"}
	})
	failed := e.waitReason("mtls", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(metaReady(failed).Message).To(ContainSubstring("invalid_client"))
	e.g.Expect(e.token(ready.Status.SecretName)).To(Equal(renewedToken))
}

// Key material that cannot be used is InvalidSpec naming the field, with no
// request sent and the token already in the Secret kept.
func TestUnusableKeyMaterial(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	good := oauthtest.NewClientKey(oauthtest.P256)
	e.idp.SetClientKey(e.clientID, good.Public())
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt-key"},
		Data: map[string][]byte{"client_id": []byte(e.clientID), "tls.key": keyMaterial(oauthtest.PrivateKeyPEM(good))}})
	oc := e.oauthClient("pkjwt")
	oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationPrivateKeyJWT
	oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "jwt-key"}
	e.create(oc)
	ready := e.waitReady("pkjwt")
	token := e.token(ready.Status.SecretName)

	weak := weakRSAKeyPEM(t)
	otherKey := oauthtest.NewClientKey(oauthtest.P256)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte(randomString("not-really-"))})
	cases := []struct {
		name   string
		data   map[string][]byte
		mutate func(*tokenatorv1.OAuthClient)
		want   string
	}{
		{"weak", map[string][]byte{"tls.key": weak}, nil,
			`spec.credentialsSecretRef.privateKeyKey "tls.key" of Secret "weak": RSA key of 1024 bits; at least 2048 are required`},
		{"encrypted", map[string][]byte{"tls.key": encrypted}, nil,
			`spec.credentialsSecretRef.privateKeyKey "tls.key" of Secret "encrypted": the private key is encrypted`},
		{"alg", map[string][]byte{"k": keyMaterial(oauthtest.PrivateKeyPEM(good))}, func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.CredentialsSecretRef.PrivateKeyKey = "k"
			oc.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{Algorithm: "RS256"}
		}, `spec.credentialsSecretRef.privateKeyKey "k" of Secret "alg": an EC key on P-256 does not fit algorithm RS256 of spec.clientAssertion`},
		{"x5t", map[string][]byte{"tls.key": keyMaterial(oauthtest.PrivateKeyPEM(good)), "tls.crt": oauthtest.SelfSignedClientCertificate("x", otherKey, time.Time{})},
			func(oc *tokenatorv1.OAuthClient) {
				oc.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{CertificateThumbprint: tokenatorv1.CertificateThumbprintSHA1}
			}, `spec.credentialsSecretRef.certificateKey "tls.crt" of Secret "x5t": the certificate does not match the private key`},
		{"tls-mismatch", map[string][]byte{"tls.key": keyMaterial(oauthtest.PrivateKeyPEM(good)), "tls.crt": oauthtest.SelfSignedClientCertificate("x", otherKey, time.Time{})},
			func(oc *tokenatorv1.OAuthClient) {
				oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationTLS
			}, `spec.credentialsSecretRef.certificateKey "tls.crt" of Secret "tls-mismatch": the certificate does not match the private key`},
		{"hs-short", map[string][]byte{"client_secret": []byte(e.clientSecret)}, func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationSecretJWT
		}, fmt.Sprintf(`spec.credentialsSecretRef.clientSecretKey "client_secret" of Secret "hs-short": a client secret of %d bytes is too short for HS256`, len(e.clientSecret))},
	}
	requests := e.idp.Requests()
	for _, tc := range cases {
		tc.data["client_id"] = []byte(e.clientID)
		e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Data: tc.data})
		c := e.oauthClient(tc.name)
		c.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationPrivateKeyJWT
		c.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: tc.name}
		if tc.mutate != nil {
			tc.mutate(c)
		}
		e.create(c)
	}
	for _, tc := range cases {
		got := metaReady(e.waitReason(tc.name, tokenatorv1.ReasonInvalidSpec)).Message
		e.g.Expect(got).To(HavePrefix(tc.want), tc.name)
	}
	// A key missing from the Secret names the key.
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nokey"}, Data: map[string][]byte{"client_id": []byte(e.clientID)}})
	c := e.oauthClient("nokey")
	c.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationTLS
	c.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "nokey", CertificateKey: "client.crt"}
	e.create(c)
	e.g.Expect(e.waitMessage("nokey", tokenatorv1.ReasonCredentialsNotFound, `has no non-empty key`)).
		To(HavePrefix(`spec.credentialsSecretRef: Secret "nokey" has no non-empty key ["tls.key" "client.crt"]`))
	e.g.Expect(e.idp.Requests()).To(Equal(requests), "no request with unusable material")

	// A rotation to a weak key keeps the token already issued.
	s := e.secret("jwt-key")
	s.Data["tls.key"] = weak
	e.g.Expect(k8s.Update(e.ctx, s)).To(Succeed())
	got := e.waitReason("pkjwt", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(metaReady(got).Message).To(ContainSubstring("RSA key of 1024 bits"))
	e.g.Expect(metaReady(got).Message).To(ContainSubstring("the Secret keeps the previous token"))
	e.g.Expect(e.token(ready.Status.SecretName)).To(Equal(token))
	e.g.Expect(e.idp.Requests()).To(Equal(requests))
}

// weakRSAKeyPEM is a 1024-bit RSA key, PKCS#1, registered with the leak scan.
func weakRSAKeyPEM(t *testing.T) []byte {
	t.Helper()
	key := mustRSA1024(t)
	return keyMaterial(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

func mustRSA1024(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// A kubernetes.io/tls Secret of 20 KiB (a key, its chain and a CA bundle, as
// cert-manager writes them with a trust bundle) is read once per version, as
// a client secret is: routine refreshes read nothing.
func TestKeySecretReadOncePerVersion(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	reads := map[string]int{}
	e := newEnvWrapped(t, oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "tls", Lifetime: 6 * time.Second}, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/secrets/") && req.URL.Query().Get("watch") == "" {
				mu.Lock()
				reads[path.Base(req.URL.Path)]++
				mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	key := oauthtest.NewClientKey(oauthtest.RSA2048)
	chain, root := oauthtest.IssuedClientCertificate(e.clientID, key)
	e.idp.SetClientCertificates(e.clientID, root)
	s := tlsSecret("client-tls", key, chain)
	var bundle []byte
	for len(bundle) < 20<<10 {
		bundle = append(bundle, oauthtest.SelfSignedClientCertificate("ca", oauthtest.NewClientKey(oauthtest.P256), time.Time{})...)
	}
	s.Data["ca.crt"] = bundle
	e.create(s)
	oc := e.oauthClient("mtls")
	oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationTLS
	oc.Spec.ClientID = e.clientID
	oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "client-tls"}
	e.create(oc)
	tok := e.waitNewToken("mtls-token", "")
	for range 3 {
		tok = e.waitNewToken("mtls-token", tok)
	}
	mu.Lock()
	defer mu.Unlock()
	e.g.Expect(reads["client-tls"]).To(Equal(1), "reads of the key Secret over 4 tokens")
}
