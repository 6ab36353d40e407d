package oauth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

func TestProviderErrorResponses(t *testing.T) {
	tests := []struct {
		name       string
		cfg        oauthtest.Config
		req        oauth.Request
		wantStatus int
		wantError  string
	}{
		{"luxclusif wrong scope", oauthtest.Config{Kind: oauthtest.Luxclusif},
			oauth.Request{Encoding: oauth.EncodingMultipart, ClientSecret: "pw", Scopes: []string{"buyback"}},
			400, "token endpoint answered 400 Bad Request: invalid_scope: scope must be one of: buyback buyback.partner, buyback buyback.buyer"},
		{"luxclusif missing scope", oauthtest.Config{Kind: oauthtest.Luxclusif},
			oauth.Request{Encoding: oauth.EncodingMultipart, ClientSecret: "pw"},
			400, "token endpoint answered 400 Bad Request: invalid_scope: scope must be one of: buyback buyback.partner, buyback buyback.buyer"},
		{"lucca scope not allowed", oauthtest.Config{Kind: oauthtest.Lucca, AllowedScopes: []string{"users.readonly"}},
			oauth.Request{ClientSecret: "pw", Scopes: []string{"users.readonly", "admin"}},
			400, "token endpoint answered 400 Bad Request: invalid_scope: scope admin is not allowed for this client"},
		{"lucca wrong secret", oauthtest.Config{Kind: oauthtest.Lucca},
			oauth.Request{ClientSecret: "wrong"},
			400, "token endpoint answered 400 Bad Request: invalid_client: Client authentication failed"},
		{"rfc6749 wrong secret, basic", oauthtest.Config{Kind: oauthtest.RFC6749},
			oauth.Request{ClientSecret: "wrong", ClientAuth: oauth.ClientAuthBasic},
			401, "token endpoint answered 401 Unauthorized: invalid_client: Client authentication failed"},
		{"rfc6749 basic not allowed", oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "post"},
			oauth.Request{ClientSecret: "pw", ClientAuth: oauth.ClientAuthBasic},
			401, "token endpoint answered 401 Unauthorized: invalid_client: Client authentication failed"},
		{"rfc6749 unknown client", oauthtest.Config{Kind: oauthtest.RFC6749},
			oauth.Request{ClientID: "nobody", ClientSecret: "pw"},
			401, "token endpoint answered 401 Unauthorized: invalid_client: Client authentication failed"},
		{"json wrong secret", oauthtest.Config{Kind: oauthtest.JSONBody},
			oauth.Request{Encoding: oauth.EncodingJSON, ClientSecret: "wrong"},
			401, "token endpoint answered 401 Unauthorized: invalid_client: Client authentication failed"},
		{"json basic auth", oauthtest.Config{Kind: oauthtest.JSONBody},
			oauth.Request{Encoding: oauth.EncodingJSON, ClientSecret: "pw", ClientAuth: oauth.ClientAuthBasic},
			401, "token endpoint answered 401 Unauthorized: invalid_client: Client authentication failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Clients = map[string]string{"id": "pw"}
			srv := startServer(t, tt.cfg)
			tt.req.TokenURL = srv.URL()
			if tt.req.ClientID == "" {
				tt.req.ClientID = "id"
			}
			_, err := requestToken(t, clientFor(t, srv.CAPEM()), tt.req)
			re := mustResponseError(t, err)
			want := atEndpoint(tt.wantError, srv.URL())
			if re.StatusCode != tt.wantStatus || err.Error() != want || re.RetryAfter != 0 {
				t.Errorf("got %d %q (retry %v), want %d %q", re.StatusCode, err.Error(), re.RetryAfter, tt.wantStatus, want)
			}
		})
	}
}

