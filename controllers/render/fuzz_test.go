package render

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// maxFuzzTemplate bounds the templates tried, to keep each run short.
const maxFuzzTemplate = 1024

// The spec.secret.extraData templates come from users and the token from the
// endpoint: parsing never panics and reports errors under the key; a
// template that parses renders with any token without panicking, allocates
// less than maxRenderAlloc with a 1 MiB token, gives what text/template's own
// functions give, and a rendering error names the key only, never the token.
func FuzzRenderExtraData(f *testing.F) {
	seeds := []struct{ key, tpl, token, tokenType, scope string }{
		{"x-api-auth", "Bearer {{ .AccessToken }}", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "Bearer", ""},
		{"header", "{{ .TokenType }} {{ .AccessToken }}", "opaque-token", "mac", "a b"},
		{"expires", "{{ .ExpiresAt }}", "t", "", ""},
		{"scope", `{{ .Scope | printf "%q" }}`, "t", "Bearer", "orders.read orders.write"},
		{"json", `{"token":"{{ js .AccessToken }}","type":"{{ .TokenType }}"}`, `tok"en</script>`, "Bearer", ""},
		{"escapes", "{{ html .AccessToken }} {{ urlquery .AccessToken }} {{ len .AccessToken }}", "a&b<c>", "", ""},
		{"with", "{{ with .Scope }}{{ . }}{{ else }}none{{ end }}", "t", "", ""},
		{"if", `{{ if eq .TokenType "Bearer" }}Bearer {{ .AccessToken }}{{ else }}{{ .TokenType }} {{ .AccessToken }}{{ end }}`, "t", "DPoP", ""},
		// Render errors only a real token shows: the probe token is "probe".
		{"index", `{{ if eq .AccessToken "probe" }}p{{ else }}{{ index .AccessToken 99 }}{{ end }}`, "short-token-value", "", ""},
		{"slice", "{{ slice .AccessToken 0 4 }}", "abc", "", ""},
		{"slice-ok", "{{ slice .AccessToken 0 4 }}", "abcdef", "", ""},
		{"printf-error", `{{ printf "%d" .AccessToken }}`, "t", "", ""},
		// Refused by Parse.
		{"unclosed", "Bearer {{ .AccessToken ", "t", "", ""},
		{"unknown-field", "{{ .RefreshToken }}", "t", "", ""},
		{"unknown-func", "{{ env \"HOME\" }}", "t", "", ""},
		{"call", "{{ call .AccessToken }}", "t", "", ""},
		{"key-is-token", "{{ index .AccessToken 1000 }}", "key-is-token", "", ""},
		{"empty", "", "t", "", ""},
		// Shapes that once made rendering unbounded.
		{"indexed-star", `{{printf "%[2]*[1]s" .TokenType 999999}}`, "t", "Bearer", ""},
		{"nested-js", "{{ .AccessToken | js | js | js | js | js | js | js | js }}", `\<"`, "", ""},
		{"print-printf", `{{ print (printf "%999s" .AccessToken) (printf "%999[1]s%[1]q" .Scope) . }}`, "t", "", "s"},
		{"repeat", `{{ printf "%[1]s%[1]s%[1]s%[1]s%[1]s%[1]x" .AccessToken }}`, "t", "", ""},
		{"escapes-of-values", `{{ html . 1 nil }}{{ urlquery .Scope true }}{{ println . }}{{ printf "%+v %#v" . . }}`, "t", "", "a b"},
		// The verbs printf takes.
		{"printf-verbs", `{{ printf "%s %q %v %d %%" .AccessToken .Scope . (len .TokenType) }}`, "a\x00\xff\u0085", "Bearer", "s c"},
		{"printf-values", `{{ printf "%d%v%q%s" 1.5 nil true -1e308i }}{{ printf "%q" (index .AccessToken 0) }}`, "t", "", ""},
		{"printf-count", `{{ printf "%s %s" .AccessToken }}`, "t", "", ""},
	}
	for i, s := range seeds {
		f.Add(s.key, s.tpl, s.token, s.tokenType, s.scope, int64(1_700_000_000+i))
	}
	f.Fuzz(func(t *testing.T, key, tpl, token, tokenType, scope string, expires int64) {
		if len(tpl) > maxFuzzTemplate {
			t.Skip()
		}
		const fixedKey = "fixed"
		extra := map[string]string{fixedKey: "Bearer {{ .AccessToken }}"}
		if key != fixedKey {
			extra[key] = tpl
		}

		tpls, err := Parse(extra)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "spec.secret.extraData["+key+"]: ") {
				t.Fatalf("parse error %q does not name the key %q", err, key)
			}
			return
		}
		if len(tpls) != len(extra) {
			t.Fatalf("%d templates parsed from %d", len(tpls), len(extra))
		}
		if key != fixedKey {
			// Rendering is bounded whatever the token: with 1 MiB that
			// escapes badly, one render allocates less than maxRenderAlloc.
			if n := allocated(func() { _, _ = render(tpls[key], hostileData) }); n > maxRenderAlloc {
				t.Fatalf("one render allocated %d bytes, over %d", n, maxRenderAlloc)
			}
		}

		if token == "" {
			token = "t" // the endpoint never gives an empty token
		}
		tok := &oauth.Token{
			AccessToken: token,
			TokenType:   tokenType,
			Scope:       scope,
			ExpiresAt:   time.Unix(expires%(1<<35), 0), // years 0 to 3000 or so
		}
		data, err := SecretData(tok, tpls)
		if err != nil {
			msg := err.Error()
			named := false
			for k := range extra {
				named = named || msg == fmt.Sprintf("spec.secret.extraData[%s]: rendering failed with the issued token%s", k, msgKeyLeftOut) ||
					msg == fmt.Sprintf("spec.secret.extraData[%s]: %v%s", k, errRenderedTooLarge, msgKeyLeftOut) ||
					msg == fmt.Sprintf("spec.secret.extraData[%s]: %v%s", k, errRenderWork, msgKeyLeftOut)
			}
			// Exactly the fixed message: no value, so no token, can be in it.
			if !named {
				t.Fatalf("render error %q is not the fixed message of one key", msg)
			}
			return
		}
		if got := string(data[tokenatorv1.SecretKeyAccessToken]); got != token {
			t.Fatalf("access_token %q, want %q", got, token)
		}
		if got := string(data[tokenatorv1.SecretKeyAuthorization]); got != "Bearer "+token {
			t.Fatalf("authorization %q", got)
		}
		if got := string(data[fixedKey]); got != "Bearer "+token {
			t.Fatalf("%s %q", fixedKey, got)
		}
		if _, ok := data[key]; !ok {
			t.Fatalf("no key %q in %d keys", key, len(data))
		}
		if key != fixedKey {
			// What renders renders as with text/template's own functions.
			sameAsBuiltin(t, tpl, templateData{AccessToken: token, TokenType: tokenType, Scope: scope,
				ExpiresAt: string(data[tokenatorv1.SecretKeyExpiresAt])})
		}
		if _, err := time.Parse(time.RFC3339, string(data[tokenatorv1.SecretKeyExpiresAt])); err != nil {
			t.Fatalf("expires_at %q: %v", data[tokenatorv1.SecretKeyExpiresAt], err)
		}
	})
}

