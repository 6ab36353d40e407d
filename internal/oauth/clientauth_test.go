package oauth_test

import (
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// encodingServers are the oauthtest kinds that insist on each encoding.
var encodingServers = []struct {
	encoding oauth.Encoding
	kind     oauthtest.Kind
	scopes   []string
}{
	{oauth.EncodingForm, oauthtest.RFC6749, nil},
	{oauth.EncodingMultipart, oauthtest.Luxclusif, []string{"buyback", "buyback.partner"}},
	{oauth.EncodingJSON, oauthtest.JSONBody, nil},
}

const longSecret = "a-client-secret-long-enough-for-HS512-which-needs-64-bytes-of-key"

func TestAssertionEveryEncoding(t *testing.T) {
	key := oauthtest.NewClientKey(oauthtest.P384)
	for _, es := range encodingServers {
		for _, method := range []string{"privateKeyJWT", "secretJWT"} {
			t.Run(string(es.encoding)+" "+method, func(t *testing.T) {
				srv := startServer(t, oauthtest.Config{Kind: es.kind, ClientAuth: "assertion",
					Clients: map[string]string{"id": longSecret}, ClientKeys: map[string]crypto.PublicKey{"id": key.Public()}})
				cfg := assertion.Config{ClientID: "id", Audience: srv.URL()}
				if method == "privateKeyJWT" {
					cfg.Key = key
				} else {
					cfg.Secret, cfg.Algorithm = []byte(longSecret), "HS512"
				}
				signer, err := assertion.NewSigner(cfg)
				if err != nil {
					t.Fatal(err)
				}
				c := clientFor(t, srv.CAPEM())
				var previous string
				for i := range 2 {
					a, err := signer.Sign(time.Now())
					if err != nil {
						t.Fatal(err)
					}
					tok, err := requestToken(t, c, oauth.Request{TokenURL: srv.URL(), Encoding: es.encoding, ClientAuth: oauth.ClientAuthAssertion,
						ClientID: "id", ClientAssertion: a, Scopes: es.scopes})
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					if tok.AccessToken == "" {
						t.Fatal("no token")
					}
					last := srv.LastRequest()
					p := last.Params
					if p["client_id"] != "id" || p["client_assertion_type"] != oauth.ClientAssertionTypeJWTBearer || p["client_assertion"] != a {
						t.Errorf("params %v", keys(p))
					}
					if _, ok := p["client_secret"]; ok || last.BasicAuth {
						t.Error("the client secret was sent too")
					}
					if a == previous {
						t.Error("the same assertion twice")
					}
					previous = a
				}
			})
		}
	}
}

func TestEmptyAssertionIsInvalidRequest(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	_, err := requestToken(t, clientFor(t, srv.CAPEM()), oauth.Request{TokenURL: srv.URL(), ClientAuth: oauth.ClientAuthAssertion, ClientID: "id"})
	if !errors.Is(err, oauth.ErrInvalidRequest) {
		t.Errorf("error %v, want ErrInvalidRequest", err)
	}
	if srv.Requests() != 0 {
		t.Error("a request was sent")
	}
}

func clientPair(t *testing.T, chainPEM []byte, key crypto.Signer) *tls.Certificate {
	t.Helper()
	pair, err := assertion.KeyPair(chainPEM, oauthtest.PrivateKeyPEM(key), "tls.crt", "tls.key")
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

func TestTLSClientAuthEveryEncoding(t *testing.T) {
	key := oauthtest.NewClientKey(oauthtest.RSA2048)
	chainPEM, rootPEM := oauthtest.IssuedClientCertificate("id", key)
	pair := clientPair(t, chainPEM, key)
	for _, es := range encodingServers {
		t.Run(string(es.encoding), func(t *testing.T) {
			srv := startServer(t, oauthtest.Config{Kind: es.kind, ClientAuth: "tls", ClientCertificates: map[string][]byte{"id": rootPEM}})
			clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
			hc, err := clients.GetWithCertificate(srv.CAPEM(), pair)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(hc.CloseIdleConnections)
			req := oauth.Request{TokenURL: srv.URL(), Encoding: es.encoding, ClientAuth: oauth.ClientAuthTLS, ClientID: "id", Scopes: es.scopes}
			if _, err := requestToken(t, &oauth.Client{HTTPClient: hc}, req); err != nil {
				t.Fatal(err)
			}
			last := srv.LastRequest()
			if len(last.ClientCertificates) != 2 {
				t.Errorf("%d certificates sent, want the chain of 2", len(last.ClientCertificates))
			}
			if p := last.Params; p["client_id"] != "id" || len(p) > 3 {
				t.Errorf("params %v, want grant_type, client_id (and scope)", keys(p))
			}
			// The same CA without the certificate: another client, refused.
			plain, err := clients.Get(srv.CAPEM())
			if err != nil {
				t.Fatal(err)
			}
			if plain == hc {
				t.Fatal("the client with a certificate is the one without")
			}
			t.Cleanup(plain.CloseIdleConnections)
			_, err = requestToken(t, &oauth.Client{HTTPClient: plain}, req)
			if re := mustResponseError(t, err); re.ErrorCode != "invalid_client" {
				t.Errorf("without certificate: %v", err)
			}
		})
	}
}

func TestHTTPClientsByCertificate(t *testing.T) {
	srv := startServer(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	ca := srv.CAPEM()
	key := oauthtest.NewClientKey(oauthtest.P256)
	firstPEM := oauthtest.SelfSignedClientCertificate("id", key, time.Time{})
	first, again := clientPair(t, firstPEM, key), clientPair(t, firstPEM, key)
	renewed := clientPair(t, oauthtest.SelfSignedClientCertificate("id", key, time.Time{}), key)
	clients := oauth.NewHTTPClients(oauth.HTTPOptions{ClientCertificate: renewed})

	a, _ := clients.GetWithCertificate(ca, first)
	b, _ := clients.GetWithCertificate(ca, again)
	c, _ := clients.GetWithCertificate(ca, renewed)
	d, _ := clients.GetWithCertificate(append([]byte("# other\n"), ca...), first)
	none, _ := clients.Get(ca)
	none2, _ := clients.GetWithCertificate(ca, nil)
	if a != b {
		t.Error("one certificate, two clients")
	}
	if a == c {
		t.Error("a renewed certificate reuses the client of the old one")
	}
	if a == d {
		t.Error("another CA bundle reuses the client")
	}
	if none != none2 || none == a {
		t.Error("the client without certificate is not the one of Get")
	}
	if _, err := clients.GetWithCertificate([]byte("garbage"), first); !errors.Is(err, oauth.ErrInvalidCABundle) {
		t.Errorf("garbage bundle: %v", err)
	}
}

// TestNoErrorLeaksAssertions runs the malicious endpoint's paths with a
// client assertion, a jwt-bearer assertion and a subject token, which it
// echoes like a secret: no error holds them or a fragment of them.
func TestNoErrorLeaksAssertions(t *testing.T) {
	m := &malicious{}
	ts, caPEM := startTLS(t, m)
	c := &oauth.Client{HTTPClient: httpClient(t, caPEM, 10*time.Second), MaxResponseBytes: 4 << 10}
	slow := &oauth.Client{HTTPClient: httpClient(t, caPEM, 300*time.Millisecond)}
	uses := map[string]func(a string) oauth.Request{
		"client assertion": func(a string) oauth.Request {
			return oauth.Request{ClientAuth: oauth.ClientAuthAssertion, ClientID: "leak-id", ClientAssertion: a}
		},
		"jwt-bearer": func(a string) oauth.Request {
			return oauth.Request{Grant: oauth.GrantJWTBearer, ClientAuth: oauth.ClientAuthNone, Assertion: a, Scopes: []string{"s"}}
		},
		"token exchange": func(a string) oauth.Request {
			return oauth.Request{Grant: oauth.GrantTokenExchange, ClientAuth: oauth.ClientAuthNone, SubjectToken: a}
		},
	}
	for _, kt := range []oauthtest.KeyType{oauthtest.RSA2048, oauthtest.Ed25519} {
		signer, err := assertion.NewSigner(assertion.Config{ClientID: "leak-id", Audience: ts.URL, Key: oauthtest.NewClientKey(kt)})
		if err != nil {
			t.Fatal(err)
		}
		for use, build := range uses {
			for _, enc := range []oauth.Encoding{oauth.EncodingForm, oauth.EncodingJSON} {
				for _, path := range maliciousPaths {
					t.Run(fmt.Sprint(kt, " ", use, " ", enc, path), func(t *testing.T) {
						a, err := signer.Sign(time.Now())
						if err != nil {
							t.Fatal(err)
						}
						client := c
						if path == "/slow-body" {
							client = slow
						}
						req := build(a)
						req.TokenURL, req.Encoding = ts.URL+path, enc
						_, err = requestToken(t, client, req)
						checkNoJWTLeak(t, m, a, err)
					})
				}
			}
		}
	}
}

// checkNoJWTLeak fails unless err is an error whose texts hold neither the
// JWT a nor its payload or signature, nor a token m issued.
func checkNoJWTLeak(t *testing.T, m *malicious, a string, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	parts := strings.Split(a, ".")
	forbidden := append([]string{a, parts[1], parts[2]}, m.tokens()...)
	texts := []string{err.Error(), fmt.Sprintf("%+v", err)}
	if re, ok := err.(*oauth.ResponseError); ok {
		texts = append(texts, re.ErrorCode, re.Description)
	}
	for _, text := range texts {
		for _, f := range forbidden {
			if leaks(text, f) {
				t.Fatalf("error text leaks the JWT or a token:\n%s", text)
			}
		}
	}
}
