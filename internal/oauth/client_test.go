package oauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

func TestRequestTokenProviders(t *testing.T) {
	const id, secret = "client-1", "s3cret-value"
	tests := []struct {
		name       string
		cfg        oauthtest.Config
		req        oauth.Request
		wantPath   string
		wantMedia  string
		wantLife   time.Duration
		wantScope  string
		wantJWT    bool
		wantParams map[string]string
	}{
		{
			name:      "lucca form post",
			cfg:       oauthtest.Config{Kind: oauthtest.Lucca},
			req:       oauth.Request{Encoding: oauth.EncodingForm, Scopes: []string{"users.readonly", "departments.readonly"}},
			wantPath:  "/connect/token",
			wantMedia: "application/x-www-form-urlencoded",
			wantLife:  30 * time.Minute,
			wantScope: "users.readonly departments.readonly",
			wantParams: map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
				"scope": "users.readonly departments.readonly"},
		},
		{
			name:       "lucca default encoding is form, basic auth",
			cfg:        oauthtest.Config{Kind: oauthtest.Lucca},
			req:        oauth.Request{ClientAuth: oauth.ClientAuthBasic},
			wantPath:   "/connect/token",
			wantMedia:  "application/x-www-form-urlencoded",
			wantLife:   30 * time.Minute,
			wantParams: map[string]string{"grant_type": "client_credentials"},
		},
		{
			name:      "luxclusif multipart partner",
			cfg:       oauthtest.Config{Kind: oauthtest.Luxclusif},
			req:       oauth.Request{Encoding: oauth.EncodingMultipart, Scopes: []string{"buyback", "buyback.partner"}},
			wantPath:  "/connect/token",
			wantMedia: "multipart/form-data",
			wantLife:  time.Hour,
			wantScope: "buyback buyback.partner",
			wantParams: map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
				"scope": "buyback buyback.partner"},
		},
		{
			name:      "luxclusif multipart buyer",
			cfg:       oauthtest.Config{Kind: oauthtest.Luxclusif, Lifetime: 2 * time.Hour},
			req:       oauth.Request{Encoding: oauth.EncodingMultipart, Scopes: []string{"buyback", "buyback.buyer"}},
			wantPath:  "/connect/token",
			wantMedia: "multipart/form-data",
			wantLife:  2 * time.Hour,
			wantScope: "buyback buyback.buyer",
			wantParams: map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
				"scope": "buyback buyback.buyer"},
		},
		{
			name:       "json body",
			cfg:        oauthtest.Config{Kind: oauthtest.JSONBody},
			req:        oauth.Request{Encoding: oauth.EncodingJSON},
			wantPath:   "/api/oauth/token",
			wantMedia:  "application/json",
			wantLife:   time.Hour,
			wantJWT:    true,
			wantParams: map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret},
		},
		{
			name:       "rfc6749 basic",
			cfg:        oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "basic", Lifetime: 10 * time.Minute},
			req:        oauth.Request{ClientAuth: oauth.ClientAuthBasic},
			wantPath:   "/oauth2/token",
			wantMedia:  "application/x-www-form-urlencoded",
			wantLife:   10 * time.Minute,
			wantParams: map[string]string{"grant_type": "client_credentials"},
		},
		{
			name:       "rfc6749 post",
			cfg:        oauthtest.Config{Kind: oauthtest.RFC6749, ClientAuth: "post"},
			req:        oauth.Request{ClientAuth: oauth.ClientAuthPost},
			wantPath:   "/oauth2/token",
			wantMedia:  "application/x-www-form-urlencoded",
			wantLife:   time.Hour,
			wantParams: map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Clients = map[string]string{id: secret}
			srv := startServer(t, tt.cfg)
			tt.req.TokenURL, tt.req.ClientID, tt.req.ClientSecret = srv.URL(), id, secret

			tok, err := requestToken(t, clientFor(t, srv.CAPEM()), tt.req)
			if err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			issued := srv.Issued()
			if len(issued) != 1 || tok.AccessToken != issued[0] {
				t.Fatalf("AccessToken is not the issued token (issued %d tokens)", len(issued))
			}
			if got := strings.Count(tok.AccessToken, "."); tt.wantJWT != (got == 2) {
				t.Errorf("token has %d dots, want JWT=%v", got, tt.wantJWT)
			}
			if tok.TokenType != "Bearer" || tok.Scope != tt.wantScope {
				t.Errorf("TokenType, Scope = %q, %q; want Bearer, %q", tok.TokenType, tok.Scope, tt.wantScope)
			}
			if !tok.IssuedAt.Equal(fixedNow) || !tok.ExpiresAt.Equal(fixedNow.Add(tt.wantLife)) ||
				tok.ExpirySource != oauth.ExpirySourceExpiresIn {
				t.Errorf("IssuedAt %v ExpiresAt %v source %q; want %v, %v, expires_in",
					tok.IssuedAt, tok.ExpiresAt, tok.ExpirySource, fixedNow, fixedNow.Add(tt.wantLife))
			}

			last := srv.LastRequest()
			if last.Method != "POST" || last.Path != tt.wantPath {
				t.Errorf("request %s %s, want POST %s", last.Method, last.Path, tt.wantPath)
			}
			if media, _, _ := mime.ParseMediaType(last.ContentType); media != tt.wantMedia {
				t.Errorf("Content-Type %q, want %s", last.ContentType, tt.wantMedia)
			}
			if got := last.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			if got := last.Header.Get("User-Agent"); got != "tokenator" {
				t.Errorf("User-Agent = %q", got)
			}
			if len(last.Params) != len(tt.wantParams) {
				t.Errorf("params %v, want %v", keys(last.Params), keys(tt.wantParams))
			}
			for k, want := range tt.wantParams {
				if last.Params[k] != want {
					t.Errorf("param %s = %q, want %q", k, last.Params[k], want)
				}
			}
			basic := tt.req.ClientAuth == oauth.ClientAuthBasic
			if last.BasicAuth != basic || (basic && (last.BasicUser != id || last.BasicPassword != secret)) {
				t.Errorf("basic auth %v user %q (password match %v), want %v", last.BasicAuth, last.BasicUser, last.BasicPassword == secret, basic)
			}
		})
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRequestTokenWrongEncoding(t *testing.T) {
	tests := []struct {
		kind oauthtest.Kind
		enc  oauth.Encoding
	}{
		{oauthtest.Lucca, oauth.EncodingMultipart},
		{oauthtest.Lucca, oauth.EncodingJSON},
		{oauthtest.Luxclusif, oauth.EncodingForm},
		{oauthtest.Luxclusif, oauth.EncodingJSON},
		{oauthtest.JSONBody, oauth.EncodingForm},
		{oauthtest.JSONBody, oauth.EncodingMultipart},
		{oauthtest.RFC6749, oauth.EncodingJSON},
		{oauthtest.RFC6749, oauth.EncodingMultipart},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+" "+string(tt.enc), func(t *testing.T) {
			srv := startServer(t, oauthtest.Config{Kind: tt.kind, Clients: map[string]string{"id": "secret"}})
			req := request(srv.URL(), "id", "secret")
			req.Encoding = tt.enc
			req.Scopes = []string{"buyback", "buyback.partner"} // valid for Luxclusif
			_, err := requestToken(t, clientFor(t, srv.CAPEM()), req)
			re := mustResponseError(t, err)
			if re.StatusCode != 400 || re.ErrorCode != "invalid_request" || !strings.Contains(re.Description, "Content-Type must be") {
				t.Errorf("got %d %q %q, want 400 invalid_request about the Content-Type", re.StatusCode, re.ErrorCode, re.Description)
			}
			if !strings.HasPrefix(err.Error(), "token endpoint "+srv.URL()+" answered 400 Bad Request: invalid_request: the Content-Type must be ") {
				t.Errorf("Error() = %q", err.Error())
			}
			if n := len(srv.Issued()); n != 0 {
				t.Errorf("%d tokens issued", n)
			}
		})
	}
}

