package oauth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// jwtWith builds an unsigned JWT whose payload is the given JSON text.
func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("sig"))
}

func TestJWTExpiry(t *testing.T) {
	// The sample token of the JSON-body partner API documentation.
	const sample = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiI5YjFlODJhNy0wYTU5LTRlN2UtYWRkNS1iOWZmYTM3YWFkZTEiLCJqdGkiOiI4MTc1NWE2YTdkYWYwMzgyZjBmMjcyM2EyY2M5NTFmODMwZjUzM2FmYjQ2Yjc1ZDliOWE0Y2VhN2QyMTVlZTk5MjZhOTMyNTk1NjdjYmY3OCIsImlhdCI6MTcxMDIyMDAzMS41ODMxMTIsIm5iZiI6MTcxMDIyMDAzMS41ODMxMTQsImV4cCI6MTcxMDIyMzYzMS41Nzc0NzgsInN1YiI6IiIsInNjb3BlcyI6WyJib29raW5nczpjcmVhdGUiLCJib29raW5nczpkZWxldGUiXSwidXNlcl9pZCI6Ijg0MjkwMmRiLTU0ZTUtNDYxNC1iMzQ4LTAwMmU4Y2U1ZGExMiIsInBhcnRuZXJfaWQiOiJmMzExMjBlZS1iNWNiLTQxYzQtOTUyOS0yODhkMDJlOTFjZDYiLCJpc190ZXN0IjpmYWxzZX0.Lk-68XAooy_B7hKuJwlNciIIlYjcL550iBVVUk6MW6dS36BCwCRJlSU7HuRjhTL1RSE0U4G3uM4bY4gdK0vdQESY2GuXUi8VkjpfV9WOUuwNBw8"
	padded := func(s string) string {
		parts := strings.Split(s, ".")
		parts[1] += strings.Repeat("=", (4-len(parts[1])%4)%4)
		return strings.Join(parts, ".")
	}
	std := base64.StdEncoding.EncodeToString([]byte(`{"alg":"HS256","x":"??>>"}`)) + "." +
		base64.RawStdEncoding.EncodeToString([]byte(`{"exp":1700000000,"x":"??>>"}`)) + "." +
		base64.StdEncoding.EncodeToString([]byte("sig>>"))
	withHeader := func(header, payload string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + enc([]byte("sig"))
	}
	tests := []struct {
		name  string
		token string
		want  time.Time
		ok    bool
	}{
		{"documented sample with float exp", sample, time.Unix(1710223631, 577478000), true},
		{"integer exp", jwtWith(`{"exp":1700000000}`), time.Unix(1700000000, 0), true},
		{"padded payload", padded(jwtWith(`{"exp":1700000000,"a":"b"}`)), time.Unix(1700000000, 0), true},
		{"standard alphabet", std, time.Unix(1700000000, 0), true},
		{"every algorithm of go-jose", withHeader(`{"alg":"ML-DSA-87","kid":"k"}`, `{"exp":1700000000}`), time.Unix(1700000000, 0), true},
		{"header of 16 KiB", withHeader(`{"alg":"RS256","x":"`+strings.Repeat("x", 12<<10-22)+`"}`, `{"exp":1700000000}`), time.Unix(1700000000, 0), true},
		{"header over 16 KiB", withHeader(`{"alg":"RS256","x":"`+strings.Repeat("x", 12<<10)+`"}`, `{"exp":1700000000}`), time.Time{}, false},
		{"unknown algorithm", withHeader(`{"alg":"ES256K"}`, `{"exp":1700000000}`), time.Time{}, false},
		{"header not JSON", "aGVhZA." + strings.Split(jwtWith(`{"exp":1700000000}`), ".")[1] + ".c2ln", time.Time{}, false},
		{"exp in capitals", jwtWith(`{"EXP":1700000000}`), time.Time{}, false},
		{"numeric string exp", jwtWith(`{"exp":"1700000000"}`), time.Unix(1700000000, 0), true},
		{"exponent", jwtWith(`{"exp":1.7e9}`), time.Unix(1700000000, 0), true},
		{"empty signature", strings.TrimSuffix(jwtWith(`{"exp":1700000000}`), "c2ln"), time.Unix(1700000000, 0), true},
		{"no exp", jwtWith(`{"iat":1700000000}`), time.Time{}, false},
		{"null exp", jwtWith(`{"exp":null}`), time.Time{}, false},
		{"zero exp", jwtWith(`{"exp":0}`), time.Time{}, false},
		{"negative exp", jwtWith(`{"exp":-5}`), time.Time{}, false},
		{"boolean exp", jwtWith(`{"exp":true}`), time.Time{}, false},
		{"after year 9999", jwtWith(`{"exp":1e15}`), time.Time{}, false},
		{"payload not an object", jwtWith(`[1,2]`), time.Time{}, false},
		{"payload trailing data", jwtWith(`{"exp":1700000000} x`), time.Time{}, false},
		{"payload not JSON", jwtWith(`exp=1700000000`), time.Time{}, false},
		{"two segments", "a.b", time.Time{}, false},
		{"four segments", jwtWith(`{"exp":1700000000}`) + ".d", time.Time{}, false},
		{"JWE (five segments)", "a.b.c.d.e", time.Time{}, false},
		{"opaque", "Zm9vYmFy", time.Time{}, false},
		{"empty", "", time.Time{}, false},
		{"bad base64", "a.!!!.c", time.Time{}, false},
		{"empty header", "." + strings.Split(jwtWith(`{"exp":1700000000}`), ".")[1] + ".c", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := JWTExpiry(tt.token)
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("JWTExpiry = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseTokenResponse(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	jwt := jwtWith(`{"exp":` + "1767326645" + `}`) // now + 1h
	tests := []struct {
		name       string
		body       string
		def        time.Duration
		wantType   string
		wantScope  string
		wantExpiry time.Time
		wantSource ExpirySource
		wantErr    string
	}{
		{"minimal", `{"access_token":"t"}`, 0, "Bearer", "", now.Add(time.Hour), ExpirySourceDefault, ""},
		{"negative default", `{"access_token":"t"}`, -time.Minute, "Bearer", "", now.Add(time.Hour), ExpirySourceDefault, ""},
		{"huge default is capped", `{"access_token":"t"}`, 1 << 62, "Bearer", "", now.Add(MaxLifetime), ExpirySourceDefault, ""},
		{"full", `{"access_token":"t","token_type":"DPoP","scope":"a b","expires_in":"90"}`, 0, "DPoP", "a b", now.Add(90 * time.Second), ExpirySourceExpiresIn, ""},
		{"null token_type", `{"access_token":"t","token_type":null}`, time.Minute, "Bearer", "", now.Add(time.Minute), ExpirySourceDefault, ""},
		{"scope of another type", `{"access_token":"t","scope":7}`, time.Minute, "Bearer", "", now.Add(time.Minute), ExpirySourceDefault, ""},
		{"jwt", `{"access_token":"` + jwt + `"}`, time.Minute, "Bearer", "", now.Add(time.Hour), ExpirySourceJWT, ""},
		{"jwt far future is capped", `{"access_token":"` + jwtWith(`{"exp":253402300000}`) + `"}`, 0, "Bearer", "", now.Add(MaxLifetime), ExpirySourceJWT, ""},
		{"expires_in fraction", `{"access_token":"t","expires_in":0.25}`, 0, "Bearer", "", now.Add(250 * time.Millisecond), ExpirySourceExpiresIn, ""},
		{"expires_in NaN string", `{"access_token":"t","expires_in":"NaN"}`, time.Minute, "Bearer", "", now.Add(time.Minute), ExpirySourceDefault, ""},
		{"expires_in Inf string", `{"access_token":"t","expires_in":"+Inf"}`, time.Minute, "Bearer", "", now.Add(time.Minute), ExpirySourceDefault, ""},
		{"expires_in overflow", `{"access_token":"t","expires_in":1e999}`, time.Minute, "Bearer", "", now.Add(time.Minute), ExpirySourceDefault, ""},
		{"expired jwt", `{"access_token":"` + jwtWith(`{"exp":1767322000}`) + `"}`, 0, "", "", time.Time{}, "",
			"the token is already expired: its jwt expiry 2026-01-02T02:46:40Z is not after the time it was received (2026-01-02T03:04:05Z)"},
		{"jwt expiring now", `{"access_token":"` + jwtWith(`{"exp":1767323045}`) + `"}`, 0, "", "", time.Time{}, "", "already expired"},
		{"bom and spaces", "\ufeff \n{\"access_token\":\"t\"}\n", time.Minute, "Bearer", "", now.Add(time.Minute), ExpirySourceDefault, ""},
		{"not an object", `"t"`, 0, "", "", time.Time{}, "", "body is not a JSON object"},
		{"xml", `<?xml version="1.0"?><t/>`, 0, "", "", time.Time{}, "", "body is HTML or XML"},
		{"bool token_type", `{"access_token":"t","token_type":true}`, 0, "", "", time.Time{}, "", "token_type is not a string"},
		{"array access_token", `{"access_token":["t"]}`, 0, "", "", time.Time{}, "", "access_token is not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := parseTokenResponse([]byte(tt.body), now, tt.def)
			if tt.wantErr != "" {
				if tok != nil || !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("token %v, error %v; want ErrInvalidResponse containing %q", tok, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseTokenResponse: %v", err)
			}
			if tok.AccessToken == "" || tok.TokenType != tt.wantType || tok.Scope != tt.wantScope || !tok.IssuedAt.Equal(now) ||
				!tok.ExpiresAt.Equal(tt.wantExpiry) || tok.ExpirySource != tt.wantSource {
				t.Errorf("got %+v; want type %q scope %q expiry %v source %q", tok, tt.wantType, tt.wantScope, tt.wantExpiry, tt.wantSource)
			}
		})
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	for _, seed := range []string{
		`{"access_token":"t","expires_in":3600,"token_type":"Bearer"}`,
		`{"access_token":"` + jwtWith(`{"exp":1e10}`) + `"}`,
		`{"access_token":"t","expires_in":"1e400"}`, `<html>`, `[]`, ``, `{"error":"x"}`,
	} {
		f.Add([]byte(seed), int64(time.Hour))
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, def int64) {
		tok, _, err := parseTokenResponse(body, now, time.Duration(def))
		if err != nil {
			if tok != nil || !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("token %v with error %v", tok, err)
			}
			return
		}
		if tok.AccessToken == "" || tok.TokenType == "" || !tok.ExpiresAt.After(now) || tok.ExpiresAt.Sub(now) > MaxLifetime {
			t.Fatalf("bad token %+v", tok)
		}
		if _, err := tok.MarshalJSON(); err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
	})
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add(jwtWith(`{"exp":1700000000.5}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		exp, ok := JWTExpiry(token)
		if ok && (!exp.After(time.Unix(0, 0)) || exp.Year() > 9999) {
			t.Fatalf("JWTExpiry(%q) = %v", token, exp)
		}
		if !ok && !exp.IsZero() {
			t.Fatalf("not ok but %v", exp)
		}
	})
}
