package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A token endpoint can answer up to DefaultMaxResponseBytes of JSON built to
// be expensive to handle: a huge access_token, which the redactor learns, next
// to error fields the redactor then examines. Handling such an answer must
// take milliseconds, whatever its status.

const (
	// hostileTokenRunes is the access_token of the 1 MiB hostile answer.
	hostileTokenRunes = 960_000
	// hostileFieldRunes is the length of its error and error_description.
	hostileFieldRunes = 1000
	// hostileSecret is the client secret of the hostile requests.
	hostileSecret = "Hostile-Client-Secret-42"
)

// hostileAnswer is a token endpoint answer and the secrets it must not leak.
type hostileAnswer struct {
	status  int
	body    []byte
	token   string
	secrets []string // the token and the client secret
}

// alphanumerics returns n pseudo-random letters and digits of the stream seed.
func alphanumerics(seed uint64, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// echoFragments returns about n runes made of pieces of secret of
// minFragmentRunes to 3*minFragmentRunes runes, every other piece upper-cased
// and each followed by a space or a comma, as a server echoing parts of what
// it sent would write.
func echoFragments(secret string, n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		size := minFragmentRunes + rng.IntN(2*minFragmentRunes+1)
		start := rng.IntN(len(secret) - size + 1)
		piece := secret[start : start+size]
		if i%2 == 1 {
			piece = strings.ToUpper(piece)
		}
		b.WriteString(piece)
		b.WriteString([]string{" ", ","}[i%2])
	}
	return b.String()
}

// newHostileAnswer builds the answer of the given status: a tokenRunes access
// token, a random error and a description echoing fragments of the token and
// of the client secret. The 2xx answer is invalid: its token_type is a
// number.
func newHostileAnswer(status, tokenRunes int) hostileAnswer {
	token := alphanumerics(1, tokenRunes)
	code := alphanumerics(2, hostileFieldRunes)
	desc := echoFragments(token, hostileFieldRunes-len(hostileSecret)-1, 3) + hostileSecret
	body := `{"access_token":"` + token + `","error":"` + code + `","error_description":"` + desc + `"`
	if status/100 == 2 {
		body += `,"token_type":1`
	}
	return hostileAnswer{status: status, body: []byte(body + "}"), token: token, secrets: []string{token, hostileSecret}}
}

// hostileCases are the answers of the benchmarks: 1 MiB and a tenth of it,
// on an error status and on a 2xx.
var hostileCases = []struct {
	name   string
	status int
	runes  int
}{
	{"400/100KB", http.StatusBadRequest, hostileTokenRunes / 10},
	{"400/1MB", http.StatusBadRequest, hostileTokenRunes},
	{"200/100KB", http.StatusOK, hostileTokenRunes / 10},
	{"200/1MB", http.StatusOK, hostileTokenRunes},
}

// serveHostile starts a TLS server that always sends a.
func serveHostile(tb testing.TB, a hostileAnswer) (*Client, Request) {
	tb.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	tb.Cleanup(ts.Close)
	return &Client{HTTPClient: ts.Client()}, Request{TokenURL: ts.URL + "/token", ClientID: "id", ClientSecret: hostileSecret}
}

// handleHostile handles a as RequestToken does once the body is read.
func handleHostile(ctx context.Context, a hostileAnswer) error {
	r := Request{TokenURL: "https://idp.example/token", ClientID: "id", ClientSecret: hostileSecret}
	resp := &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}}}
	c := &Client{}
	red := newRedactor(ctx, &r)
	_, err := c.handleAnswer(resp, a.body, nil, time.Now(), "https://idp.example/token", &r, red)
	return err
}

// BenchmarkHostileErrorBody handles a hostile answer once read: parsing,
// redaction and the error, without the network.
func BenchmarkHostileErrorBody(b *testing.B) {
	for _, tc := range hostileCases {
		b.Run(tc.name, func(b *testing.B) {
			a := newHostileAnswer(tc.status, tc.runes)
			b.SetBytes(int64(len(a.body)))
			b.ReportAllocs()
			var err error
			cpu := startCPUTimer(b)
			for b.Loop() {
				err = handleHostile(context.Background(), a)
			}
			cpu.report()
			checkHandled(b, err, a)
		})
	}
}