func TestResponseErrorBodies(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name            string
		status          int
		body            string
		wantCode        string
		wantDescription string
		wantError       string
	}{
		{"rfc error", 400, `{"error":"invalid_grant","error_description":"nope","error_uri":"https://x"}`,
			"invalid_grant", "nope", "token endpoint answered 400 Bad Request: invalid_grant: nope"},
		{"code only", 403, `{"error":"access_denied"}`, "access_denied", "", "token endpoint answered 403 Forbidden: access_denied"},
		{"control characters", 400, `{"error":"bad\u0007code","error_description":"line1\nline2\u0000\u202eend\t."}`,
			"badcode", "line1 line2end .", "token endpoint answered 400 Bad Request: badcode: line1 line2end ."},
		{"long description", 400, `{"error":"invalid_request","error_description":"` + long + `"}`,
			"invalid_request", strings.Repeat("é", 256), "token endpoint answered 400 Bad Request: invalid_request: " + strings.Repeat("é", 256)},
		{"description without error", 400, `{"error_description":"orphan"}`, "", "", "token endpoint answered 400 Bad Request"},
		{"non-string error", 400, `{"error":42,"error_description":"x"}`, "", "", "token endpoint answered 400 Bad Request"},
		{"html", 502, `<html><body>Bad gateway</body></html>`, "", "", "token endpoint answered 502 Bad Gateway"},
		{"unknown status", 599, `{"error":"weird"}`, "weird", "", "token endpoint answered 599: weird"},
		{"status 500 ignores Retry-After", 500, `{"error":"server_error"}`, "server_error", "", "token endpoint answered 500 Internal Server Error: server_error"},
	}
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	c := clientFor(t, srv.CAPEM())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetFault(oauthtest.Fault{Status: tt.status, Body: tt.body, RetryAfter: "30"})
			_, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
			re := mustResponseError(t, err)
			if re.StatusCode != tt.status || re.ErrorCode != tt.wantCode || re.Description != tt.wantDescription || re.RetryAfter != 0 {
				t.Errorf("got %d %q %q %v", re.StatusCode, re.ErrorCode, re.Description, re.RetryAfter)
			}
			if want := atEndpoint(tt.wantError, srv.URL()); err.Error() != want {
				t.Errorf("Error() = %q\nwant      %q", err.Error(), want)
			}
			if n := utf8.RuneCountInString(re.Description); n > 256 {
				t.Errorf("description has %d runes", n)
			}
			for _, r := range re.ErrorCode + re.Description {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Errorf("control character %U kept", r)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	c := clientFor(t, srv.CAPEM()) // its clock is fixedNow
	date := func(d time.Duration) string { return fixedNow.Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		status int
		value  string
		want   time.Duration
	}{
		{429, "120", 2 * time.Minute},
		{503, "0", 0},
		{503, " 7 ", 7 * time.Second},
		{429, date(90 * time.Second), 90 * time.Second},
		{503, date(10 * time.Minute), 10 * time.Minute},
		{429, date(-time.Minute), 0},
		{429, "soon", 0},
		{429, "-5", 0},
		{429, "1.5", 0},
		{429, "99999999999999999999", oauth.MaxLifetime},
		{503, date(48 * time.Hour), 48 * time.Hour},
		{500, "30", 0},
		{502, "30", 0},
		{400, "30", 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.value), func(t *testing.T) {
			srv.SetFault(oauthtest.Fault{Status: tt.status, RetryAfter: tt.value, Body: `{"error":"slow_down"}`})
			_, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
			re := mustResponseError(t, err)
			if re.StatusCode != tt.status || re.RetryAfter != tt.want {
				t.Errorf("got %d RetryAfter %v, want %v", re.StatusCode, re.RetryAfter, tt.want)
			}
			if tt.want > 0 && !strings.HasSuffix(err.Error(), "(retry after "+tt.want.String()+")") {
				t.Errorf("Error() = %q does not tell the delay", err.Error())
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	target := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	origin := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	// One client trusting both, so that only the redirect policy can stop it.
	c := clientFor(t, append(origin.CAPEM(), target.CAPEM()...))
	for _, status := range []int{301, 302, 303, 307, 308} {
		origin.SetFault(oauthtest.Fault{Status: status, Header: map[string]string{"Location": target.URL()}})
		_, err := requestToken(t, c, request(origin.URL(), "id", "pw"))
		re := mustResponseError(t, err)
		want := fmt.Sprintf("token endpoint %s answered %d %s; redirects are not followed", origin.URL(), status, http.StatusText(status))
		if re.StatusCode != status || err.Error() != want {
			t.Errorf("got %d %q, want %q", re.StatusCode, err.Error(), want)
		}
	}
	if n := target.Requests(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
	// The target is reachable by this client: the test would see a follow.
	if _, err := requestToken(t, c, request(target.URL(), "id", "pw")); err != nil {
		t.Fatalf("direct request to the target: %v", err)
	}
}

func TestInvalidSuccessBodies(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{"html", "text/html; charset=utf-8", "<!DOCTYPE html><html><body>Login MARKER</body></html>", "body is HTML or XML, not a JSON object"},
		{"garbage", "text/plain", "MARKER garbage \x00\x01", "body is not a JSON object"},
		{"truncated json", "application/json", `{"access_token":"MARKER"`, "body is not a JSON object"},
		{"trailing data", "application/json", `{"access_token":"MARKER"} {}`, "body is not a JSON object"},
		{"empty", "application/json", "", "empty body"},
		{"whitespace", "application/json", " \n ", "empty body"},
		{"array", "application/json", `[{"access_token":"MARKER"}]`, "body is a JSON array, not a JSON object"},
		{"null", "application/json", `null`, "body is not a JSON object"},
		{"string", "application/json", `"MARKER"`, "body is not a JSON object"},
		{"missing access_token", "application/json", `{"token_type":"Bearer","expires_in":3600,"x":"MARKER"}`, "no access_token"},
		{"null access_token", "application/json", `{"access_token":null}`, "no access_token"},
		{"empty access_token", "application/json", `{"access_token":""}`, "access_token is empty"},
		{"numeric access_token", "application/json", `{"access_token":12345}`, "access_token is not a string"},
		{"object access_token", "application/json", `{"access_token":{"v":"MARKER"}}`, "access_token is not a string"},
		{"numeric token_type", "application/json", `{"access_token":"MARKER","token_type":1}`, "token_type is not a string"},
		{"error with 200", "application/json", `{"error":"invalid_client","error_description":"bad","x":"MARKER"}`,
			"no access_token; the body is an OAuth error response"},
	}
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	c := clientFor(t, srv.CAPEM())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetFault(oauthtest.Fault{Status: 200, Body: tt.body, ContentType: tt.contentType})
			tok, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
			if tok != nil || !errors.Is(err, oauth.ErrInvalidResponse) {
				t.Fatalf("token %v, error %v; want ErrInvalidResponse", tok, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "MARKER") {
				t.Errorf("error %q: want it to contain %q and not quote the body", msg, tt.want)
			}
			if !strings.HasPrefix(msg, "token endpoint "+srv.URL()+" answered 200 OK with ") {
				t.Errorf("error %q does not name the endpoint and status", msg)
			}
			if media, _, _ := strings.Cut(tt.contentType, ";"); media != "" && !strings.Contains(msg, `Content-Type "`+media+`"`) {
				t.Errorf("error %q does not give the Content-Type %q", msg, media)
			}
		})
	}
	t.Run("200 error body gives the code", func(t *testing.T) {
		srv.SetFault(oauthtest.Fault{Status: 200, Body: `{"error":"invalid_client","error_description":"who?"}`})
		_, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
		if err == nil || !strings.HasSuffix(err.Error(), "(error invalid_client: who?): invalid token response: no access_token; the body is an OAuth error response") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("any content type with a JSON object is accepted", func(t *testing.T) {
		srv.SetFault(oauthtest.Fault{Status: 200, ContentType: "text/plain",
			Body: "\ufeff" + `{"access_token":"tok","token_type":"","scope":["a","b"]}`})
		tok, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
		if err != nil {
			t.Fatalf("RequestToken: %v", err)
		}
		if tok.AccessToken != "tok" || tok.TokenType != "Bearer" || tok.Scope != "a b" {
			t.Errorf("got %q %q %q", tok.AccessToken, tok.TokenType, tok.Scope)
		}
	})
	t.Run("other 2xx statuses are parsed", func(t *testing.T) {
		srv.SetFault(oauthtest.Fault{Status: 201, Body: `{"access_token":"tok","token_type":"mac"}`})
		tok, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
		if err != nil || tok.TokenType != "mac" {
			t.Fatalf("token %v, error %v", tok, err)
		}
	})
}

func TestInvalidResponseWithoutContentType(t *testing.T) {
	// The Go server sniffs a Content-Type when none is set, so delete it.
	ts, caPEM := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = nil
		_, _ = w.Write([]byte("MARKER"))
	}))
	c := clientFor(t, caPEM)
	_, err := requestToken(t, c, request(ts.URL+"/token", "id", "pw"))
	if !errors.Is(err, oauth.ErrInvalidResponse) || !strings.Contains(err.Error(), "answered 200 OK with no Content-Type: invalid token response: body is not a JSON object") {
		t.Fatalf("error = %v", err)
	}
}