func TestBasicAuthCredentialsEncoding(t *testing.T) {
	// RFC 6749 section 2.3.1: each part is form-url-encoded before joining.
	if got, want := oauth.BasicCredentials("a:b", "p%+ é"),
		"Basic "+base64.StdEncoding.EncodeToString([]byte("a%3Ab:p%25%2B+%C3%A9")); got != want {
		t.Fatalf("BasicCredentials = %q, want %q", got, want)
	}
	pairs := [][2]string{
		{"plain", "plain-secret"},
		{"id:with:colons", "secret:with:colons"},
		{"percent%41id", "100%25%zz"},
		{"plus+id", "a+b+c"},
		{"space id", "  spaced secret  "},
		{"idé日本", "sécret✓ü"},
		{"amp&eq=", "q?x=1&y=2#frag"},
	}
	clients := map[string]string{}
	for _, p := range pairs {
		clients[p[0]] = p[1]
	}
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: clients})
	c := clientFor(t, srv.CAPEM())
	for _, p := range pairs {
		for _, auth := range []oauth.ClientAuthentication{oauth.ClientAuthBasic, oauth.ClientAuthPost} {
			t.Run(string(auth)+" "+p[0], func(t *testing.T) {
				req := request(srv.URL(), p[0], p[1])
				req.ClientAuth = auth
				if _, err := requestToken(t, c, req); err != nil {
					t.Fatalf("RequestToken: %v", err)
				}
				last := srv.LastRequest()
				if auth == oauth.ClientAuthBasic {
					if last.BasicUser != p[0] || last.BasicPassword != p[1] {
						t.Errorf("server decoded %q / %q", last.BasicUser, last.BasicPassword)
					}
					if _, ok := last.Params["client_secret"]; ok {
						t.Error("client_secret sent in the body with basic auth")
					}
				} else if last.Params["client_id"] != p[0] || last.Params["client_secret"] != p[1] {
					t.Errorf("server got %q / %q", last.Params["client_id"], last.Params["client_secret"])
				}
			})
		}
	}
	// The special characters survive the multipart and JSON encodings too.
	for _, kind := range []oauthtest.Kind{oauthtest.Luxclusif, oauthtest.JSONBody, oauthtest.Lucca} {
		srv := startServer(t, oauthtest.Config{Kind: kind, Clients: clients})
		c := clientFor(t, srv.CAPEM())
		enc := map[oauthtest.Kind]oauth.Encoding{oauthtest.Luxclusif: oauth.EncodingMultipart, oauthtest.JSONBody: oauth.EncodingJSON}[kind]
		for _, p := range pairs {
			req := request(srv.URL(), p[0], p[1])
			req.Encoding = enc
			if kind == oauthtest.Luxclusif {
				req.Scopes = []string{"buyback", "buyback.buyer"}
			}
			if _, err := requestToken(t, c, req); err != nil {
				t.Errorf("%s %q: %v", kind, p[0], err)
			}
		}
	}
}