// BenchmarkHostileErrorBodyHTTP requests a token from an endpoint that
// sends a hostile answer: the whole request over TLS on loopback.
func BenchmarkHostileErrorBodyHTTP(b *testing.B) {
	for _, tc := range hostileCases {
		b.Run(tc.name, func(b *testing.B) {
			a := newHostileAnswer(tc.status, tc.runes)
			c, r := serveHostile(b, a)
			b.SetBytes(int64(len(a.body)))
			b.ReportAllocs()
			var err error
			cpu := startCPUTimer(b)
			for b.Loop() {
				_, err = c.RequestToken(context.Background(), r)
			}
			cpu.report()
			checkHandled(b, err, a)
		})
	}
}

// cpuTimer reports the process CPU time per operation as cpu-ns/op: on a
// machine whose cores are shared, ns/op (wall time) counts the waits for a
// core too.
type cpuTimer struct {
	b     *testing.B
	start int64
	ok    bool
}

func startCPUTimer(b *testing.B) cpuTimer {
	start, ok := processCPUTime()
	return cpuTimer{b: b, start: start, ok: ok}
}

func (t cpuTimer) report() {
	if end, ok := processCPUTime(); ok && t.ok && t.b.N > 0 {
		t.b.ReportMetric(float64(end-t.start)/float64(t.b.N), "cpu-ns/op")
	}
}

// checkHandled fails unless err is the error of a and leaks none of its
// secrets.
func checkHandled(tb testing.TB, err error, a hostileAnswer) {
	tb.Helper()
	if err == nil {
		tb.Fatal("no error")
	}
	for _, secret := range a.secrets {
		if fragment, ok := leakedFragment(err.Error(), secret); ok {
			tb.Fatalf("the error leaks %q: %s", fragment, err)
		}
	}
}

// leakedFragment returns a piece of minFragmentRunes runes of secret found in
// text, case-insensitively. It indexes the windows of text in a map, so that
// it checks a secret of 1 MB in tens of milliseconds, and shares no code with
// the redactor.
func leakedFragment(text, secret string) (string, bool) {
	type win [minFragmentRunes]rune
	lower := []rune(strings.ToLower(text))
	windows := make(map[win]bool, len(lower))
	for i := 0; i+minFragmentRunes <= len(lower); i++ {
		windows[win(lower[i:i+minFragmentRunes])] = true
	}
	var cur win
	n := 0
	for _, r := range strings.ToLower(secret) {
		copy(cur[:], cur[1:])
		cur[len(cur)-1] = r
		if n++; n >= minFragmentRunes && windows[cur] {
			return string(cur[:]), true
		}
	}
	if n < minFragmentRunes && secret != "" {
		return secret, strings.Contains(strings.ToLower(text), strings.ToLower(secret))
	}
	return "", false
}

// BenchmarkRedactLargeSecret redacts 1000 runes with a secret of 1 MiB
// learnt: one read of the secret.
func BenchmarkRedactLargeSecret(b *testing.B) {
	red := newRedactor(context.Background(), &Request{ClientSecret: hostileSecret})
	red.add(alphanumerics(1, DefaultMaxResponseBytes))
	text := alphanumerics(2, hostileFieldRunes)
	b.SetBytes(DefaultMaxResponseBytes)
	b.ReportAllocs()
	cpu := startCPUTimer(b)
	for b.Loop() {
		red.redact(text)
	}
	cpu.report()
}

// maxAnswerCPU bounds the CPU time of handling one answer of up to
// DefaultMaxResponseBytes in FuzzErrorBody: ten times what the worst bodies
// measured take, so that a slow machine does not fail it, while a super-linear
// step on a large token takes seconds (12 s before the linear redaction). Under
// the race detector (make test-all) the bound is raceSlowdown times larger,
// still far under that.
const maxAnswerCPU = 100 * time.Millisecond * raceSlowdown