func TestResponseTooLarge(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	c := clientFor(t, srv.CAPEM())
	c.MaxResponseBytes = 1024
	valid := `{"access_token":"tok"}`

	srv.SetFault(oauthtest.Fault{Status: 200, Body: valid + strings.Repeat(" ", 1024-len(valid))})
	if _, err := requestToken(t, c, request(srv.URL(), "id", "pw")); err != nil {
		t.Fatalf("a body of exactly MaxResponseBytes: %v", err)
	}
	srv.SetFault(oauthtest.Fault{Status: 200, Body: valid + strings.Repeat(" ", 1025-len(valid))})
	_, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
	if !errors.Is(err, oauth.ErrResponseTooLarge) || !strings.Contains(err.Error(), "with a body over 1024 bytes") {
		t.Fatalf("a body of MaxResponseBytes+1: error = %v", err)
	}
	// A too large error answer still reports the status.
	srv.SetFault(oauthtest.Fault{Status: 400, Body: `{"error":"invalid_request","x":"` + strings.Repeat("x", 2000) + `"}`})
	_, err = requestToken(t, c, request(srv.URL(), "id", "pw"))
	if re := mustResponseError(t, err); re.StatusCode != 400 || re.ErrorCode != "" {
		t.Errorf("got %d %q", re.StatusCode, re.ErrorCode)
	}
}

