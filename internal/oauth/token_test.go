package oauth_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

func TestTokenFormattingHidesAccessToken(t *testing.T) {
	const secret = "eyJ-ACCESS-TOKEN-must-not-print"
	at := time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)
	tok := oauth.Token{AccessToken: secret, TokenType: "Bearer", Scope: "a b", IssuedAt: at.Add(-time.Hour),
		ExpiresAt: at, ExpirySource: oauth.ExpirySourceExpiresIn}
	holder := struct {
		Token   oauth.Token
		Pointer *oauth.Token
		List    []oauth.Token
	}{tok, &tok, []oauth.Token{tok}}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, tok), fmt.Sprintf(verb, &tok), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, []any{tok}))
	}
	outputs = append(outputs, tok.String(), tok.GoString(), fmt.Sprint(tok), fmt.Sprintln(&tok))

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("Token obtained", "token", tok, "pointer", &tok)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("Token obtained", "token", tok)
	outputs = append(outputs, logs.String())
	encoded, err := json.Marshal(holder)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs = append(outputs, string(encoded))

	for _, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(strings.ToLower(out), hex.EncodeToString([]byte(secret))[:16]) {
			t.Errorf("output leaks the access token: %s", out)
		}
	}
	// The formats are still useful.
	if s := fmt.Sprintf("%+v", tok); !strings.Contains(s, "AccessToken:[redacted]") || !strings.Contains(s, "ExpiresAt:2026-11-23T15:04:05Z") ||
		!strings.Contains(s, "TokenType:Bearer") || !strings.Contains(s, "ExpirySource:expires_in") {
		t.Errorf("%%+v = %s", s)
	}
	if s := fmt.Sprintf("%#v", tok); !strings.HasPrefix(s, `oauth.Token{AccessToken:"[redacted]", TokenType:"Bearer"`) {
		t.Errorf("%%#v = %s", s)
	}
	if !strings.Contains(logs.String(), `"expiresAt":"2026-11-23T15:04:05Z"`) {
		t.Errorf("slog output lacks the expiry: %s", logs.String())
	}
	var nilToken *oauth.Token
	if s := fmt.Sprintf("%v", nilToken); s != "<nil>" {
		t.Errorf("nil token prints %q", s)
	}
}
