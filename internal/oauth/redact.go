package oauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// redactedMarker replaces secrets in text that reaches an error string.
	redactedMarker = "[redacted]"
	// minFragmentRunes is the length from which a fragment of a secret is
	// redacted too (case-insensitively): a server can split or re-case what
	// it echoes, and Go's own errors quote only parts of a bad status line.
	minFragmentRunes = 8
	// maxSanitizeInput bounds the server text examined by sanitize, so that
	// fragment matching stays cheap on a large body.
	maxSanitizeInput = 1024
)

// redactor removes known secrets from text chosen by the token endpoint and
// from the messages of wrapped errors. It is used by one RequestToken call
// only, so it needs no locking.
type redactor struct {
	secrets   []string // whole forms, longest first
	fragments [][]rune // lower-cased secrets matched by fragments too
}

// newRedactor knows the client secret of r in every form a server or a
// wrapped error could show it: raw, without control characters (and trimmed),
// form-url-encoded, path-escaped, quoted as Go's %q and JSON do, and the Basic
// credentials built from it.
func newRedactor(r *Request) *redactor {
	red := &redactor{}
	if r.ClientSecret != "" {
		forms := []string{r.ClientSecret, stripControls(r.ClientSecret), strings.TrimSpace(stripControls(r.ClientSecret))}
		for _, form := range forms {
			red.add(form)
			red.add(url.QueryEscape(form))
			red.add(url.PathEscape(form))
			red.add(unquote(strconv.Quote(form)))
			red.add(unquote(strconv.QuoteToASCII(form)))
			if quoted, err := json.Marshal(form); err == nil {
				red.add(unquote(string(quoted)))
			}
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if enc.Encode(form) == nil {
				red.add(unquote(strings.TrimSuffix(b.String(), "\n")))
			}
		}
	}
	if r.ClientAssertion != "" {
		// A JWT is base64url and dots: it has no other form in a body or an
		// error, and each of its parts is redacted on its own too (a server
		// may echo the signature or the payload alone).
		red.add(r.ClientAssertion)
		for _, part := range strings.Split(r.ClientAssertion, ".") {
			if len(part) >= 16 {
				red.add(part)
			}
		}
	}
	if r.ClientAuth == ClientAuthBasic {
		red.add(strings.TrimPrefix(BasicCredentials(r.ClientID, r.ClientSecret), "Basic "))
		red.add(base64.StdEncoding.EncodeToString([]byte(r.ClientID + ":" + r.ClientSecret)))
	}
	return red
}

// unquote drops the surrounding double quotes of a quoted string.
func unquote(quoted string) string {
	return strings.TrimSuffix(strings.TrimPrefix(quoted, `"`), `"`)
}

// add registers one more secret, such as an access token found in a body.
func (red *redactor) add(secret string) {
	if secret == "" {
		return
	}
	for _, s := range red.secrets {
		if s == secret {
			return
		}
	}
	red.secrets = append(red.secrets, secret)
	sort.SliceStable(red.secrets, func(i, j int) bool { return len(red.secrets[i]) > len(red.secrets[j]) })
	if fragment := []rune(strings.ToLower(secret)); len(fragment) >= minFragmentRunes {
		red.fragments = append(red.fragments, fragment)
	}
}

// redact replaces every known secret in s, and every case-insensitive
// fragment of at least minFragmentRunes runes of one.
func (red *redactor) redact(s string) string {
	for _, secret := range red.secrets {
		s = strings.ReplaceAll(s, secret, redactedMarker)
	}
	if len(red.fragments) == 0 || utf8.RuneCountInString(s) < minFragmentRunes {
		return s
	}
	in := []rune(s)
	out := make([]rune, 0, len(in))
	for i := 0; i < len(in); {
		if n := red.longestFragmentAt(in[i:]); n >= minFragmentRunes {
			out = append(out, []rune(redactedMarker)...)
			i += n
			continue
		}
		out = append(out, in[i])
		i++
	}
	return string(out)
}

// longestFragmentAt is the length of the longest prefix of text that is a
// substring of a secret, ignoring case.
func (red *redactor) longestFragmentAt(text []rune) int {
	best := 0
	for _, secret := range red.fragments {
		for j := 0; j+best < len(secret); j++ {
			n := 0
			for n < len(text) && j+n < len(secret) && unicode.ToLower(text[n]) == secret[j+n] {
				n++
			}
			best = max(best, n)
		}
	}
	return best
}

// sanitize makes server-chosen text printable: control and format characters
// removed (tab and newlines become spaces), secrets redacted, then cut to at
// most maxRunes runes. Redaction happens before the final cut so that no
// prefix of a secret of minFragmentRunes or more survives it.
func (red *redactor) sanitize(s string, maxRunes int) string {
	s = strings.TrimSpace(stripControls(s))
	if utf8.RuneCountInString(s) > maxSanitizeInput {
		s = string([]rune(s)[:maxSanitizeInput])
	}
	s = red.redact(s)
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes])
	}
	return s
}

// stripControls drops invalid UTF-8, control characters and invisible format
// characters (such as bidirectional overrides and zero-width spaces); tab, CR
// and LF become spaces.
func stripControls(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
}

// wrap returns an error whose message is the redacted "prefix: err" and which
// still unwraps to err.
func (red *redactor) wrap(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if err != nil {
		msg += ": " + err.Error()
	}
	return &redactedError{msg: red.redact(msg), err: err}
}

// redactedError carries a message from which secrets were removed. Unwrap
// gives the original error for errors.Is and errors.As; its own text is not
// redacted.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
