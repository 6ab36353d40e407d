package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// maliciousPaths are the error paths a hostile token endpoint can take, each
// echoing the client secret (and the tokens it issues) wherever it can.
var maliciousPaths = []string{
	"/400-rfc-error", "/401-html", "/429-retry-after", "/503-retry-after", "/302-location",
	"/200-html", "/200-content-type", "/200-error", "/200-expired-jwt", "/200-bad-token-type",
	"/200-access-token-object", "/200-too-large", "/400-access-token",
	"/raw-bad-header-line", "/raw-bad-status-line", "/raw-bad-version", "/raw-reason-phrase", "/raw-truncated-body",
	"/raw-bad-content-length", "/raw-bad-transfer-encoding", "/slow-body",
}

// echoedJWTs are the body parameters holding a JWT that malicious echoes.
var echoedJWTs = []string{"client_assertion", "assertion", "subject_token"}

// malicious is a token endpoint that echoes what it receives.
type malicious struct {
	mu     sync.Mutex
	issued []string
}

func (m *malicious) issue(token string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.issued = append(m.issued, token)
	return token
}

func (m *malicious) tokens() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.issued...)
}

func (m *malicious) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	secret := r.PostForm.Get("client_secret")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		secret, _ = body["client_secret"].(string)
		for _, name := range echoedJWTs {
			if a, ok := body[name].(string); ok {
				secret = a
			}
		}
	}
	// A client assertion, a jwt-bearer assertion and a subject token are
	// echoed like a secret.
	for _, name := range echoedJWTs {
		if a := r.PostForm.Get(name); a != "" {
			secret = a
		}
	}
	if _, password, ok := r.BasicAuth(); ok {
		secret, _ = url.QueryUnescape(password)
	}
	auth := r.Header.Get("Authorization")
	// Every form of the secret a server could echo.
	echo := strings.Join([]string{secret, url.QueryEscape(secret), auth, strings.TrimPrefix(auth, "Basic "), quote(secret)}, " | ")
	oneLine := strings.NewReplacer("\r", "", "\n", "").Replace(secret)
	h := w.Header()
	h.Set("X-Echo", oneLine)
	h.Set("WWW-Authenticate", `Basic realm="`+oneLine+`"`)

	jsonBody := func(status int, v map[string]any) {
		h.Set("Content-Type", "application/json; charset="+oneLine)
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, jsonObject(v))
	}
	raw := func(response string) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = buf.WriteString(response)
		_ = buf.Flush()
	}

	switch r.URL.Path {
	case "/400-rfc-error":
		jsonBody(400, map[string]any{"error": secret, "error_description": "you sent " + echo})
	case "/401-html":
		h.Set("Content-Type", "text/html")
		w.WriteHeader(401)
		_, _ = fmt.Fprint(w, "<html>"+echo+"</html>")
	case "/429-retry-after", "/503-retry-after":
		h.Set("Retry-After", oneLine)
		status := 429
		if strings.HasPrefix(r.URL.Path, "/503") {
			status = 503
		}
		jsonBody(status, map[string]any{"error": "slow_down " + secret, "error_description": echo})
	case "/302-location":
		h.Set("Location", "https://127.0.0.1:1/?s="+url.QueryEscape(secret))
		w.WriteHeader(302)
	case "/200-html":
		h.Set("Content-Type", "text/html")
		_, _ = fmt.Fprint(w, "<html>"+echo+"</html>")
	case "/200-content-type":
		h.Set("Content-Type", oneLine+"/"+oneLine+"; a="+oneLine)
		_, _ = fmt.Fprint(w, "garbage "+echo)
	case "/200-error":
		jsonBody(200, map[string]any{"error": secret, "error_description": echo})
	case "/200-expired-jwt":
		token := m.issue(oauthtest.JWT(map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "leak": secret}))
		h.Set("Content-Type", "application/"+token)
		h.Set("X-Token", token)
		jsonBody(200, map[string]any{"access_token": token, "error": token, "error_description": echo + token})
	case "/200-bad-token-type":
		token := m.issue(oauthtest.RandomToken())
		h.Set("Content-Type", "text/"+token+"; s="+oneLine)
		w.WriteHeader(200)
		_, _ = fmt.Fprint(w, jsonObject(map[string]any{"access_token": token, "token_type": map[string]any{"s": echo}, "error": token}))
	case "/200-access-token-object":
		jsonBody(200, map[string]any{"access_token": map[string]any{"s": echo}})
	case "/200-too-large":
		h.Set("Content-Type", "application/json; x="+oneLine)
		_, _ = fmt.Fprint(w, `{"access_token":"`+strings.Repeat(secret, 1+(4<<10)/max(1, len(secret)))+`"}`)
	case "/400-access-token":
		token := m.issue(oauthtest.RandomToken())
		jsonBody(400, map[string]any{"access_token": token, "error": "invalid_request " + token, "error_description": echo + " " + token})
	case "/raw-bad-header-line":
		raw("HTTP/1.1 200 OK\r\nX-Bad " + oneLine + "\r\n\r\n")
	case "/raw-bad-status-line":
		raw("HTTP/1.1 2x0 " + oneLine + "\r\n\r\n")
	case "/raw-bad-version":
		raw(oneLine + " 200 OK\r\n\r\n")
	case "/raw-reason-phrase":
		raw("HTTP/1.1 401 " + oneLine + "\r\nContent-Length: 0\r\n\r\n")
	case "/raw-truncated-body":
		raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"access_token\":\"" + oneLine)
	case "/raw-bad-content-length":
		raw("HTTP/1.1 200 OK\r\nContent-Length: " + oneLine + "\r\n\r\n")
	case "/raw-bad-transfer-encoding":
		raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: " + oneLine + "\r\n\r\n")
	case "/slow-body":
		h.Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = fmt.Fprint(w, `{"access_token":"`+oneLine)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	default:
		http.NotFound(w, r)
	}
}

