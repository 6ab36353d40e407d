package oauthtest

import (
	"net/http"
)

// AssertionVerifier checks the client assertion a client sent with its
// client_id (the JWT, as sent); a non-nil error refuses the client.
type AssertionVerifier func(clientID, assertion string) error

// authenticateAssertion authenticates a client that sent a JWT client
// assertion when the server has a Config.VerifyAssertion: it decides (the
// assertion may be a token of another issuer, such as a Kubernetes
// ServiceAccount token, whose iss is not the client). It answers
// invalid_request or invalid_client itself when the client is refused.
func (s *Server) authenticateAssertion(w http.ResponseWriter, r *http.Request, rec RecordedRequest) (clientID string, ok bool) {
	p := s.provider
	_, hasBodySecret := rec.Params["client_secret"]
	if _, _, present, _ := decodeBasic(r); present || hasBodySecret {
		writeError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method was used", p.errorMessage)
		return "", false
	}
	if rec.Params["client_assertion_type"] != ClientAssertionType {
		writeError(w, http.StatusBadRequest, "invalid_request", "unsupported client_assertion_type", p.errorMessage)
		return "", false
	}
	id, assertion := rec.Params["client_id"], rec.Params["client_assertion"]
	if s.cfg.VerifyAssertion == nil || id == "" || assertion == "" || s.cfg.VerifyAssertion(id, assertion) != nil {
		writeError(w, p.invalidClientStatus, "invalid_client", "Client authentication failed", p.errorMessage)
		return "", false
	}
	return id, true
}
