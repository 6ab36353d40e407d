package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrInvalidRequest is wrapped by errors about the Request itself: a bad
	// token URL, a reserved extra parameter, an invalid header, an unknown
	// encoding... Retrying the same Request cannot succeed.
	ErrInvalidRequest = errors.New("invalid token request")
	// ErrInvalidResponse is wrapped by errors about a 2xx answer that is not a
	// usable token response.
	ErrInvalidResponse = errors.New("invalid token response")
	// ErrResponseTooLarge is wrapped when the response body is larger than
	// Client.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("token response too large")
	// ErrInvalidCABundle is wrapped when a non-empty CA bundle holds no
	// parsable PEM certificate.
	ErrInvalidCABundle = errors.New("invalid CA bundle")
)

const (
	// maxErrorCodeRunes bounds ResponseError.ErrorCode.
	maxErrorCodeRunes = 64
	// maxDescriptionRunes bounds ResponseError.Description.
	maxDescriptionRunes = 256
)

// ResponseError is returned when the token endpoint answers a status other
// than 2xx. Use [errors.As] to get it. All its strings are sanitised: control
// characters removed, bounded in length, and the client secret, the Basic
// credentials and any access token in the body replaced by "[redacted]".
type ResponseError struct {
	// Endpoint is the token URL without its query (which may hold a key), or
	// "" when unknown.
	Endpoint string
	// StatusCode is the HTTP status code.
	StatusCode int
	// ErrorCode is the RFC 6749 section 5.2 "error" when the body is such an
	// error response, else "".
	ErrorCode string
	// Description is the sanitised "error_description", or "".
	Description string
	// RetryAfter is the delay asked for by a Retry-After header (delta-seconds
	// or HTTP-date) on 429 and 503 answers; 0 when absent, unparsable, in the
	// past, or on any other status. It is not a policy: how much of it to
	// honour is the caller's choice (the operator's is schedule.MaxRetryAfter).
	// Only a value beyond MaxLifetime is cut to it, so that it stays a
	// printable duration.
	RetryAfter time.Duration
}

// Error describes the answer, for example "token endpoint
// https://idp.example.com/token answered 401 Unauthorized: invalid_client:
// client authentication failed".
func (e *ResponseError) Error() string {
	var b strings.Builder
	b.WriteString("token endpoint ")
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint)
		b.WriteString(" ")
	}
	b.WriteString("answered ")
	b.WriteString(statusString(e.StatusCode))
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		b.WriteString("; redirects are not followed")
		return b.String()
	}
	if e.ErrorCode != "" {
		b.WriteString(": ")
		b.WriteString(e.ErrorCode)
		if e.Description != "" {
			b.WriteString(": ")
			b.WriteString(e.Description)
		}
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteString(")")
	}
	return b.String()
}

// statusString is "401 Unauthorized". The reason phrase is Go's, never the
// server's, which could carry anything.
func statusString(code int) string {
	if text := http.StatusText(code); text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}

// newResponseError builds the error for a non-2xx answer. body is nil when it
// could not be read within the size limit. red learns any access token found
// in the body, so that it is redacted too.
func newResponseError(resp *http.Response, body []byte, now time.Time, red *redactor) *ResponseError {
	e := &ResponseError{StatusCode: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	if len(body) == 0 {
		return e
	}
	obj, err := decodeObject(body)
	if err != nil || red.ctx.Err() != nil {
		return e // handleAnswer reports the context's error
	}
	red.add(jsonString(obj["access_token"]))
	if code, desc := errorTexts(obj); code != "" {
		s := red.sanitize(untrusted{code, maxErrorCodeRunes}, untrusted{desc, maxDescriptionRunes})
		e.ErrorCode, e.Description = s[0], s[1]
	}
	return e
}

// errorTexts returns the RFC 6749 section 5.2 "error" and
// "error_description" of a decoded body, unsanitised; "" for both when error
// is not a non-empty string.
func errorTexts(obj map[string]json.RawMessage) (code, description string) {
	if code = jsonString(obj["error"]); code == "" {
		return "", ""
	}
	return code, jsonString(obj["error_description"])
}

// jsonString returns raw, a value of an object decodeObject returned, as a
// string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	s, _ := decodeString(raw)
	return s
}

// parseRetryAfter parses a Retry-After value (RFC 9110 section 10.2.3):
// delta-seconds or an HTTP-date relative to now. It returns 0 when the value
// is absent, invalid or in the past, and cuts it to MaxLifetime.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if isDigits(value) {
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil || secs > int64(MaxLifetime/time.Second) {
			// Only digits, so the only possible error is overflow.
			return MaxLifetime
		}
		return time.Duration(secs) * time.Second
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0
	}
	d := at.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > MaxLifetime:
		return MaxLifetime
	}
	return d
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// invalidResponse returns an error wrapping ErrInvalidResponse.
func invalidResponse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidResponse}, args...)...)
}
