package oauthtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// client trusts only s.
func client(t *testing.T, s *Server) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM does not parse")
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Clients == nil {
		cfg.Clients = map[string]string{"id": "pw"}
	}
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// post sends a request with the given Content-Type and body.
func post(t *testing.T, s *Server, method, path, contentType string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.BaseURL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client(t, s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func form(values map[string]string) []byte {
	v := url.Values{}
	for k, val := range values {
		v.Set(k, val)
	}
	return []byte(v.Encode())
}

func multipartBody(t *testing.T, values map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range values {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func jsonBody(values map[string]string) []byte {
	b, _ := json.Marshal(values)
	return b
}

const formType = "application/x-www-form-urlencoded"

var goodPost = map[string]string{"grant_type": "client_credentials", "client_id": "id", "client_secret": "pw"}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func expectError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.body["error"] != code {
		t.Errorf("got %d %v, want %d %q", a.status, a.body, status, code)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
	}
}

func TestCommonRejections(t *testing.T) {
	for kind, p := range providers {
		t.Run(string(kind), func(t *testing.T) {
			s := newServer(t, Config{Kind: kind})
			body, ct := form(goodPost), formType
			switch kind {
			case Luxclusif:
				body, ct = multipartBody(t, with(goodPost, "scope", "buyback buyback.partner"))
			case JSONBody:
				body, ct = jsonBody(goodPost), "application/json"
			case Google:
				body = form(googleRequest(t, s, nil, nil))
			}
			accept := map[string]string{"Accept": "application/json"}

			a := post(t, s, http.MethodGet, p.path, "", nil, accept)
			expectError(t, a, http.StatusMethodNotAllowed, "invalid_request")
			if a.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", a.header.Get("Allow"))
			}
			expectError(t, post(t, s, http.MethodPost, "/elsewhere", ct, body, accept), http.StatusNotFound, "not_found")

			a = post(t, s, http.MethodPost, p.path, ct, body, accept)
			if a.status != 200 || a.body["access_token"] == nil || a.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("good request: %d %v", a.status, a.header)
			}

			var wrongGrant, noGrant []byte
			switch kind {
			case Luxclusif:
				wrongGrant, _ = multipartBodyWithBoundary(t, ct, with(goodPost, "grant_type", "password", "scope", "buyback buyback.partner"))
				noGrant, _ = multipartBodyWithBoundary(t, ct, with(goodPost, "grant_type", "<delete>", "scope", "buyback buyback.partner"))
			case JSONBody:
				wrongGrant, noGrant = jsonBody(with(goodPost, "grant_type", "password")), jsonBody(with(goodPost, "grant_type", "<delete>"))
			default:
				wrongGrant, noGrant = form(with(goodPost, "grant_type", "password")), form(with(goodPost, "grant_type", "<delete>"))
			}
			expectError(t, post(t, s, http.MethodPost, p.path, ct, wrongGrant, accept), 400, "unsupported_grant_type")
			expectError(t, post(t, s, http.MethodPost, p.path, ct, noGrant, accept), 400, "invalid_request")
			expectError(t, post(t, s, http.MethodPost, p.path, "text/plain", body, accept), 400, "invalid_request")

			if n := s.Requests(); n != 6 {
				t.Errorf("Requests = %d, want 6", n)
			}
			if n := len(s.Issued()); n != 1 {
				t.Errorf("Issued %d tokens, want 1", n)
			}
		})
	}
}

// multipartBodyWithBoundary encodes values with the boundary of contentType.
func multipartBodyWithBoundary(t *testing.T, contentType string, values map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	boundary := contentType[strings.Index(contentType, "boundary=")+len("boundary="):]
	if err := w.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		_ = w.WriteField(k, v)
	}
	_ = w.Close()
	return buf.Bytes(), contentType
}

