package oauthtest

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Media types the providers insist on.
const (
	mediaForm      = "application/x-www-form-urlencoded"
	mediaMultipart = "multipart/form-data"
	mediaJSON      = "application/json"
)

// luxclusifScopes are the only scope values Luxclusif accepts.
var luxclusifScopes = []string{"buyback buyback.partner", "buyback buyback.buyer"}

// provider describes how one Kind behaves.
type provider struct {
	path      string
	mediaType string        // the only request Content-Type accepted
	lifetime  time.Duration // default expires_in
	basic     bool          // accepts client_secret_basic
	post      bool          // accepts client_secret_post
	// requireAcceptJSON answers 406 unless Accept names application/json.
	requireAcceptJSON bool
	// invalidClientStatus is 400 for IdentityServer-style servers (Lucca,
	// Luxclusif) and 401 for the others.
	invalidClientStatus int
	// exactScopes, when set, lists the only scope values accepted.
	exactScopes []string
	// jwt issues JWT access tokens instead of opaque ones.
	jwt bool
	// errorMessage adds "message" next to "error_description" in errors, as
	// Laravel Passport does.
	errorMessage bool
	// google answers the jwt-bearer grant of a service account key only
	// (serveGoogle).
	google bool
}

var providers = map[Kind]provider{
	Lucca: {
		path: "/connect/token", mediaType: mediaForm, lifetime: 30 * time.Minute,
		basic: true, post: true, invalidClientStatus: http.StatusBadRequest,
	},
	Luxclusif: {
		path: "/connect/token", mediaType: mediaMultipart, lifetime: time.Hour,
		basic: true, post: true, invalidClientStatus: http.StatusBadRequest,
		exactScopes: luxclusifScopes,
	},
	JSONBody: {
		path: "/api/oauth/token", mediaType: mediaJSON, lifetime: time.Hour,
		post: true, requireAcceptJSON: true, invalidClientStatus: http.StatusUnauthorized,
		jwt: true, errorMessage: true,
	},
	Google: {
		path: "/token", mediaType: mediaForm, lifetime: time.Hour - time.Second,
		invalidClientStatus: http.StatusBadRequest, google: true,
	},
	RFC6749: {
		path: "/oauth2/token", mediaType: mediaForm, lifetime: time.Hour,
		basic: true, post: true, invalidClientStatus: http.StatusUnauthorized,
	},
}

