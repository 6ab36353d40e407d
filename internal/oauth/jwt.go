package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxJWTExp is 9999-12-31T23:59:59Z: later expiry times cannot be written as
// RFC 3339 and are treated as unusable.
const maxJWTExp = 253402300799

// JWTExpiry returns the exp claim of token when token is a JWS compact
// serialisation (three dot-separated base64url segments) whose payload is a
// JSON object with a numeric exp (RFC 7519 NumericDate, fractions allowed; a
// numeric string is tolerated too). The signature is NOT verified: the result
// only schedules the refresh. Padding and the standard base64 alphabet are
// tolerated. ok is false when there is no usable exp: not a JWT, no exp, exp
// not a positive number, or exp after year 9999.
func JWTExpiry(token string) (exp time.Time, ok bool) {
	// At most four parts: a token of a megabyte of dots splits in no time.
	parts := strings.SplitN(token, ".", 4)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return time.Time{}, false
	}
	payload, ok := decodeSegment(parts[1])
	if !ok {
		return time.Time{}, false
	}
	var claims map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return time.Time{}, false
	}
	raw, present := claims["exp"]
	if !present {
		return time.Time{}, false
	}
	secs, ok := numericValue(raw)
	if !ok || secs <= 0 || secs > maxJWTExp {
		return time.Time{}, false
	}
	// float64 holds a current NumericDate to about a microsecond: round there.
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3).UTC(), true
}

// decodeSegment decodes base64url with or without padding, falling back to
// the standard alphabet.
func decodeSegment(seg string) ([]byte, bool) {
	seg = strings.TrimRight(seg, "=")
	if b, err := base64.RawURLEncoding.DecodeString(seg); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(seg); err == nil {
		return b, true
	}
	return nil, false
}

// numericValue reads a JSON number, or a string holding a decimal number, as
// a finite float64.
func numericValue(raw json.RawMessage) (float64, bool) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil && n != "" {
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