// FuzzErrorBody builds answers from fuzzed fields, each repeated a fuzzed
// number of times up to the response limit (so that tokens of a megabyte come
// from inputs of a few bytes), with the description echoing a fuzzed piece of
// the token, possibly upper-cased. Handling one answer must take at most
// maxAnswerCPU of CPU time (the process's: a fuzz worker runs one input at a
// time), and no error text may hold minFragmentRunes runes of the token or the
// client secret.
func FuzzErrorBody(f *testing.F) {
	alnum := alphanumerics(5, 62)
	f.Add(uint16(400), alnum, uint32(hostileTokenRunes/62), alphanumerics(6, 100), uint16(10), "", uint16(0), uint32(1000), uint8(40), true)
	f.Add(uint16(200), alnum, uint32(hostileTokenRunes/62), alphanumerics(6, 100), uint16(10), "see ", uint16(3), uint32(77), uint8(200), false)
	f.Add(uint16(401), `<&>"\é日本`, uint32(60000), "invalid_client", uint16(1), "bad\u200bsecret ", uint16(1000), uint32(5), uint8(30), true)
	f.Add(uint16(200), "aaaaaaaa", uint32(100000), "aaaaaaaa", uint16(1), "zzzzzzzz aaaaaaa", uint16(60), uint32(0), uint8(0), false)
	f.Add(uint16(429), "Straße-ΣΊΣΥΦΟΣ-\u212a", uint32(30000), "σίσυφοσ", uint16(100), hostileSecret, uint16(2), uint32(3), uint8(25), true)
	f.Fuzz(func(t *testing.T, status uint16, tokenPiece string, tokenRepeat uint32, code string, codeRepeat uint16,
		desc string, descRepeat uint16, echoAt uint32, echoLen uint8, echoUpper bool) {
		fuzzed := fuzzedAnswer{status: 100 + int(status)%500}
		fuzzed.token = fuzzed.repeat(tokenPiece, int(tokenRepeat))
		fuzzed.code = fuzzed.repeat(code, int(codeRepeat))
		fuzzed.desc = fuzzed.repeat(desc, int(descRepeat)) + fuzzed.echo(echoAt, echoLen, echoUpper)
		a, ok := fuzzed.answer()
		if !ok {
			return // over the response limit
		}
		start, measured := processCPUTime()
		err := handleHostile(context.Background(), a)
		if end, ok := processCPUTime(); measured && ok && time.Duration(end-start) > maxAnswerCPU {
			t.Errorf("handling an answer of %d bytes took %v of CPU time", len(a.body), time.Duration(end-start))
		}
		if err == nil {
			t.Fatal("no error")
		}
		// The token is periodic: its windows are those of a few periods.
		secrets := []string{strings.Repeat(tokenPiece, min(int(tokenRepeat), minFragmentRunes+2)), hostileSecret}
		for _, text := range redactedTexts(err) {
			// The markers are the redactor's text, not the server's.
			for _, part := range strings.Split(text, redactedMarker) {
				for _, secret := range secrets {
					if fragment, ok := leakedFragment(part, secret); ok {
						t.Fatalf("%q is left in %q", fragment, text)
					}
				}
			}
		}
	})
}

// fuzzedAnswer is the fields of an answer of FuzzErrorBody.
type fuzzedAnswer struct {
	status            int
	token, code, desc string
}

// repeat repeats piece, made valid UTF-8 (as JSON decoding would), n times at
// most, within the response limit.
func (fa *fuzzedAnswer) repeat(piece string, n int) string {
	piece = strings.ToValidUTF8(piece, "")
	if piece == "" {
		return ""
	}
	return strings.Repeat(piece, min(n, DefaultMaxResponseBytes/len(piece)))
}

// echo returns up to n bytes of the token from at, cut to whole runes.
func (fa *fuzzedAnswer) echo(at uint32, n uint8, upper bool) string {
	if fa.token == "" {
		return ""
	}
	i := int(at % uint32(len(fa.token)))
	s := strings.ToValidUTF8(fa.token[i:min(len(fa.token), i+int(n))], "")
	if upper {
		s = strings.ToUpper(s)
	}
	return s
}

// answer encodes the fields; a 2xx answer is invalid, its token_type being a
// number. It is false when the body is over the response limit.
func (fa *fuzzedAnswer) answer() (hostileAnswer, bool) {
	fields := map[string]any{"access_token": fa.token, "error": fa.code, "error_description": fa.desc}
	if fa.status/100 == 2 {
		fields["token_type"] = 1
	}
	body, err := json.Marshal(fields)
	if err != nil || len(body) > DefaultMaxResponseBytes {
		return hostileAnswer{}, false
	}
	return hostileAnswer{status: fa.status, body: body, token: fa.token, secrets: []string{hostileSecret}}, true
}

// redactedTexts are the texts of err that are redacted as a whole: the sanitised
// fields of a *ResponseError (its Error() joins them to text of its own), or
// the message of any other error.
func redactedTexts(err error) []string {
	var re *ResponseError
	if errors.As(err, &re) {
		return []string{re.ErrorCode, re.Description}
	}
	return []string{err.Error()}
}
