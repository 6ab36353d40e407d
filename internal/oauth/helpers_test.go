package oauth_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// fixedNow is the client clock of most tests: far from the zero time, and
// close enough to the real time that JWTs issued by the servers are valid.
var fixedNow = time.Now().UTC().Truncate(time.Second)

// startServer starts an oauthtest server closed at the end of the test.
func startServer(t *testing.T, cfg oauthtest.Config) *oauthtest.Server {
	t.Helper()
	s := oauthtest.NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// httpClient trusts caPEM; its idle connections are closed at the end.
func httpClient(t *testing.T, caPEM []byte, timeout time.Duration) *http.Client {
	t.Helper()
	hc, err := oauth.NewHTTPClient(oauth.HTTPOptions{CABundle: caPEM, Timeout: timeout})
	if err != nil {
		t.Fatalf("NewHTTPClient: %v", err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// clientFor returns an oauth.Client that trusts the server, with the clock
// fixed at fixedNow.
func clientFor(t *testing.T, caPEM []byte) *oauth.Client {
	t.Helper()
	return &oauth.Client{HTTPClient: httpClient(t, caPEM, 10*time.Second), Now: func() time.Time { return fixedNow }}
}

// startTLS starts a plain httptest TLS server with handler and returns it
// with the PEM of its certificate.
func startTLS(t *testing.T, handler http.Handler) (*httptest.Server, []byte) {
	t.Helper()
	ts := httptest.NewUnstartedServer(handler)
	ts.Config.ErrorLog = discardLogger()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}

// request builds a post-authenticated request for the given server.
func request(url, id, secret string) oauth.Request {
	return oauth.Request{TokenURL: url, ClientID: id, ClientSecret: secret}
}

// mustResponseError asserts err is a *ResponseError and returns it.
func mustResponseError(t *testing.T, err error) *oauth.ResponseError {
	t.Helper()
	var re *oauth.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want a *oauth.ResponseError", err, err)
	}
	return re
}

func requestToken(t *testing.T, c *oauth.Client, r oauth.Request) (*oauth.Token, error) {
	t.Helper()
	return c.RequestToken(context.Background(), r)
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