func TestLucca(t *testing.T) {
	s := newServer(t, Config{Kind: Lucca, AllowedScopes: []string{"users.readonly", "departments.readonly"}})
	a := post(t, s, http.MethodPost, "/connect/token", formType, form(with(goodPost, "scope", "users.readonly departments.readonly")), nil)
	if a.status != 200 || a.body["expires_in"] != float64(1800) || a.body["token_type"] != "Bearer" ||
		a.body["scope"] != "users.readonly departments.readonly" {
		t.Fatalf("got %d %v", a.status, a.body)
	}
	if tok, _ := a.body["access_token"].(string); len(tok) < 43 || strings.Contains(tok, ".") || s.Issued()[0] != tok {
		t.Errorf("token %q is not a fresh opaque token", tok)
	}
	expectError(t, post(t, s, http.MethodPost, "/connect/token", formType, form(with(goodPost, "scope", "admin")), nil), 400, "invalid_scope")
	expectError(t, post(t, s, http.MethodPost, "/connect/token", formType, form(with(goodPost, "client_secret", "nope")), nil), 400, "invalid_client")
	b, ct := multipartBody(t, goodPost)
	expectError(t, post(t, s, http.MethodPost, "/connect/token", ct, b, nil), 400, "invalid_request")
	expectError(t, post(t, s, http.MethodPost, "/connect/token", "application/json", jsonBody(goodPost), nil), 400, "invalid_request")
	expectError(t, post(t, s, http.MethodPost, "/connect/token", formType, []byte("%zz=1"), nil), 400, "invalid_request")
}

func TestLuxclusifScopes(t *testing.T) {
	s := newServer(t, Config{Kind: Luxclusif})
	send := func(scope string) answer {
		values := goodPost
		if scope != "" {
			values = with(goodPost, "scope", scope)
		}
		b, ct := multipartBody(t, values)
		return post(t, s, http.MethodPost, "/connect/token", ct, b, nil)
	}
	for _, scope := range []string{"buyback buyback.partner", "buyback buyback.buyer"} {
		if a := send(scope); a.status != 200 || a.body["scope"] != scope || a.body["expires_in"] != float64(3600) {
			t.Errorf("scope %q: %d %v", scope, a.status, a.body)
		}
	}
	for _, scope := range []string{"", "buyback", "buyback.partner buyback", "buyback  buyback.partner", "buyback buyback.partner x"} {
		expectError(t, send(scope), 400, "invalid_scope")
	}
	expectError(t, post(t, s, http.MethodPost, "/connect/token", formType, form(with(goodPost, "scope", "buyback buyback.partner")), nil), 400, "invalid_request")

	buyers := newServer(t, Config{Kind: Luxclusif, AllowedScopes: []string{"buyback", "buyback.buyer"}})
	b, ct := multipartBody(t, with(goodPost, "scope", "buyback buyback.partner"))
	expectError(t, post(t, buyers, http.MethodPost, "/connect/token", ct, b, nil), 400, "invalid_scope")
}

