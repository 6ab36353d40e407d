package oauthtest

import (
	"net/http"
)

// clientAssertionTypeJWTBearer is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const clientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionVerifier checks the client assertion a client sent with its
// client_id (the JWT, as sent); a non-nil error refuses the client.
type AssertionVerifier func(clientID, assertion string) error

// authenticateAssertion authenticates a client that sent a JWT client
// assertion: the server's Config.VerifyAssertion decides. It answers
// invalid_request or invalid_client itself when the client is refused.
func (s *Server) authenticateAssertion(w http.ResponseWriter, r *http.Request, rec RecordedRequest) (clientID string, ok bool) {
	p := s.provider
	_, hasBodySecret := rec.Params["client_secret"]
	if _, _, present, _ := decodeBasic(r); present || hasBodySecret {
		writeError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method was used", p.errorMessage)
		return "", false
	}
	if rec.Params["client_assertion_type"] != clientAssertionTypeJWTBearer {
		writeError(w, http.StatusBadRequest, "invalid_request", "unsupported client_assertion_type", p.errorMessage)
		return "", false
	}
	id, assertion := rec.Params["client_id"], rec.Params["client_assertion"]
	s.mu.Lock()
	s.assertions = append(s.assertions, assertion)
	s.mu.Unlock()
	if s.cfg.VerifyAssertion == nil || id == "" || assertion == "" || s.cfg.VerifyAssertion(id, assertion) != nil {
		writeError(w, p.invalidClientStatus, "invalid_client", "Client authentication failed", p.errorMessage)
		return "", false
	}
	return id, true
}

// Assertions returns every client assertion received so far, oldest first,
// refused ones included (for leak scans).
func (s *Server) Assertions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.assertions...)
}
