package oauthtest

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// A client that sends a JWT client assertion is authenticated by
// Config.VerifyAssertion, given the client_id and the assertion as sent.
func TestAssertionClientAuthentication(t *testing.T) {
	verify := func(clientID, assertion string) error {
		if clientID == "app" && assertion == "a.good.jwt" {
			return nil
		}
		return errors.New("refused")
	}
	form := func(kv ...string) []byte {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return []byte(v.Encode())
	}
	withVerifier := newServer(t, Config{Kind: RFC6749, VerifyAssertion: verify})
	without := newServer(t, Config{Kind: RFC6749})
	tests := []struct {
		name   string
		s      *Server
		body   []byte
		header map[string]string
		status int
		code   string
	}{
		{"verified", withVerifier, form("client_id", "app", "client_assertion_type", ClientAssertionType, "client_assertion", "a.good.jwt"), nil, http.StatusOK, ""},
		{"refused by the verifier", withVerifier, form("client_id", "app", "client_assertion_type", ClientAssertionType, "client_assertion", "a.bad.jwt"), nil, http.StatusUnauthorized, "invalid_client"},
		{"another client id", withVerifier, form("client_id", "other", "client_assertion_type", ClientAssertionType, "client_assertion", "a.good.jwt"), nil, http.StatusUnauthorized, "invalid_client"},
		{"no client id", withVerifier, form("client_assertion_type", ClientAssertionType, "client_assertion", "a.good.jwt"), nil, http.StatusUnauthorized, "invalid_client"},
		{"wrong assertion type", withVerifier, form("client_id", "app", "client_assertion_type", "urn:other", "client_assertion", "a.good.jwt"), nil, http.StatusBadRequest, "invalid_request"},
		{"with a client secret too", withVerifier, form("client_id", "app", "client_secret", "pw", "client_assertion_type", ClientAssertionType, "client_assertion", "a.good.jwt"), nil, http.StatusBadRequest, "invalid_request"},
		{"with Basic too", withVerifier, form("client_id", "app", "client_assertion_type", ClientAssertionType, "client_assertion", "a.good.jwt"),
			map[string]string{"Authorization": "Basic aWQ6cHc="}, http.StatusBadRequest, "invalid_request"},
		{"no verifier configured", without, form("client_id", "app", "client_assertion_type", ClientAssertionType, "client_assertion", "a.good.jwt"), nil, http.StatusUnauthorized, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, tt.s, http.MethodPost, "/oauth2/token", mediaForm, tt.body, tt.header)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d (%v)", a.status, tt.status, a.body)
			}
			if tt.code != "" && a.body["error"] != tt.code {
				t.Errorf("error %v, want %s", a.body["error"], tt.code)
			}
		})
	}
	if got := withVerifier.Assertions(); len(got) != 7 || got[0] != "a.good.jwt" || got[1] != "a.bad.jwt" {
		t.Errorf("Assertions() = %q, want the 7 assertions sent, in order", got)
	}
}
