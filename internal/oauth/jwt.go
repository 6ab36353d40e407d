package oauth

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// maxJWTExp is 9999-12-31T23:59:59Z: later expiry times cannot be written as
// RFC 3339 and are treated as unusable.
const maxJWTExp = 253402300799

// maxJWTHeader bounds the header segment of a JWT read by UnverifiedClaims.
// Real headers (alg, kid, typ, at most a certificate chain) are far shorter;
// the bound keeps what go-jose decodes of a hostile header (keys,
// certificates) small, whatever the size of the token.
const maxJWTHeader = 16 << 10

// jwsAlgorithms are the algorithms a JWT's header may name: all of go-jose's
// signature algorithms, and "none" (an unsecured JWT, RFC 7519 section 6).
// No signature is verified: the list only says what is read as a JWS.
var jwsAlgorithms = []jose.SignatureAlgorithm{
	jose.EdDSA, jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512,
	jose.MLDSA44, jose.MLDSA65, jose.MLDSA87, "none",
}

// UnverifiedClaims decodes the claims of token, a JWS compact serialisation
// (three dot-separated base64url segments, the header a JSON object naming
// one of jwsAlgorithms, the payload a JSON object), into dest, with go-jose.
// The signature is NOT verified. Padding and the standard base64 alphabet are
// tolerated. It reports whether token was such a JWS and its claims fit dest;
// nothing of the token is said on failure. Its cost is linear in the size of
// token: the shape is checked in one scan before anything is decoded.
func UnverifiedClaims(token string, dest any) bool {
	_, ok := UnverifiedJWT(token, dest)
	return ok
}

// JWTHeader is what a JWT's header says of how it is signed and typed.
type JWTHeader struct {
	// Algorithm is alg, KeyID kid, Type typ ("" when absent).
	Algorithm, KeyID, Type string
}

// UnverifiedJWT is UnverifiedClaims that also returns the header's alg,
// kid and typ. The signature is NOT verified.
func UnverifiedJWT(token string, dest any) (JWTHeader, bool) {
	header, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || header == "" || payload == "" || len(header) > maxJWTHeader || strings.Contains(sig, ".") {
		return JWTHeader{}, false
	}
	parsed, err := jwt.ParseSigned(base64URL(header)+"."+base64URL(payload)+"."+base64URL(sig), jwsAlgorithms)
	if err != nil || len(parsed.Headers) != 1 || parsed.UnsafeClaimsWithoutVerification(dest) != nil {
		return JWTHeader{}, false
	}
	h := parsed.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return JWTHeader{Algorithm: h.Algorithm, KeyID: h.KeyID, Type: typ}, true
}

// base64URL turns a base64 segment, padded or not, of either alphabet into
// the unpadded base64url go-jose reads.
func base64URL(seg string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '+':
			return '-'
		case '/':
			return '_'
		}
		return r
	}, strings.TrimRight(seg, "="))
}

// JWTExpiry returns the exp claim of token when token is a JWS compact
// serialisation that UnverifiedClaims reads, with a numeric exp (RFC 7519
// NumericDate, fractions allowed; a numeric string is tolerated too). The
// signature is NOT verified: the result only schedules the refresh. ok is
// false when there is no usable exp: not a JWT, no exp, exp not a positive
// number, or exp after year 9999.
func JWTExpiry(token string) (exp time.Time, ok bool) {
	var claims struct {
		Exp json.RawMessage `json:"exp"`
	}
	if !UnverifiedClaims(token, &claims) {
		return time.Time{}, false
	}
	secs, ok := numericValue(claims.Exp)
	if !ok || secs <= 0 || secs > maxJWTExp {
		return time.Time{}, false
	}
	// float64 holds a current NumericDate to about a microsecond: round there.
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3).UTC(), true
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