// serveToken answers a token request as the provider would.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, rec RecordedRequest, parsed bool) {
	p := s.provider
	fail := func(status int, code, description string) {
		writeError(w, status, code, description, p.errorMessage)
	}
	if !s.checkRequest(w, r, rec, parsed) {
		return
	}
	if p.google {
		s.serveGoogle(w, rec)
		return
	}
	var clientID string
	var extra map[string]any
	switch grant := rec.Params["grant_type"]; {
	case grant == "":
		fail(http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	case grant == "client_credentials":
	case grant == GrantTokenExchange && s.cfg.VerifySubjectToken != nil:
		if !s.checkSubjectToken(w, rec) {
			return
		}
		extra = map[string]any{"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}
		if s.cfg.ClientAuth == "none" {
			clientID = rec.Params["client_id"]
			break
		}
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	if clientID == "" {
		var ok bool
		if clientID, ok = s.authenticate(w, r, rec); !ok {
			return
		}
	}
	requested := strings.Fields(rec.Params["scope"])
	if p.exactScopes != nil && !contains(p.exactScopes, rec.Params["scope"]) {
		fail(http.StatusBadRequest, "invalid_scope", "scope must be one of: "+strings.Join(p.exactScopes, ", "))
		return
	}
	if bad := s.disallowedScope(requested); bad != "" {
		fail(http.StatusBadRequest, "invalid_scope", "scope "+bad+" is not allowed for this client")
		return
	}
	s.issue(w, clientID, requested, extra)
}

// checkRequest answers the requests the provider refuses whatever their
// grant: another path or method, no Accept: application/json where it is
// required, another Content-Type, a body that does not parse.
func (s *Server) checkRequest(w http.ResponseWriter, r *http.Request, rec RecordedRequest, parsed bool) bool {
	p := s.provider
	fail := func(status int, code, description string) bool {
		writeError(w, status, code, description, p.errorMessage)
		return false
	}
	if r.URL.Path != p.path {
		return fail(http.StatusNotFound, "not_found", "no such endpoint")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint only accepts POST")
	}
	if p.requireAcceptJSON && !acceptsJSON(r.Header.Values("Accept")) {
		return fail(http.StatusNotAcceptable, "invalid_request", "the Accept header must be application/json")
	}
	if mediaType, _, _ := mime.ParseMediaType(rec.ContentType); mediaType != p.mediaType {
		return fail(http.StatusBadRequest, "invalid_request", "the Content-Type must be "+p.mediaType)
	}
	if !parsed {
		return fail(http.StatusBadRequest, "invalid_request", "the request body is malformed")
	}
	return true
}

// disallowedScope is the first of requested outside Config.AllowedScopes,
// or "".
func (s *Server) disallowedScope(requested []string) string {
	if s.cfg.AllowedScopes == nil {
		return ""
	}
	for _, scope := range requested {
		if !contains(s.cfg.AllowedScopes, scope) {
			return scope
		}
	}
	return ""
}

// issue answers a new token for clientID and the requested scopes, with the
// extra members of the answer.
func (s *Server) issue(w http.ResponseWriter, clientID string, requested []string, extra map[string]any) {
	p := s.provider
	granted := strings.Join(requested, " ")
	if granted == "" {
		granted = strings.Join(s.cfg.AllowedScopes, " ")
	}
	now := time.Now()
	var token string
	if p.jwt {
		token = JWT(map[string]any{
			"aud":    clientID,
			"jti":    randomHex(40),
			"iat":    unixFloat(now),
			"nbf":    unixFloat(now),
			"exp":    unixFloat(now.Add(s.cfg.Lifetime)),
			"sub":    "",
			"scopes": append([]string{}, requested...),
		})
	} else {
		token = RandomToken()
	}
	s.mu.Lock()
	s.issued = append(s.issued, token)
	s.mu.Unlock()

	resp := map[string]any{"access_token": token, "token_type": "Bearer"}
	for k, v := range extra {
		resp[k] = v
	}
	if !s.cfg.OmitExpiresIn {
		resp["expires_in"] = int64(math.Round(s.cfg.Lifetime.Seconds()))
	}
	if !p.jwt && !p.google && granted != "" {
		resp["scope"] = granted
	}
	writeJSON(w, http.StatusOK, resp)
}

// authenticate checks the client authentication (client_secret_basic,
// client_secret_post, a JWT client assertion or a TLS client certificate)
// and answers invalid_client (or invalid_request) itself when it fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rec RecordedRequest) (clientID string, ok bool) {
	p := s.provider
	method, ok := clientAuthMethod(r, rec)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method was used", p.errorMessage)
		return "", false
	}
	allowed := (method == "basic" && p.basic) || (method == "post" && p.post) || (method == "assertion" && p.post) || method == "tls"
	if s.cfg.ClientAuth != "" && s.cfg.ClientAuth != method {
		allowed = false
	}
	if method == "assertion" && s.cfg.VerifyAssertion != nil && rec.Params["client_assertion_type"] != ClientAssertionType {
		writeError(w, http.StatusBadRequest, "invalid_request", "unsupported client_assertion_type", p.errorMessage)
		return "", false
	}
	id, authenticated := s.verifyClient(method, r, rec, time.Now())
	if !allowed || !authenticated {
		status := p.invalidClientStatus
		if method == "basic" && status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="oauthtest"`)
		}
		writeError(w, status, "invalid_client", "Client authentication failed", p.errorMessage)
		return "", false
	}
	return id, true
}

// clientAuthMethod is the client authentication method of a request: basic,
// assertion, tls or post; false when it uses more than one.
func clientAuthMethod(r *http.Request, rec RecordedRequest) (string, bool) {
	_, hasBodySecret := rec.Params["client_secret"]
	_, hasAssertion := rec.Params["client_assertion"]
	_, _, present, _ := decodeBasic(r)
	if (present && hasBodySecret) || (hasAssertion && (present || hasBodySecret)) {
		return "", false
	}
	hasCertificate := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
	switch {
	case present:
		return "basic", true
	case hasAssertion:
		return "assertion", true
	case !hasBodySecret && hasCertificate:
		return "tls", true
	}
	return "post", true
}

// verifyClient checks the credentials of method and returns the client id.
func (s *Server) verifyClient(method string, r *http.Request, rec RecordedRequest, now time.Time) (string, bool) {
	switch method {
	case "assertion":
		if s.cfg.VerifyAssertion == nil {
			id := s.verifyAssertion(rec, now)
			return id, id != ""
		}
		// The server's verifier decides: the assertion may be a token of
		// another issuer (a Kubernetes ServiceAccount token), whose iss is
		// not the client.
		id := rec.Params["client_id"]
		return id, id != "" && s.cfg.VerifyAssertion(id, rec.Params["client_assertion"]) == nil
	case "tls":
		id := rec.Params["client_id"]
		return id, s.verifyCertificate(r, id, now)
	}
	id, secret := rec.Params["client_id"], rec.Params["client_secret"]
	user, password, present, valid := decodeBasic(r)
	if present {
		id, secret = user, password
	}
	s.mu.Lock()
	want, known := s.clients[id]
	s.mu.Unlock()
	return id, (!present || valid) && id != "" && known && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
}

// basicCredentials returns the decoded Basic credentials and whether an
// Authorization: Basic header was sent (for RecordedRequest).
func basicCredentials(r *http.Request) (user, password string, present bool) {
	user, password, present, _ = decodeBasic(r)
	return user, password, present
}

// decodeBasic decodes an Authorization: Basic header per RFC 6749 section
// 2.3.1: base64, split at the first colon, then form-url-decode each part.
// valid is false when any step fails.
func decodeBasic(r *http.Request) (user, password string, present, valid bool) {
	header := r.Header.Get("Authorization")
	scheme, encoded, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", "", true, false
	}
	rawUser, rawPassword, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, false
	}
	user, err1 := url.QueryUnescape(rawUser)
	password, err2 := url.QueryUnescape(rawPassword)
	if err1 != nil || err2 != nil {
		return "", "", true, false
	}
	return user, password, true, true
}

// acceptsJSON reports whether an Accept header names application/json.
func acceptsJSON(values []string) bool {
	for _, value := range values {
		for _, mediaRange := range strings.Split(value, ",") {
			mediaType, _, _ := strings.Cut(mediaRange, ";")
			if strings.EqualFold(strings.TrimSpace(mediaType), mediaJSON) {
				return true
			}
		}
	}
	return false
}

// jsonParams decodes a JSON object; string values are kept as they are,
// others as their JSON text.
func jsonParams(body []byte) (map[string]string, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, false
	}
	params := make(map[string]string, len(obj))
	for k, raw := range obj {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			params[k] = s
		} else {
			params[k] = string(raw)
		}
	}
	return params, true
}

func writeError(w http.ResponseWriter, status int, code, description string, withMessage bool) {
	body := map[string]any{"error": code, "error_description": description}
	if withMessage {
		body["message"] = description
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// unixFloat is a NumericDate with microseconds, like the JSON-body partner
// API's tokens (1710223631.577478).
func unixFloat(t time.Time) float64 {
	return float64(t.UnixMicro()) / 1e6
}
