package oauth

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSanitize(t *testing.T) {
	red := newRedactor(context.Background(), &Request{ClientID: "id", ClientSecret: "Hunter2-Secret!"})
	tests := []struct {
		name, in, want string
		max            int
	}{
		{"plain", "client authentication failed", "client authentication failed", 256},
		{"controls", "a\x00b\x1bc\u0085d\nline\r\ttab", "abcd line  tab", 256},
		{"format characters", "evil\u202eexe.txt\u200b\ufeff", "evilexe.txt", 256},
		{"invalid utf-8", "ok\xff\xfeok", "okok", 256},
		{"trimmed", "  \n x \n ", "x", 256},
		{"truncated", strings.Repeat("ab", 200), strings.Repeat("ab", 128), 256},
		{"runes not bytes", strings.Repeat("日", 300), strings.Repeat("日", 256), 256},
		{"secret", "bad secret Hunter2-Secret! here", "bad secret [redacted] here", 256},
		{"secret split by control characters", "Hunter2\x00-Sec\u200bret!", "[redacted]", 256},
		{"secret fragment", "xx Hunter2-Sec", "xx [redacted]", 256},
		{"short fragment kept", "Hunter2", "Hunter2", 256},
		{"other case", "HUNTER2-SECRET!", "[redacted]", 256},
		{"url-encoded", "Hunter2-Secret%21", "[redacted]", 256},
		{"redacted before the cut", strings.Repeat("x", 250) + "Hunter2-Secret!", strings.Repeat("x", 250) + "[redac", 256},
		{"cut before redaction at 1024 runes", strings.Repeat("x", 1020) + "Hunter2-Secret!", strings.Repeat("x", 20), 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := red.sanitize(untrusted{tt.in, tt.max})[0]; got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactorForms(t *testing.T) {
	r := &Request{ClientID: "my id", ClientSecret: "p@ss w\"rd<&>\n", ClientAuth: ClientAuthBasic}
	red := newRedactor(context.Background(), r)
	for _, form := range []string{
		"p@ss w\"rd<&>\n", "p@ss w\"rd<&>", `p%40ss+w%22rd%3C%26%3E%0A`, `p@ss w\"rd<&>\n`, `p@ss w\"rd\u003c\u0026\u003e\n`,
		strings.TrimPrefix(BasicCredentials("my id", r.ClientSecret), "Basic "),
	} {
		if got := red.redact("<" + form + ">"); got != "<"+redactedMarker+">" {
			t.Errorf("redact(%q) = %q", form, got)
		}
	}
	// An empty secret redacts nothing (strings.ReplaceAll with "" would
	// insert the marker everywhere).
	empty := newRedactor(context.Background(), &Request{ClientID: "id"})
	if got := empty.redact("nothing to hide"); got != "nothing to hide" {
		t.Errorf("empty secret: %q", got)
	}
	// A learnt access token is redacted too.
	empty.add("opaque-access-token")
	if got := empty.redact("type text/opaque-access-token"); got != "type text/[redacted]" {
		t.Errorf("access token: %q", got)
	}
}

func TestRedactedErrorUnwraps(t *testing.T) {
	red := newRedactor(context.Background(), &Request{ClientSecret: "TopSecretValue"})
	err := red.wrap(io.ErrUnexpectedEOF, "reading %s", "TopSecretValue")
	if err.Error() != "reading [redacted]: unexpected EOF" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("wrap = %q", err)
	}
}

func TestParseRetryAfterUsesTheGivenClock(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := parseRetryAfter("Sun, 01 Mar 2026 12:00:30 GMT", now); got != 30*time.Second {
		t.Errorf("HTTP-date: %v", got)
	}
	if got := parseRetryAfter("Sunday, 01-Mar-26 12:01:00 GMT", now); got != time.Minute {
		t.Errorf("RFC 850 date: %v", got)
	}
	if got := parseRetryAfter("", now); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

// A fragment of a secret of 1 MiB is redacted wherever the text takes it
// from, however it is re-cased or split by invisible characters, and the text
// around it is kept.
func TestRedactFragmentsOfLargeSecret(t *testing.T) {
	secret := alphanumerics(7, DefaultMaxResponseBytes)
	red := newRedactor(context.Background(), &Request{ClientSecret: hostileSecret})
	red.add(secret)
	start, middle, end := secret[:12], secret[len(secret)/2:len(secret)/2+30], secret[len(secret)-9:]
	split := secret[700_000:700_010] + "\u200b\x00" + secret[700_010:700_020]
	text := "start " + strings.ToUpper(start) + " middle " + strings.ToLower(middle) + " split " + split +
		" end " + end + " short " + secret[300:307] + " done"
	got := red.sanitize(untrusted{text, maxDescriptionRunes})[0]
	want := "start [redacted] middle [redacted] split [redacted] end [redacted] short " + secret[300:307] + " done"
	if got != want {
		t.Errorf("sanitize =\n%q, want\n%q", got, want)
	}
	if fragment, ok := leakedFragment(got, secret); ok {
		t.Errorf("%q of the secret is left", fragment)
	}
}

// Fragments of non-ASCII secrets are found whatever their case, including
// runes whose lower case is ASCII (the Kelvin sign is a k).
func TestRedactNonASCII(t *testing.T) {
	red := newRedactor(context.Background(), &Request{ClientSecret: "Пароль-Ärger-Straße-ΣΊΣΥΦΟΣ-日本語の秘密-kkkkkkkk"})
	for _, tt := range []struct{ in, want string }{
		{"x ПАРОЛЬ-äRGER y", "x [redacted] y"},
		{"x σίσυφοσ-日本 y", "x [redacted] y"},
		{"x 日本語の秘密-k y", "x [redacted] y"},
		{"x \u212akkkkkkk y", "x [redacted] y"},
		{"x Пароль y", "x Пароль y"},
		{"x 日本語の秘 y", "x 日本語の秘 y"},
	} {
		if got := red.redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A secret that is not valid UTF-8 is matched as its runes are: each invalid
// byte a U+FFFD, as in the text examined.
func TestRedactInvalidUTF8Secret(t *testing.T) {
	red := newRedactor(context.Background(), &Request{ClientSecret: "abc\xffdefghijklmno"})
	if got := red.redact("x c\xffdefghij y"); got != "x [redacted] y" {
		t.Errorf("redact = %q", got)
	}
}

// Windows made of runs found at different places of the secrets are
// redacted as one run: a little over-redaction, never under-redaction.
func TestRedactJoinsOverlappingWindows(t *testing.T) {
	red := newRedactor(context.Background(), &Request{ClientSecret: "abcdefgh-XYZ-bcdefghi"})
	if got := red.redact("< abcdefghi >"); got != "< [redacted] >" {
		t.Errorf("redact = %q", got)
	}
}

// countdownContext is done from its limit-th Err call on, and counts the
// calls.
type countdownContext struct {
	context.Context
	calls, limit int
}

func (c *countdownContext) Err() error {
	c.calls++
	if c.calls >= c.limit {
		return context.Canceled
	}
	return nil
}

// Handling an answer stops when the context is done: it looks at the
// context between its steps, and every fragmentCheckEvery bytes of the 1 MiB
// token while it looks for its fragments. Whichever look finds the context
// done, the next one is the last, and the error wraps the context's.
func TestAnswerHandlingStopsWhenContextIsDone(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusOK} {
		a := newHostileAnswer(status, hostileTokenRunes)
		never := &countdownContext{Context: context.Background(), limit: math.MaxInt}
		if err := handleHostile(never, a); errors.Is(err, context.Canceled) {
			t.Fatalf("%d: %v", status, err)
		}
		// The token is read once or twice, looking at the context every
		// fragmentCheckEvery bytes.
		if min := hostileTokenRunes / fragmentCheckEvery; never.calls < min {
			t.Fatalf("%d: the context was looked at %d times, want at least %d", status, never.calls, min)
		}
		for limit := 1; limit < never.calls; limit++ {
			ctx := &countdownContext{Context: context.Background(), limit: limit}
			err := handleHostile(ctx, a)
			if !errors.Is(err, context.Canceled) || ctx.calls > limit+1 {
				t.Errorf("%d, done from look %d on: %d looks, error %v; want at most %d looks and context.Canceled", status, limit, ctx.calls, err, limit+1)
			}
			checkHandled(t, err, a)
		}
	}
}
