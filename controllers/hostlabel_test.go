package controllers

import (
	"errors"
	"testing"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/metrics"
)

// patternHosts allows the hosts of its map, each under its pattern.
type patternHosts map[string]string

func (h patternHosts) CheckHost(host string) error {
	if _, ok := h[host]; !ok {
		return errors.New("not allowed")
	}
	return nil
}

func (h patternHosts) Pattern(host string) string { return h[host] }

// A preset's requests are labelled by its name only while they go to its own
// host: a key file's token_uri elsewhere is labelled by the allowed pattern
// its host matches, and a tenant's host never becomes a label.
func TestHostLabel(t *testing.T) {
	r := &OAuthClientReconciler{TokenHosts: patternHosts{"oauth2.googleapis.com": "oauth2.googleapis.com", "sts.example.com": "*.example.com"}}
	google := &tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderGoogle}
	for _, tt := range []struct {
		ep   *tokenatorv1.OAuthEndpoint
		host string
		want string
	}{
		{google, "oauth2.googleapis.com", "google"},
		{&tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderLucca}, "accounts.world.luccasoftware.com", "lucca"},
		{&tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderLuxclusif, Environment: "sandbox"}, "sandbox-sts.luxclusif.com", "luxclusif"},
		{google, "sts.example.com", "*.example.com"},
		{google, "evil.test", metrics.HostOther},
		{&tokenatorv1.OAuthEndpoint{TokenURL: "https://sts.example.com/token"}, "sts.example.com", "*.example.com"},
		{&tokenatorv1.OAuthEndpoint{TokenURL: "https://10.0.0.1:8443/token"}, "10.0.0.1", metrics.HostOther},
	} {
		if got := r.hostLabel(tt.ep, tt.host); got != tt.want {
			t.Errorf("hostLabel(%+v, %q) = %q, want %q", tt.ep, tt.host, got, tt.want)
		}
	}
}
