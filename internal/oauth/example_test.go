package oauth_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// The controller's use: one cached HTTP client per CA bundle, one request per
// OAuthClient.
func ExampleClient_RequestToken() {
	idp := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.Lucca, Clients: map[string]string{"my-app": "my-secret"}})
	defer idp.Close()

	clients := oauth.NewHTTPClients(oauth.HTTPOptions{Timeout: 10 * time.Second})
	hc, err := clients.Get(idp.CAPEM())
	if err != nil {
		fmt.Println(err)
		return
	}
	c := &oauth.Client{HTTPClient: hc}
	tok, err := c.RequestToken(context.Background(), oauth.Request{
		TokenURL:     idp.URL(),
		Encoding:     oauth.EncodingForm,
		ClientID:     "my-app",
		ClientSecret: "my-secret",
		Scopes:       []string{"users.readonly"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.Scope, tok.ExpiresAt.Sub(tok.IssuedAt), tok.ExpirySource)

	_, err = c.RequestToken(context.Background(), oauth.Request{TokenURL: idp.URL(), ClientID: "my-app", ClientSecret: "wrong"})
	// The error names the endpoint (here a local one, on a random port).
	fmt.Println(strings.Replace(err.Error(), idp.URL(), "https://accounts.example.com/connect/token", 1))
	// Output:
	// Bearer users.readonly 30m0s expires_in
	// token endpoint https://accounts.example.com/connect/token answered 400 Bad Request: invalid_client: Client authentication failed
}
