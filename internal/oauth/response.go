package oauth

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// DefaultLifetime is the lifetime assumed when the response has no usable
	// expires_in, the token is not a JWT with exp, and Request.DefaultLifetime
	// is 0.
	DefaultLifetime = time.Hour
	// MaxLifetime caps the lifetime taken from expires_in or a JWT exp (and the
	// default lifetime), so that later arithmetic cannot overflow and expiry
	// times stay printable.
	MaxLifetime = 10 * 365 * 24 * time.Hour
)

// parseTokenResponse parses a successful (2xx) token response body (RFC 6749
// section 5.1) received at now.
//
//   - The body must be a JSON object (any Content-Type is accepted; a UTF-8
//     byte order mark is tolerated).
//   - access_token must be a non-empty string.
//   - token_type must be a string when present; absent, null or "" means
//     "Bearer".
//   - scope is kept when it is a string (or an array of strings, joined with
//     spaces), ignored otherwise.
//   - expires_in is a JSON number or a numeric string; a value that is not
//     positive or does not parse counts as absent.
//
// The expiry is IssuedAt+expires_in, else the exp claim of a JWT access token
// (see [JWTExpiry]), else IssuedAt+defaultLifetime (0 or less means
// [DefaultLifetime]); lifetimes are capped at [MaxLifetime]. A token whose
// expiry is not after now is rejected. Every error wraps [ErrInvalidResponse]
// and never quotes the body.
//
// It also returns the access token it found, even on error, so that the
// caller can redact it.
func parseTokenResponse(body []byte, now time.Time, defaultLifetime time.Duration) (*Token, string, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, "", err
	}
	return tokenFromObject(obj, now, defaultLifetime)
}

// decodeObject decodes a body that must be a JSON object; a UTF-8 byte order
// mark and white space around it are tolerated. Its error wraps
// ErrInvalidResponse and says what the body is instead, never quoting it.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	body = bytes.TrimSpace(trimBOM(body))
	if len(body) == 0 {
		return nil, invalidResponse("empty body")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		switch body[0] {
		case '<':
			return nil, invalidResponse("body is HTML or XML, not a JSON object")
		case '[':
			return nil, invalidResponse("body is a JSON array, not a JSON object")
		}
		return nil, invalidResponse("body is not a JSON object")
	}
	return obj, nil
}

// tokenFromObject is parseTokenResponse on a decoded body.
func tokenFromObject(obj map[string]json.RawMessage, now time.Time, defaultLifetime time.Duration) (*Token, string, error) {
	raw, present := obj["access_token"]
	if !present || isNull(raw) {
		if jsonString(obj["error"]) != "" {
			// Some endpoints answer errors with 200. The error fields are
			// server-chosen text: RequestToken adds them once sanitised.
			return nil, "", invalidResponse("no access_token; the body is an OAuth error response")
		}
		return nil, "", invalidResponse("no access_token")
	}
	accessToken, ok := decodeString(raw)
	if !ok {
		return nil, "", invalidResponse("access_token is not a string")
	}
	if accessToken == "" {
		return nil, "", invalidResponse("access_token is empty")
	}

	tokenType := "Bearer"
	if raw, ok := obj["token_type"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, accessToken, invalidResponse("token_type is not a string")
		}
		if s != "" {
			tokenType = s
		}
	}

	tok := &Token{
		AccessToken: accessToken,
		TokenType:   tokenType,
		Scope:       scopeValue(obj["scope"]),
		IssuedAt:    now,
	}
	if secs, ok := expiresIn(obj["expires_in"]); ok {
		tok.ExpiresAt = now.Add(secondsToLifetime(secs))
		tok.ExpirySource = ExpirySourceExpiresIn
	} else if exp, ok := JWTExpiry(accessToken); ok {
		if exp.Sub(now) > MaxLifetime {
			exp = now.Add(MaxLifetime)
		}
		tok.ExpiresAt = exp
		tok.ExpirySource = ExpirySourceJWT
	} else {
		if defaultLifetime <= 0 {
			defaultLifetime = DefaultLifetime
		}
		tok.ExpiresAt = now.Add(min(defaultLifetime, MaxLifetime))
		tok.ExpirySource = ExpirySourceDefault
	}
	if !tok.ExpiresAt.After(now) {
		return nil, accessToken, invalidResponse("the token is already expired: its %s expiry %s is not after the time it was received (%s)",
			tok.ExpirySource, tok.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return tok, accessToken, nil
}

// expiresIn returns a positive expires_in in seconds.
func expiresIn(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	secs, ok := numericValue(raw)
	return secs, ok && secs > 0
}

// secondsToLifetime converts positive seconds to a Duration of at most
// MaxLifetime.
func secondsToLifetime(secs float64) time.Duration {
	if secs >= MaxLifetime.Seconds() {
		return MaxLifetime
	}
	return time.Duration(math.Round(secs * float64(time.Second)))
}

// scopeValue reads scope as a string or an array of strings.
func scopeValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " ")
	}
	return ""
}

// decodeString decodes raw, a value of an object decodeObject returned, when
// it is a JSON string. Such a value is valid JSON already: when it has no
// escape and is valid UTF-8 (always so for a token), its text is what lies
// between its quotes, copied once instead of being scanned twice more by
// encoding/json, which matters for a token of a megabyte.
func decodeString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// trimBOM removes a UTF-8 byte order mark.
func trimBOM(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
}
