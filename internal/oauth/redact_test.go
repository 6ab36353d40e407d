package oauth

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSanitize(t *testing.T) {
	red := newRedactor(&Request{ClientID: "id", ClientSecret: "Hunter2-Secret!"})
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
			if got := red.sanitize(tt.in, tt.max); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactorForms(t *testing.T) {
	r := &Request{ClientID: "my id", ClientSecret: "p@ss w\"rd<&>\n", ClientAuth: ClientAuthBasic}
	red := newRedactor(r)
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
	empty := newRedactor(&Request{ClientID: "id"})
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
	red := newRedactor(&Request{ClientSecret: "TopSecretValue"})
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
