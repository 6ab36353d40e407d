package oauthtest

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ClientAssertionType is the only client_assertion_type accepted (RFC 7523
// section 2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds of the assertions a Server accepts.
const (
	// assertionLeeway is the clock skew tolerated on iat and exp.
	assertionLeeway = 5 * time.Second
	// maxAssertionLifetime is the longest exp - iat accepted.
	maxAssertionLifetime = time.Hour
)

// assertionAlgorithms are the JWS algorithms a Server verifies.
var assertionAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512,
}

// SetClientKey makes the server verify clientID's private_key_jwt
// assertions with key (an RSA, ECDSA or Ed25519 public key), and only it: a
// key rotation. A nil key removes it.
func (s *Server) SetClientKey(clientID string, key crypto.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == nil {
		delete(s.keys, clientID)
		return
	}
	s.keys[clientID] = key
}

// SetClientCertificates makes the server accept for clientID, and only for
// it, a TLS client certificate that is one of the PEM certificates of
// certPEM (self_signed_tls_client_auth) or is issued by one of them, through
// the intermediates the client sends (tls_client_auth). Empty removes them.
func (s *Server) SetClientCertificates(clientID string, certPEM []byte) {
	certs := parseCertificates(certPEM)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(certs) == 0 {
		delete(s.certs, clientID)
		return
	}
	s.certs[clientID] = certs
}

// Assertions returns every client_assertion, jwt-bearer assertion and
// subject_token received so far, accepted or not, oldest first.
func (s *Server) Assertions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.assertions...)
}

func parseCertificates(certPEM []byte) []*x509.Certificate {
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			certs = append(certs, c)
		}
	}
}

// verifyAssertion checks a client_assertion as RFC 7523 section 3 asks: the
// signature, with the client's public key (private_key_jwt) or its secret
// (client_secret_jwt, HS*); iss = sub = the client; aud names the server;
// exp in the future, iat not in the future, at most an hour apart; and a jti
// not seen before. It returns the client id, or "" when anything fails.
func (s *Server) verifyAssertion(rec RecordedRequest, now time.Time) string {
	raw := rec.Params["client_assertion"]
	if rec.Params["client_assertion_type"] != ClientAssertionType {
		return ""
	}
	parsed, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil || len(parsed.Headers) != 1 {
		return ""
	}
	var unverified jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return ""
	}
	id := unverified.Issuer
	if bodyID, ok := rec.Params["client_id"]; ok && bodyID != id {
		return ""
	}
	var key any
	s.mu.Lock()
	switch jose.SignatureAlgorithm(parsed.Headers[0].Algorithm) {
	case jose.HS256, jose.HS384, jose.HS512:
		if secret, ok := s.clients[id]; ok && secret != "" {
			key = []byte(secret)
		}
	default:
		key = s.keys[id]
	}
	s.mu.Unlock()
	if key == nil {
		return ""
	}
	var claims jwt.Claims
	if err := parsed.Claims(key, &claims); err != nil {
		return ""
	}
	audience := s.cfg.AssertionAudience
	if audience == "" {
		audience = s.URL()
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: id, Subject: id, AnyAudience: jwt.Audience{audience}, Time: now}, assertionLeeway); err != nil {
		return ""
	}
	if claims.IssuedAt == nil || claims.Expiry == nil || claims.ID == "" ||
		claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > maxAssertionLifetime {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jtis[claims.ID] {
		// A replayed assertion.
		return ""
	}
	s.jtis[claims.ID] = true
	return id
}

// verifyCertificate checks the TLS client certificate of r against the
// certificates registered for clientID (RFC 8705 section 2): the leaf is one
// of them, or chains to one of them through the certificates the client sent.
func (s *Server) verifyCertificate(r *http.Request, clientID string, now time.Time) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || clientID == "" {
		return false
	}
	s.mu.Lock()
	registered := s.certs[clientID]
	s.mu.Unlock()
	peer := r.TLS.PeerCertificates
	leaf := peer[0]
	roots := x509.NewCertPool()
	for _, c := range registered {
		if subtle.ConstantTimeCompare(c.Raw, leaf.Raw) == 1 {
			return now.After(leaf.NotBefore) && now.Before(leaf.NotAfter)
		}
		roots.AddCert(c)
	}
	if len(registered) == 0 {
		return false
	}
	intermediates := x509.NewCertPool()
	for _, c := range peer[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}