func TestJSONBody(t *testing.T) {
	s := newServer(t, Config{Kind: JSONBody, Lifetime: 2 * time.Hour})
	accept := map[string]string{"Accept": "text/plain, application/json;q=0.9"}
	a := post(t, s, http.MethodPost, "/api/oauth/token", "application/json", jsonBody(goodPost), accept)
	if a.status != 200 || a.body["token_type"] != "Bearer" || a.body["expires_in"] != float64(7200) || len(a.body) != 3 {
		t.Fatalf("got %d %v", a.status, a.body)
	}
	tok := a.body["access_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %d segments", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	if math.Abs(exp-iat-7200) > 0.001 || claims["aud"] != "id" {
		t.Errorf("claims %v", claims)
	}
	if sig, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(sig) != 256 {
		t.Errorf("signature: %d bytes, %v", len(sig), err)
	}

	expectError(t, post(t, s, http.MethodPost, "/api/oauth/token", "application/json", jsonBody(goodPost), nil), 406, "invalid_request")
	expectError(t, post(t, s, http.MethodPost, "/api/oauth/token", "application/json", jsonBody(goodPost),
		map[string]string{"Accept": "*/*"}), 406, "invalid_request")
	json := map[string]string{"Accept": "application/json"}
	expectError(t, post(t, s, http.MethodPost, "/api/oauth/token", formType, form(goodPost), json), 400, "invalid_request")
	expectError(t, post(t, s, http.MethodPost, "/api/oauth/token", "application/json", []byte(`["x"]`), json), 400, "invalid_request")
	a = post(t, s, http.MethodPost, "/api/oauth/token", "application/json", jsonBody(with(goodPost, "client_secret", "x")), json)
	expectError(t, a, 401, "invalid_client")
	if a.body["message"] != "Client authentication failed" {
		t.Errorf("error body %v", a.body)
	}
	basic := map[string]string{"Accept": "application/json", "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("id:pw"))}
	expectError(t, post(t, s, http.MethodPost, "/api/oauth/token", "application/json",
		jsonBody(with(goodPost, "client_id", "<delete>", "client_secret", "<delete>")), basic), 401, "invalid_client")

	noExp := newServer(t, Config{Kind: JSONBody, OmitExpiresIn: true})
	a = post(t, noExp, http.MethodPost, "/api/oauth/token", "application/json", jsonBody(goodPost), json)
	if _, ok := a.body["expires_in"]; a.status != 200 || ok {
		t.Errorf("OmitExpiresIn: %d %v", a.status, a.body)
	}
}

func TestRFC6749ClientAuthentication(t *testing.T) {
	basicHeader := func(user, password string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
	}
	noCreds := with(goodPost, "client_id", "<delete>", "client_secret", "<delete>")
	clients := map[string]string{"id": "pw", "a:b": "c%d e+f"}

	s := newServer(t, Config{Kind: RFC6749, Clients: clients})
	ok := func(a answer) {
		t.Helper()
		if a.status != 200 {
			t.Errorf("got %d %v", a.status, a.body)
		}
	}
	ok(post(t, s, http.MethodPost, "/oauth2/token", formType, form(noCreds), basicHeader("id", "pw")))
	ok(post(t, s, http.MethodPost, "/oauth2/token", formType, form(goodPost), nil))
	// Section 2.3.1: each part is form-url-encoded before base64.
	ok(post(t, s, http.MethodPost, "/oauth2/token", formType, form(noCreds), basicHeader(url.QueryEscape("a:b"), url.QueryEscape("c%d e+f"))))
	if last := s.LastRequest(); !last.BasicAuth || last.BasicUser != "a:b" || last.BasicPassword != "c%d e+f" {
		t.Errorf("recorded %v %q %q", last.BasicAuth, last.BasicUser, last.BasicPassword)
	}
	// Not encoded: "c%d" does not unescape.
	a := post(t, s, http.MethodPost, "/oauth2/token", formType, form(noCreds), basicHeader("a%3Ab", "c%d e+f"))
	expectError(t, a, 401, "invalid_client")
	if a.header.Get("WWW-Authenticate") == "" {
		t.Error("401 after Basic without WWW-Authenticate")
	}
	a = post(t, s, http.MethodPost, "/oauth2/token", formType, form(with(goodPost, "client_secret", "bad")), nil)
	expectError(t, a, 401, "invalid_client")
	if a.header.Get("WWW-Authenticate") != "" {
		t.Error("WWW-Authenticate without Basic")
	}
	expectError(t, post(t, s, http.MethodPost, "/oauth2/token", formType, form(goodPost), basicHeader("id", "pw")), 400, "invalid_request")
	expectError(t, post(t, s, http.MethodPost, "/oauth2/token", formType, form(noCreds), nil), 401, "invalid_client")
	expectError(t, post(t, s, http.MethodPost, "/oauth2/token", formType, form(noCreds),
		map[string]string{"Authorization": "Basic !!!"}), 401, "invalid_client")

	basicOnly := newServer(t, Config{Kind: RFC6749, ClientAuth: "basic"})
	expectError(t, post(t, basicOnly, http.MethodPost, "/oauth2/token", formType, form(goodPost), nil), 401, "invalid_client")
	ok(post(t, basicOnly, http.MethodPost, "/oauth2/token", formType, form(noCreds), basicHeader("id", "pw")))
	postOnly := newServer(t, Config{Kind: RFC6749, ClientAuth: "post"})
	expectError(t, post(t, postOnly, http.MethodPost, "/oauth2/token", formType, form(noCreds), basicHeader("id", "pw")), 401, "invalid_client")
	ok(post(t, postOnly, http.MethodPost, "/oauth2/token", formType, form(goodPost), nil))
}

func TestFaults(t *testing.T) {
	s := newServer(t, Config{Kind: RFC6749})
	send := func() answer { return post(t, s, http.MethodPost, "/oauth2/token", formType, form(goodPost), nil) }

	s.SetFault(Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`, RetryAfter: "7", Header: map[string]string{"X-Test": "1"}, Count: 2})
	for i := 0; i < 2; i++ {
		a := send()
		if a.status != 503 || a.header.Get("Retry-After") != "7" || a.header.Get("X-Test") != "1" ||
			a.header.Get("Content-Type") != "application/json" {
			t.Errorf("fault %d: %d %v", i, a.status, a.header)
		}
	}
	if a := send(); a.status != 200 {
		t.Errorf("after Count faults: %d", a.status)
	}
	s.SetFault(Fault{Status: 500, Body: "<html>", ContentType: "text/html"})
	for i := 0; i < 3; i++ {
		if a := send(); a.status != 500 || a.header.Get("Content-Type") != "text/html" {
			t.Errorf("fault until cleared: %d", a.status)
		}
	}
	s.ClearFault()
	s.SetFault(Fault{Delay: time.Millisecond, Count: 1}) // slow but successful
	if a := send(); a.status != 200 {
		t.Errorf("after ClearFault: %d", a.status)
	}
	if s.Requests() != 7 || len(s.Issued()) != 2 {
		t.Errorf("Requests %d, Issued %d", s.Requests(), len(s.Issued()))
	}
}

func TestCloseReleasesDelayedRequests(t *testing.T) {
	s := NewServer(Config{Kind: RFC6749, Clients: map[string]string{"id": "pw"}})
	s.SetFault(Fault{Delay: time.Hour})
	c := client(t, s)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Post(s.URL(), formType, bytes.NewReader(form(goodPost)))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Active() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	if err := <-done; err == nil {
		t.Error("the delayed request succeeded")
	}
	if s.Active() != 0 {
		t.Errorf("Active = %d after Close", s.Active())
	}
}

func TestLastRequestIsACopy(t *testing.T) {
	s := newServer(t, Config{Kind: RFC6749})
	if got := s.LastRequest(); got.Method != "" || len(got.Params) != 0 {
		t.Errorf("zero LastRequest: %+v", got.Method)
	}
	post(t, s, http.MethodPost, "/oauth2/token", formType, form(with(goodPost, "audience", "aud")), map[string]string{"X-Real-Ip": "1.2.3.4"})
	last := s.LastRequest()
	if last.Params["audience"] != "aud" || last.Header.Get("X-Real-Ip") != "1.2.3.4" || last.Path != "/oauth2/token" || last.ContentType != formType {
		t.Errorf("recorded %+v", last.Params)
	}
	last.Params["audience"] = "changed"
	last.Header.Set("X-Real-Ip", "changed")
	if again := s.LastRequest(); again.Params["audience"] != "aud" || again.Header.Get("X-Real-Ip") != "1.2.3.4" {
		t.Error("LastRequest shares its maps")
	}
}

func TestConcurrentRequests(t *testing.T) {
	s := newServer(t, Config{Kind: Lucca})
	c := client(t, s)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Post(s.URL(), formType, bytes.NewReader(form(goodPost)))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			_ = s.Issued()
			_ = s.LastRequest()
		}()
	}
	wg.Wait()
	issued := s.Issued()
	seen := map[string]bool{}
	for _, tok := range issued {
		seen[tok] = true
	}
	if len(issued) != 20 || len(seen) != 20 || s.Requests() != 20 {
		t.Errorf("issued %d (%d distinct), requests %d", len(issued), len(seen), s.Requests())
	}
}

func TestNewServerRejectsUnknownKind(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewServer(Config{Kind: "okta"})
}

func TestServersHaveDistinctCertificates(t *testing.T) {
	a, b := newServer(t, Config{Kind: Lucca}), newServer(t, Config{Kind: Lucca})
	if bytes.Equal(a.CAPEM(), b.CAPEM()) {
		t.Fatal("two servers share a certificate")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.CAPEM())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	if _, err := c.Post(b.URL(), formType, bytes.NewReader(form(goodPost))); err == nil {
		t.Error("a client trusting server a reached server b")
	}
}

// PeakActive is the most requests held at once, then starts again from those
// still held.
func TestPeakActive(t *testing.T) {
	s := NewServer(Config{Kind: RFC6749, Clients: map[string]string{"id": "pw"}})
	defer s.Close()
	c := client(t, s)
	s.SetFault(Fault{Delay: time.Hour})
	done := make(chan struct{}, 3)
	for range 3 {
		go func() {
			if resp, err := c.Post(s.URL(), formType, bytes.NewReader(form(goodPost))); err == nil {
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
	}
	for s.Active() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if p := s.PeakActive(); p != 3 {
		t.Errorf("PeakActive = %d with 3 requests held, want 3", p)
	}
	if p := s.PeakActive(); p != 3 {
		t.Errorf("PeakActive = %d again, want the 3 still held", p)
	}
	s.Close()
	for range 3 {
		<-done
	}
	s.PeakActive()
	if p := s.PeakActive(); p != 0 {
		t.Errorf("PeakActive = %d once none is held, want 0", p)
	}
}