func TestParametersAndHeadersArrive(t *testing.T) {
	for _, enc := range []oauth.Encoding{oauth.EncodingForm, oauth.EncodingMultipart, oauth.EncodingJSON} {
		for _, auth := range []oauth.ClientAuthentication{oauth.ClientAuthBasic, oauth.ClientAuthPost} {
			t.Run(string(enc)+" "+string(auth), func(t *testing.T) {
				// A server that records and answers a token whatever the encoding.
				srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749})
				srv.SetFault(oauthtest.Fault{Status: 200, Body: `{"access_token":"opaque-token","expires_in":60}`})
				req := oauth.Request{
					TokenURL: srv.URL(), Encoding: enc, ClientAuth: auth, ClientID: "the-id", ClientSecret: "the-secret",
					Scopes:          []string{"read", " ", "write:all"},
					Audience:        "https://api.example.com",
					ExtraParameters: map[string]string{"resource": "urn:x", "tenant": "t&=x y"},
					ExtraHeaders: map[string]string{
						"x-real-ip": "10.0.0.1", "Content-Type": "text/plain", "Accept": "text/html",
						"User-Agent": "custom/1.0", "Authorization": "Bearer from-extra-headers",
					},
				}
				tok, err := requestToken(t, clientFor(t, srv.CAPEM()), req)
				if err != nil {
					t.Fatalf("RequestToken: %v", err)
				}
				if tok.AccessToken != "opaque-token" || tok.ExpiresAt.Sub(tok.IssuedAt) != time.Minute {
					t.Errorf("token lifetime %v", tok.ExpiresAt.Sub(tok.IssuedAt))
				}
				last := srv.LastRequest()
				want := map[string]string{"grant_type": "client_credentials", "scope": "read write:all",
					"audience": "https://api.example.com", "resource": "urn:x", "tenant": "t&=x y"}
				if auth == oauth.ClientAuthPost {
					want["client_id"], want["client_secret"] = "the-id", "the-secret"
				}
				if len(last.Params) != len(want) {
					t.Errorf("params %v, want %v", keys(last.Params), keys(want))
				}
				for k, v := range want {
					if last.Params[k] != v {
						t.Errorf("param %s = %q, want %q", k, last.Params[k], v)
					}
				}
				h := last.Header
				if h.Get("X-Real-Ip") != "10.0.0.1" || h.Get("User-Agent") != "custom/1.0" || h.Get("Accept") != "application/json" {
					t.Errorf("headers X-Real-Ip %q User-Agent %q Accept %q", h.Get("X-Real-Ip"), h.Get("User-Agent"), h.Get("Accept"))
				}
				wantType := map[oauth.Encoding]string{oauth.EncodingForm: "application/x-www-form-urlencoded",
					oauth.EncodingMultipart: "multipart/form-data", oauth.EncodingJSON: "application/json"}[enc]
				if media, _, _ := mime.ParseMediaType(last.ContentType); media != wantType {
					t.Errorf("Content-Type %q, want %s", last.ContentType, wantType)
				}
				wantAuth := "Bearer from-extra-headers"
				if auth == oauth.ClientAuthBasic {
					wantAuth = oauth.BasicCredentials("the-id", "the-secret")
				}
				if got := h.Get("Authorization"); got != wantAuth {
					t.Errorf("Authorization = %q, want %q", got, wantAuth)
				}
			})
		}
	}
}

