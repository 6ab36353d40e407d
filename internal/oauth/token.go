package oauth

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// ExpirySource tells where Token.ExpiresAt comes from.
type ExpirySource string

const (
	// ExpirySourceExpiresIn: IssuedAt plus the response's expires_in.
	ExpirySourceExpiresIn ExpirySource = "expires_in"
	// ExpirySourceJWT: the exp claim of the JWT access token.
	ExpirySourceJWT ExpirySource = "jwt"
	// ExpirySourceDefault: IssuedAt plus the default lifetime.
	ExpirySourceDefault ExpirySource = "default"
)

// Token is an access token obtained from a token endpoint.
//
// Token never prints its AccessToken: String, GoString, Format (every fmt
// verb), LogValue (log/slog) and MarshalJSON all replace it by "[redacted]".
// Beware that fmt cannot call these methods on a Token stored in an
// unexported struct field, so do not print structs that embed one.
type Token struct {
	// AccessToken is the token itself. Never log it.
	AccessToken string
	// TokenType is as returned; "Bearer" when absent.
	TokenType string
	// Scope is as returned; may be "".
	Scope string
	// IssuedAt is the client's clock when the response arrived.
	IssuedAt time.Time
	// ExpiresAt is when the token expires; see ExpirySource.
	ExpiresAt time.Time
	// ExpirySource tells how ExpiresAt was determined.
	ExpirySource ExpirySource
}

// String describes the token without its AccessToken.
func (t Token) String() string {
	return "{AccessToken:" + redactedMarker +
		" TokenType:" + t.TokenType +
		" Scope:" + strconv.Quote(t.Scope) +
		" IssuedAt:" + formatTime(t.IssuedAt) +
		" ExpiresAt:" + formatTime(t.ExpiresAt) +
		" ExpirySource:" + string(t.ExpirySource) + "}"
}

// GoString is the %#v form, without the AccessToken.
func (t Token) GoString() string {
	return "oauth.Token{AccessToken:" + strconv.Quote(redactedMarker) +
		", TokenType:" + strconv.Quote(t.TokenType) +
		", Scope:" + strconv.Quote(t.Scope) +
		", IssuedAt:" + strconv.Quote(formatTime(t.IssuedAt)) +
		", ExpiresAt:" + strconv.Quote(formatTime(t.ExpiresAt)) +
		", ExpirySource:" + strconv.Quote(string(t.ExpirySource)) + "}"
}

// Format implements fmt.Formatter so that no verb (%v, %+v, %#v, %s, %q, %x,
// %d...) can reach the AccessToken field.
func (t Token) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, t.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(t.String()))
	default:
		_, _ = io.WriteString(f, t.String())
	}
}

// LogValue implements slog.LogValuer without the AccessToken.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tokenType", t.TokenType),
		slog.String("scope", t.Scope),
		slog.Time("issuedAt", t.IssuedAt),
		slog.Time("expiresAt", t.ExpiresAt),
		slog.String("expirySource", string(t.ExpirySource)),
	)
}

// MarshalJSON encodes the token's metadata; the AccessToken is replaced by
// "[redacted]", so a JSON dump of a Token cannot leak it either.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessToken  string       `json:"accessToken"`
		TokenType    string       `json:"tokenType"`
		Scope        string       `json:"scope,omitempty"`
		IssuedAt     time.Time    `json:"issuedAt"`
		ExpiresAt    time.Time    `json:"expiresAt"`
		ExpirySource ExpirySource `json:"expirySource"`
	}{redactedMarker, t.TokenType, t.Scope, t.IssuedAt, t.ExpiresAt, t.ExpirySource})
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
