package oauthtest

import (
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Grant types beyond client_credentials.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeJWT is the only subject_token_type accepted.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
)

// googleLifetime is the longest exp - iat Google accepts.
const googleLifetime = time.Hour

// Google's own error descriptions.
const (
	googleBadSignature = "Invalid JWT Signature."
	googleBadTime      = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	googleBadAudience  = "Invalid JWT: Failed audience check."
	googleNoAccount    = "Invalid grant: account not found"
	googleNoScope      = "Invalid OAuth scope or ID token audience provided."
)

// ServiceAccountKey is a service account key a Google server knows: the
// service account (client_email), the key id (private_key_id) and the
// public half of the key.
type ServiceAccountKey struct {
	Email, KeyID string
	Key          crypto.PublicKey
}

// SetServiceAccountKey makes a Google server accept the assertions of key.
// A nil key.Key removes the key id: a deleted key.
func (s *Server) SetServiceAccountKey(key ServiceAccountKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key.Key == nil {
		delete(s.saKeys, key.KeyID)
		return
	}
	s.saKeys[key.KeyID] = key
}

// ServiceAccountKeyFile is the JSON key file Google hands out for a service
// account key (`gcloud iam service-accounts keys create`).
func ServiceAccountKeyFile(email, keyID, tokenURI string, key *rsa.PrivateKey) []byte {
	b, err := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "tokenator-test", "private_key_id": keyID,
		"private_key": string(PrivateKeyPEM(key)), "client_email": email, "client_id": "113502431287412389123",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// serveGoogle answers as oauth2.googleapis.com/token does for a service
// account's jwt-bearer grant (https://developers.google.com/identity/protocols/oauth2/service-account#httprest):
// grant_type jwt-bearer; an RS256 assertion whose kid is a known key of the
// service account in iss, signed by that key; aud the token URL; iat and exp
// set, exp - iat at most an hour, the time between them; a scope claim.
// Errors are 400 {"error","error_description"} with Google's descriptions;
// a token is {access_token, expires_in, token_type: "Bearer"}.
func (s *Server) serveGoogle(w http.ResponseWriter, rec RecordedRequest) {
	fail := func(code, description string) {
		writeError(w, http.StatusBadRequest, code, description, false)
	}
	if rec.Params["grant_type"] == "" {
		fail("invalid_request", "Missing required parameter: grant_type")
		return
	}
	if grant := rec.Params["grant_type"]; grant != GrantJWTBearer {
		fail("unsupported_grant_type", "Invalid grant_type: "+grant)
		return
	}
	claims, code, description := s.verifyGoogleAssertion(rec.Params["assertion"], time.Now())
	if code != "" {
		fail(code, description)
		return
	}
	scope, _ := claims["scope"].(string)
	if strings.TrimSpace(scope) == "" {
		fail("invalid_scope", googleNoScope)
		return
	}
	s.issue(w, claims["iss"].(string), strings.Fields(scope), nil)
}

// verifyGoogleAssertion returns the claims of a valid assertion, else
// Google's error code and description.
func (s *Server) verifyGoogleAssertion(raw string, now time.Time) (map[string]any, string, string) {
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(parsed.Headers) != 1 {
		return nil, "invalid_grant", googleBadSignature
	}
	s.mu.Lock()
	key, known := s.saKeys[parsed.Headers[0].KeyID]
	s.mu.Unlock()
	var claims jwt.Claims
	var all map[string]any
	if !known || parsed.Claims(key.Key, &claims, &all) != nil {
		return nil, "invalid_grant", googleBadSignature
	}
	if claims.Issuer != key.Email {
		return nil, "invalid_grant", googleNoAccount
	}
	if claims.IssuedAt == nil || claims.Expiry == nil || claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > googleLifetime ||
		now.Add(assertionLeeway).Before(claims.IssuedAt.Time()) || !now.Before(claims.Expiry.Time()) {
		return nil, "invalid_grant", googleBadTime
	}
	audience := s.cfg.AssertionAudience
	if audience == "" {
		audience = s.URL()
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != audience {
		return nil, "invalid_grant", googleBadAudience
	}
	return all, "", ""
}

// SubjectTokenVerifier checks the subject_token of a token exchange; nil
// accepts it.
type SubjectTokenVerifier func(subjectToken string) error

// checkSubjectToken checks the token exchange parameters (RFC 8693 section
// 2.1) and answers the error itself when they fail: invalid_request for a
// missing or unsupported type, invalid_grant for a subject token the
// verifier refuses.
func (s *Server) checkSubjectToken(w http.ResponseWriter, rec RecordedRequest) bool {
	fail := func(code, description string) bool {
		writeError(w, http.StatusBadRequest, code, description, s.provider.errorMessage)
		return false
	}
	token := rec.Params["subject_token"]
	switch {
	case token == "":
		return fail("invalid_request", "subject_token is required")
	case rec.Params["subject_token_type"] != TokenTypeJWT:
		return fail("invalid_request", "unsupported subject_token_type")
	case rec.Params["requested_token_type"] != "" && rec.Params["requested_token_type"] != "urn:ietf:params:oauth:token-type:access_token":
		return fail("invalid_request", "unsupported requested_token_type")
	}
	if err := s.cfg.VerifySubjectToken(token); err != nil {
		return fail("invalid_grant", "the subject token is not valid")
	}
	return true
}