func TestInvalidRequests(t *testing.T) {
	// A secret that is no substring of the messages, which redaction would mask.
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw-8f3e"}})
	c := clientFor(t, srv.CAPEM())
	valid := request(srv.URL(), "id", "pw-8f3e")
	tests := []struct {
		name   string
		modify func(*oauth.Request)
		want   string
	}{
		{"plain http", func(r *oauth.Request) { r.TokenURL = strings.Replace(r.TokenURL, "https", "http", 1) }, "must use https"},
		{"user info", func(r *oauth.Request) { r.TokenURL = strings.Replace(r.TokenURL, "https://", "https://u:p@", 1) }, "must not contain credentials"},
		{"empty URL", func(r *oauth.Request) { r.TokenURL = "" }, "token URL is empty"},
		{"no host", func(r *oauth.Request) { r.TokenURL = "https:///token" }, "has no host"},
		{"bad URL", func(r *oauth.Request) { r.TokenURL = "https://[::1" }, "does not parse"},
		{"empty client ID", func(r *oauth.Request) { r.ClientID = "" }, "client ID is empty"},
		{"unknown encoding", func(r *oauth.Request) { r.Encoding = "xml" }, `unknown encoding "xml"`},
		{"unknown client auth", func(r *oauth.Request) { r.ClientAuth = "jwt" }, `unknown client authentication "jwt"`},
		{"grant_type", func(r *oauth.Request) { r.ExtraParameters = map[string]string{"grant_type": "password"} }, `"grant_type" may not be set`},
		{"client_id", func(r *oauth.Request) { r.ExtraParameters = map[string]string{"client_id": "x"} }, `"client_id" may not be set`},
		{"client_secret", func(r *oauth.Request) { r.ExtraParameters = map[string]string{"client_secret": "x"} }, `"client_secret" may not be set`},
		{"scope", func(r *oauth.Request) { r.ExtraParameters = map[string]string{"scope": "x"} }, `"scope" may not be set`},
		{"client_id with basic", func(r *oauth.Request) {
			r.ClientAuth = oauth.ClientAuthBasic
			r.ExtraParameters = map[string]string{"client_id": "x"}
		}, `"client_id" may not be set`},
		{"audience twice", func(r *oauth.Request) {
			r.Audience = "a"
			r.ExtraParameters = map[string]string{"audience": "b"}
		}, `"audience" conflicts`},
		{"empty parameter name", func(r *oauth.Request) { r.ExtraParameters = map[string]string{"": "x"} }, "empty name"},
		{"header name", func(r *oauth.Request) { r.ExtraHeaders = map[string]string{"Bad Header": "x"} }, "not a valid HTTP header name"},
		{"header Host", func(r *oauth.Request) { r.ExtraHeaders = map[string]string{"host": "evil"} }, `"Host" may not be set`},
		{"header Content-Length", func(r *oauth.Request) { r.ExtraHeaders = map[string]string{"Content-Length": "1"} }, `"Content-Length" may not be set`},
		{"header value", func(r *oauth.Request) { r.ExtraHeaders = map[string]string{"X-Key": "abc\r\nX-Injected: 1"} }, "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := valid
			tt.modify(&req)
			_, err := c.RequestToken(context.Background(), req)
			if !errors.Is(err, oauth.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want ErrInvalidRequest containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "abc") {
				t.Errorf("error quotes a header value: %v", err)
			}
		})
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("server received %d requests for invalid requests", n)
	}
	if _, err := (&oauth.Client{}).RequestToken(context.Background(), valid); !errors.Is(err, oauth.ErrInvalidRequest) {
		t.Errorf("nil HTTPClient: error = %v", err)
	}
	// The valid request works, so the failures above were the modifications.
	if _, err := c.RequestToken(context.Background(), valid); err != nil {
		t.Fatalf("valid request: %v", err)
	}
}