// Templates cannot make rendering unbounded: range, template, define and block
// are refused, printf takes no widths, and a value is at most 64 KiB.
func TestExtraDataBounds(t *testing.T) {
	for tpl, want := range map[string]string{
		"Bearer {{ .AccessToken }}":                                   "",
		"{{ range 2000000000 }}{{ end }}":                             "range actions are not allowed",
		"{{ if .Scope }}{{ range 9 }}x{{ end }}{{ end }}":             "range actions are not allowed",
		"{{ with .Scope }}x{{ else }}{{ range 9 }}{{ end }}{{ end }}": "range actions are not allowed",
		`{{ define "a" }}x{{ end }}{{ template "a" }}`:                "define and block are not allowed",
		`{{ block "a" . }}x{{ end }}`:                                 "define and block are not allowed",
		`{{ with .Scope }}{{ template "x" }}{{ end }}`:                "template actions are not allowed",
		`{{ printf "%099999d" 1 }}`:                                   refusedVerb("%099999d"),
		`{{ printf "%.99999s" .AccessToken }}`:                        refusedVerb("%.99999s"),
		`{{ printf "%*d" 999999 1 }}`:                                 refusedVerb("%*d"),
		`{{ printf "%.5s" .AccessToken }}`:                            refusedVerb("%.5s"),
		`{{ printf "%0999d" 1 }}`:                                     refusedVerb("%0999d"),
		`{{ printf "%s %q %v %d %%" .AccessToken .Scope . 1 }}`:       "",
		wideVar + strings.Repeat(`{{ printf "%s" $w }}`, 70):          "the rendered value is over 65536 bytes",
		"{{ if eq .TokenType `Bearer` }}y{{ else }}n{{ end }}":        "",
	} {
		_, err := Parse(map[string]string{"k": tpl})
		switch {
		case want == "" && err != nil:
			t.Errorf("%q refused: %v", tpl, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want %q", tpl, err, want)
		}
	}
	// The bound holds for the real token too.
	tpls, err := Parse(map[string]string{"k": "{{ .AccessToken }}{{ .AccessToken }}"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = SecretData(&oauth.Token{AccessToken: strings.Repeat("t", 40<<10), TokenType: "Bearer"}, tpls)
	if err == nil || err.Error() != "spec.secret.extraData[k]: the rendered value is over 65536 bytes"+msgKeyLeftOut {
		t.Fatalf("a value over the bound: %v", err)
	}
}