// jsonObject encodes v; the test controls it, so errors cannot happen.
func jsonObject(v map[string]any) string {
	parts := make([]string, 0, len(v))
	for k, val := range v {
		var enc string
		switch val := val.(type) {
		case string:
			enc = quote(val)
		case map[string]any:
			enc = jsonObject(val)
		default:
			enc = fmt.Sprint(val)
		}
		parts = append(parts, quote(k)+":"+enc)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestNoErrorLeaksSecretsOrTokens(t *testing.T) {
	m := &malicious{}
	ts, caPEM := startTLS(t, m)
	c := &oauth.Client{HTTPClient: httpClient(t, caPEM, 10*time.Second), MaxResponseBytes: 4 << 10}
	// /slow-body only ends with the timeout.
	slow := &oauth.Client{HTTPClient: httpClient(t, caPEM, 300*time.Millisecond)}
	secrets := []struct {
		name, id, secret string
	}{
		{"simple", "leak-id", "Sup3rS3cretValue42"},
		{"special characters", "id:with%odd", "S3cret:with%odd+chars é/?&=\"\\<>"},
		{"trailing newline", "leak-id", "Tr41lingNewl1neS3cret\n"},
	}
	for _, s := range secrets {
		for _, auth := range []oauth.ClientAuthentication{oauth.ClientAuthPost, oauth.ClientAuthBasic} {
			forbidden := []string{
				s.secret, strings.TrimSpace(s.secret), url.QueryEscape(s.secret), url.QueryEscape(strings.TrimSpace(s.secret)),
				strings.Trim(strconv.Quote(s.secret), `"`), strings.Trim(strconv.Quote(strings.TrimSpace(s.secret)), `"`),
				strings.Trim(quote(s.secret), `"`), strings.Trim(quote(strings.TrimSpace(s.secret)), `"`),
				strings.TrimPrefix(oauth.BasicCredentials(s.id, s.secret), "Basic "),
				base64.StdEncoding.EncodeToString([]byte(s.id + ":" + s.secret)),
			}
			for _, path := range maliciousPaths {
				t.Run(s.name+" "+string(auth)+path, func(t *testing.T) {
					req := oauth.Request{TokenURL: ts.URL + path, ClientAuth: auth, ClientID: s.id, ClientSecret: s.secret}
					client := c
					if path == "/slow-body" {
						client = slow
					}
					tok, err := requestToken(t, client, req)
					if err == nil {
						t.Fatalf("no error, token %v", tok)
					}
					texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)}
					if re, ok := err.(*oauth.ResponseError); ok {
						texts = append(texts, re.ErrorCode, re.Description)
					}
					for _, text := range texts {
						for _, f := range append(forbidden, m.tokens()...) {
							if leaks(text, f) {
								t.Fatalf("error text leaks a secret or token:\n%s", text)
							}
						}
					}
				})
			}
		}
	}
}

// TestNoErrorLeaksIssuedTokens runs error paths against an oauthtest server
// that has issued tokens, with faults echoing the secret.
func TestNoErrorLeaksIssuedTokens(t *testing.T) {
	const secret = "Echo-Me-If-You-Dare-9"
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": secret}})
	c := clientFor(t, srv.CAPEM())
	for i := 0; i < 3; i++ {
		if _, err := requestToken(t, c, request(srv.URL(), "id", secret)); err != nil {
			t.Fatalf("RequestToken: %v", err)
		}
	}
	faults := []oauthtest.Fault{
		{Status: 400, Body: `{"error":"` + secret + `","error_description":"` + secret + `"}`, ContentType: "text/" + secret},
		{Status: 200, Body: secret, ContentType: secret + "/" + secret},
		{Status: 200, Body: `{"access_token":{}}`, ContentType: "application/" + secret},
		{Status: 429, RetryAfter: secret, Header: map[string]string{"X-Secret": secret}},
	}
	wrongEncoding := request(srv.URL(), "id", secret)
	wrongEncoding.Encoding = oauth.EncodingJSON
	for i, f := range faults {
		srv.SetFault(f)
		_, err := requestToken(t, c, request(srv.URL(), "id", secret))
		checkNoLeak(t, fmt.Sprint("fault ", i), err, append(srv.Issued(), secret))
	}
	srv.ClearFault()
	_, err := requestToken(t, c, wrongEncoding)
	checkNoLeak(t, "wrong encoding", err, append(srv.Issued(), secret))
	_, err = requestToken(t, c, request(srv.URL(), "id", secret+"-wrong"))
	checkNoLeak(t, "wrong secret", err, append(srv.Issued(), secret))
}

func checkNoLeak(t *testing.T, what string, err error, forbidden []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, f := range forbidden {
		if leaks(err.Error(), f) {
			t.Errorf("%s: error leaks a secret or token: %s", what, err)
		}
	}
}

// leaks reports whether text holds secret, or a fragment of 8 runes of it,
// in any letter case.
func leaks(text, secret string) bool {
	text, secret = strings.ToLower(text), strings.ToLower(secret)
	if strings.Contains(text, secret) {
		return true
	}
	runes := []rune(secret)
	for i := 0; i+8 <= len(runes); i++ {
		if strings.Contains(text, string(runes[i:i+8])) {
			return true
		}
	}
	return false
}