func TestResponseTooLargeIsNotReadToTheEnd(t *testing.T) {
	const total = 256 << 20 // far more than the socket buffers can hold
	done := make(chan int64, 1)
	ts, caPEM := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"access_token":"` + strings.Repeat("a", 32<<10))
		var written int64
		for written < total {
			n, err := w.Write(chunk)
			written += int64(n)
			if err != nil {
				break
			}
		}
		done <- written
	}))
	c := clientFor(t, caPEM)
	c.MaxResponseBytes = 4096
	_, err := requestToken(t, c, request(ts.URL+"/token", "id", "pw"))
	if !errors.Is(err, oauth.ErrResponseTooLarge) {
		t.Fatalf("error = %v, want ErrResponseTooLarge", err)
	}
	c.HTTPClient.CloseIdleConnections()
	select {
	case written := <-done:
		if written >= total {
			t.Errorf("the server wrote the whole %d-byte body: the client read it all", written)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server handler is still writing: the connection was not closed")
	}
}

func TestServerThatHangsTimesOut(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	srv.SetFault(oauthtest.Fault{Delay: time.Hour})
	c := &oauth.Client{HTTPClient: httpClient(t, srv.CAPEM(), 200*time.Millisecond)}
	_, err := requestToken(t, c, request(srv.URL(), "id", "pw"))
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if !strings.HasPrefix(err.Error(), "requesting token from "+srv.URL()+": ") {
		t.Errorf("error %q lacks the prefix", err.Error())
	}
	waitFor(t, "the hanging handler to be released", func() bool { return srv.Active() == 0 })
	if srv.Requests() != 1 {
		t.Errorf("server received %d requests", srv.Requests())
	}

	// A context deadline or cancellation ends the request the same way.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c2 := clientFor(t, srv.CAPEM())
	if _, err := c2.RequestToken(ctx, request(srv.URL(), "id", "pw")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: error = %v", err)
	}
}

// waitFor polls cond; the deadline only guards against a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnknownCertificateAuthority(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	other := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	for name, caPEM := range map[string][]byte{"system roots only": nil, "another server's CA": other.CAPEM()} {
		t.Run(name, func(t *testing.T) {
			_, err := requestToken(t, clientFor(t, caPEM), request(srv.URL(), "id", "pw"))
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Fatalf("error = %v, want x509.UnknownAuthorityError", err)
			}
			if !strings.HasPrefix(err.Error(), "requesting token from "+srv.URL()+": ") {
				t.Errorf("error %q lacks the prefix", err.Error())
			}
		})
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("server received %d requests over untrusted TLS", n)
	}
}

func TestCABundle(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	good := srv.CAPEM()
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("key")})
	block, _ := pem.Decode(good)
	withHeaders := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: block.Bytes})
	tests := []struct {
		name    string
		bundle  []byte
		wantErr bool
	}{
		{"nil", nil, false},
		{"white space", []byte(" \n\t"), false},
		{"good", good, false},
		{"good after junk", append(append([]byte("# comment\n"), badCert...), good...), false},
		{"good after a key", append(slices.Clone(key), good...), false},
		{"certificate with PEM headers", withHeaders, true},
		{"garbage", []byte("not a PEM bundle"), true},
		{"unparsable certificate", badCert, true},
		{"private key only", key, true},
		{"truncated PEM", good[:len(good)/2], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, err := oauth.NewHTTPClient(oauth.HTTPOptions{CABundle: tt.bundle})
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, oauth.ErrInvalidCABundle)) || (err == nil) != (hc != nil) {
				t.Fatalf("client %v, error %v; want error %v wrapping ErrInvalidCABundle", hc != nil, err, tt.wantErr)
			}
		})
	}
}

// atEndpoint puts the endpoint into an expected "token endpoint answered"
// message: the errors of a request name the endpoint they come from.
func atEndpoint(msg, endpoint string) string {
	return strings.Replace(msg, "token endpoint answered", "token endpoint "+endpoint+" answered", 1)
}
