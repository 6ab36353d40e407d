package presets

import (
	"strings"
	"testing"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		spec    tokenatorv1.OAuthEndpoint
		want    Endpoint
		wantErr string
	}{
		{"generic defaults to form and post",
			tokenatorv1.OAuthEndpoint{Provider: "generic", TokenURL: "https://idp.example.com/token"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingForm, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost}, ""},
		{"provider omitted is generic",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", ClientAuthentication: "basic"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingForm, oauth.ClientAuthBasic, tokenatorv1.ClientAuthenticationBasic}, ""},
		{"json-body endpoint",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://partner.example.com/api/oauth/token", Encoding: "json"},
			Endpoint{"https://partner.example.com/api/oauth/token", "partner.example.com", "partner.example.com", oauth.EncodingJSON, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost}, ""},
		{"lucca preset",
			tokenatorv1.OAuthEndpoint{Provider: "lucca"},
			Endpoint{LuccaTokenURL, "accounts.world.luccasoftware.com", "accounts.world.luccasoftware.com", oauth.EncodingForm, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost}, ""},
		{"luxclusif defaults to production",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif"},
			Endpoint{LuxclusifProductionTokenURL, "sts.luxclusif.com", "sts.luxclusif.com", oauth.EncodingMultipart, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost}, ""},
		{"luxclusif sandbox",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif", Environment: "sandbox"},
			Endpoint{LuxclusifSandboxTokenURL, "sandbox-sts.luxclusif.com", "sandbox-sts.luxclusif.com", oauth.EncodingMultipart, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost}, ""},
		{"explicit fields win over the preset",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif", Environment: "sandbox", TokenURL: "https://127.0.0.1:8443/connect/token", Encoding: "form", ClientAuthentication: "basic"},
			Endpoint{"https://127.0.0.1:8443/connect/token", "127.0.0.1:8443", "127.0.0.1", oauth.EncodingForm, oauth.ClientAuthBasic, tokenatorv1.ClientAuthenticationBasic}, ""},
		{"secretJWT sends an assertion",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", ClientAuthentication: "secretJWT"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingForm, oauth.ClientAuthAssertion, tokenatorv1.ClientAuthenticationSecretJWT}, ""},
		{"privateKeyJWT with a preset",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif", ClientAuthentication: "privateKeyJWT"},
			Endpoint{LuxclusifProductionTokenURL, "sts.luxclusif.com", "sts.luxclusif.com", oauth.EncodingMultipart, oauth.ClientAuthAssertion, tokenatorv1.ClientAuthenticationPrivateKeyJWT}, ""},
		{"serviceAccountToken sends an assertion",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", Encoding: "json", ClientAuthentication: "serviceAccountToken"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingJSON, oauth.ClientAuthAssertion, tokenatorv1.ClientAuthenticationServiceAccountToken}, ""},
		{"tls with a preset",
			tokenatorv1.OAuthEndpoint{Provider: "lucca", ClientAuthentication: "tls"},
			Endpoint{LuccaTokenURL, "accounts.world.luccasoftware.com", "accounts.world.luccasoftware.com", oauth.EncodingForm, oauth.ClientAuthTLS, tokenatorv1.ClientAuthenticationTLS}, ""},
		{"generic without tokenURL",
			tokenatorv1.OAuthEndpoint{Provider: "generic"}, Endpoint{}, "spec.tokenURL is required"},
		{"plain http refused",
			tokenatorv1.OAuthEndpoint{TokenURL: "http://idp.example.com/token"}, Endpoint{}, "https://"},
		{"user information refused",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://user:pw@idp.example.com/token"}, Endpoint{}, "without user information"},
		{"environment on lucca",
			tokenatorv1.OAuthEndpoint{Provider: "lucca", Environment: "sandbox"}, Endpoint{}, "applies only to provider luxclusif"},
		{"unknown provider",
			tokenatorv1.OAuthEndpoint{Provider: "okta"}, Endpoint{}, `unknown provider "okta"`},
		{"unknown encoding",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", Encoding: "xml"}, Endpoint{}, `unknown encoding "xml"`},
		{"unknown client authentication",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", ClientAuthentication: "jwt"}, Endpoint{}, `unknown method "jwt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(&tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
