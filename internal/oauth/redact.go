package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
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
	// the table of its fragments stays small (see fragments.go).
	maxSanitizeInput = 1024
)

// redactor removes known secrets from text chosen by the token endpoint and
// from the messages of wrapped errors. It is used by one RequestToken call
// only, so it needs no locking, and it holds that call's context: a search
// for fragments over a large secret stops when the context is done.
type redactor struct {
	ctx     context.Context
	secrets []string // whole forms, longest first
	// scanned are the secrets as their fragments are looked for: valid
	// UTF-8, each invalid byte of a secret a U+FFFD as in the text examined.
	scanned []string
	// stopped is set once a search for fragments stopped because ctx was
	// done: every later text is redacted whole at once.
	stopped bool
}

// newRedactor knows the client secret of r in every form a server or a
// wrapped error could show it: raw, without control characters (and trimmed),
// form-url-encoded, path-escaped, quoted as Go's %q and JSON do, and the Basic
// credentials built from it. When ctx is done, redaction stops early: see
// redact.
func newRedactor(ctx context.Context, r *Request) *redactor {
	red := &redactor{ctx: ctx}
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
	// A JWT is base64url and dots: it has no other form in a body or an
	// error, and each of its parts is redacted on its own too (a server may
	// echo the signature or the payload alone). The client assertion, the
	// jwt-bearer assertion and the subject token are all JWTs.
	for _, jwt := range []string{r.ClientAssertion, r.Assertion, r.SubjectToken} {
		if jwt == "" {
			continue
		}
		red.add(jwt)
		for _, part := range strings.Split(jwt, ".") {
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

// add registers one more secret, such as an access token found in a body. It
// keeps the secrets longest first, an equal length in the order added.
func (red *redactor) add(secret string) {
	if secret == "" {
		return
	}
	i := 0
	for ; i < len(red.secrets) && len(red.secrets[i]) >= len(secret); i++ {
		if red.secrets[i] == secret {
			return
		}
	}
	red.secrets = slices.Insert(red.secrets, i, secret)
	if !utf8.ValidString(secret) {
		secret = string([]rune(secret))
	}
	red.scanned = slices.Insert(red.scanned, i, secret)
}

// redact replaces every known secret in s, and every case-insensitive
// fragment of at least minFragmentRunes runes of one: see redactAll.
func (red *redactor) redact(s string) string {
	return red.redactAll([]string{s})[0]
}

// redactAll redacts each of texts in place, and returns it: every known secret
// is replaced, and every case-insensitive fragment of at least
// minFragmentRunes runes of one (see fragments.go). It takes time linear in
// the lengths of the texts and of the secrets, each secret being read once
// for all the texts. When the redactor's context is done before the search
// for fragments ends, every text becomes redactedMarker alone, as do the texts
// of later calls: nothing is let through unexamined, and the caller then finds
// the context done.
func (red *redactor) redactAll(texts []string) []string {
	if red.stopped {
		return redactWhole(texts)
	}
	for i := range texts {
		for _, secret := range red.secrets {
			texts[i] = strings.ReplaceAll(texts[i], secret, redactedMarker)
		}
	}
	if len(red.secrets) == 0 || len(red.secrets[0]) < minFragmentRunes {
		return texts // no secret has a fragment (a rune is at least a byte)
	}
	w := newTextWindows(texts)
	if w == nil {
		return texts
	}
	for _, secret := range red.scanned {
		if len(secret) < minFragmentRunes {
			continue
		}
		if err := w.scan(red.ctx, secret); err != nil {
			red.stopped = true
			return redactWhole(texts)
		}
		if w.left == 0 {
			break
		}
	}
	for i, text := range texts {
		texts[i] = w.redacted(i, text)
	}
	return texts
}

// redactWhole replaces each of texts by redactedMarker, and returns it.
func redactWhole(texts []string) []string {
	for i := range texts {
		texts[i] = redactedMarker
	}
	return texts
}

// untrusted is server-chosen text, and the number of runes of it an error may
// show.
type untrusted struct {
	text     string
	maxRunes int
}

// sanitize makes server-chosen texts printable: at most maxSanitizeInput
// runes of each are examined, control and format characters removed (tab and
// newlines become spaces), secrets redacted (for all the texts at once), then
// each is cut to its maxRunes. Redaction happens before the final cut so that
// no prefix of a secret of minFragmentRunes or more survives it.
func (red *redactor) sanitize(fields ...untrusted) []string {
	texts := make([]string, len(fields))
	for i, f := range fields {
		// A rune is at most utf8.UTFMax bytes: a cut in bytes first keeps
		// the work on a huge text bounded.
		s := f.text
		if len(s) > maxSanitizeInput*utf8.UTFMax {
			s = s[:maxSanitizeInput*utf8.UTFMax]
		}
		texts[i] = cutRunes(strings.TrimSpace(stripControls(s)), maxSanitizeInput)
	}
	red.redactAll(texts)
	for i, f := range fields {
		texts[i] = cutRunes(texts[i], f.maxRunes)
	}
	return texts
}

// cutRunes returns the first maxRunes runes of s.
func cutRunes(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) > maxRunes {
		return string([]rune(s)[:maxRunes])
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
