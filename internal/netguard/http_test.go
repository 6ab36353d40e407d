package netguard_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// The guard plugged into the token client: a loopback endpoint works while
// loopback is allowed, and receives nothing once it is denied.
func TestGuardedTokenRequest(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "guarded-secret"}})
	defer srv.Close()
	req := oauth.Request{TokenURL: srv.URL(), ClientID: "id", ClientSecret: "guarded-secret"}

	for _, tt := range []struct {
		name   string
		denied []netip.Prefix
		hosts  []string
		ok     bool
	}{
		{"loopback allowed", netguard.DefaultDeniedNetworks, nil, true},
		{"loopback denied", append(netguard.DefaultDeniedNetworks, netip.MustParsePrefix("127.0.0.0/8")), nil, false},
		{"host allowed by glob", netguard.DefaultDeniedNetworks, []string{"127.0.0.*"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := netguard.New(tt.hosts, tt.denied)
			if err != nil {
				t.Fatal(err)
			}
			hc, err := oauth.NewHTTPClient(oauth.HTTPOptions{CABundle: srv.CAPEM(), DialContext: g.DialContext})
			if err != nil {
				t.Fatal(err)
			}
			before := srv.Requests()
			tok, err := (&oauth.Client{HTTPClient: hc}).RequestToken(context.Background(), req)
			if tt.ok {
				if err != nil || tok.AccessToken == "" {
					t.Fatalf("request failed: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "denied network 127.0.0.0/8") || !errors.Is(err, netguard.ErrRefused) {
				t.Fatalf("error %v, want a refusal naming the denied network", err)
			}
			if strings.Contains(err.Error(), "guarded-secret") {
				t.Fatal("the refusal contains the client secret")
			}
			if srv.Requests() != before {
				t.Fatal("the denied endpoint received a request")
			}
		})
	}
}
