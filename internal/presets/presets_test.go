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
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingForm, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"provider omitted is generic",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", ClientAuthentication: "basic"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingForm, oauth.ClientAuthBasic, tokenatorv1.ClientAuthenticationBasic, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"json-body endpoint",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://partner.example.com/api/oauth/token", Encoding: "json"},
			Endpoint{"https://partner.example.com/api/oauth/token", "partner.example.com", "partner.example.com", oauth.EncodingJSON, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"lucca preset",
			tokenatorv1.OAuthEndpoint{Provider: "lucca"},
			Endpoint{LuccaTokenURL, "accounts.world.luccasoftware.com", "accounts.world.luccasoftware.com", oauth.EncodingForm, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"luxclusif defaults to production",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif"},
			Endpoint{LuxclusifProductionTokenURL, "sts.luxclusif.com", "sts.luxclusif.com", oauth.EncodingMultipart, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"luxclusif sandbox",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif", Environment: "sandbox"},
			Endpoint{LuxclusifSandboxTokenURL, "sandbox-sts.luxclusif.com", "sandbox-sts.luxclusif.com", oauth.EncodingMultipart, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"explicit fields win over the preset",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif", Environment: "sandbox", TokenURL: "https://127.0.0.1:8443/connect/token", Encoding: "form", ClientAuthentication: "basic"},
			Endpoint{"https://127.0.0.1:8443/connect/token", "127.0.0.1:8443", "127.0.0.1", oauth.EncodingForm, oauth.ClientAuthBasic, tokenatorv1.ClientAuthenticationBasic, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"secretJWT sends an assertion",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", ClientAuthentication: "secretJWT"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingForm, oauth.ClientAuthAssertion, tokenatorv1.ClientAuthenticationSecretJWT, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"privateKeyJWT with a preset",
			tokenatorv1.OAuthEndpoint{Provider: "luxclusif", ClientAuthentication: "privateKeyJWT"},
			Endpoint{LuxclusifProductionTokenURL, "sts.luxclusif.com", "sts.luxclusif.com", oauth.EncodingMultipart, oauth.ClientAuthAssertion, tokenatorv1.ClientAuthenticationPrivateKeyJWT, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"serviceAccountToken sends an assertion",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", Encoding: "json", ClientAuthentication: "serviceAccountToken"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingJSON, oauth.ClientAuthAssertion, tokenatorv1.ClientAuthenticationServiceAccountToken, tokenatorv1.GrantClientCredentials, ""}, ""},
		{"tls with a preset",
			tokenatorv1.OAuthEndpoint{Provider: "lucca", ClientAuthentication: "tls"},
			Endpoint{LuccaTokenURL, "accounts.world.luccasoftware.com", "accounts.world.luccasoftware.com", oauth.EncodingForm, oauth.ClientAuthTLS, tokenatorv1.ClientAuthenticationTLS, tokenatorv1.GrantClientCredentials, ""}, ""},
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
		{"serviceAccountToken sends an assertion",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://login.example.com/t/oauth2/v2.0/token", ClientAuthentication: "serviceAccountToken"},
			Endpoint{"https://login.example.com/t/oauth2/v2.0/token", "login.example.com", "login.example.com", oauth.EncodingForm, oauth.ClientAuthAssertion, "serviceAccountToken", tokenatorv1.GrantClientCredentials, ""}, ""},
		{"serviceAccountToken with the json encoding",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", Encoding: "json", ClientAuthentication: "serviceAccountToken"},
			Endpoint{"https://idp.example.com/token", "idp.example.com", "idp.example.com", oauth.EncodingJSON, oauth.ClientAuthAssertion, "serviceAccountToken", tokenatorv1.GrantClientCredentials, ""}, ""},
		{"the internal assertion method is not a spec value",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", ClientAuthentication: "assertion"}, Endpoint{}, `unknown method "assertion"`},
		{"google preset: jwtBearer, none, scopes in the assertion",
			tokenatorv1.OAuthEndpoint{Provider: "google"},
			Endpoint{GoogleTokenURL, "oauth2.googleapis.com", "oauth2.googleapis.com", oauth.EncodingForm, oauth.ClientAuthNone, tokenatorv1.ClientAuthenticationNone, tokenatorv1.GrantJWTBearer, tokenatorv1.ScopeInAssertion}, ""},
		{"google preset with the scopes in the body",
			tokenatorv1.OAuthEndpoint{Provider: "google", JWTBearer: &tokenatorv1.JWTBearer{ScopeIn: "body"}, ClientAuthentication: "post"},
			Endpoint{GoogleTokenURL, "oauth2.googleapis.com", "oauth2.googleapis.com", oauth.EncodingForm, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantJWTBearer, tokenatorv1.ScopeInBody}, ""},
		{"jwtBearer scopes default to the body",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://login.salesforce.com/services/oauth2/token", Grant: "jwtBearer"},
			Endpoint{"https://login.salesforce.com/services/oauth2/token", "login.salesforce.com", "login.salesforce.com", oauth.EncodingForm, oauth.ClientAuthNone, tokenatorv1.ClientAuthenticationNone, tokenatorv1.GrantJWTBearer, tokenatorv1.ScopeInBody}, ""},
		{"tokenExchange keeps post",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://sts.example.com/token", Grant: "tokenExchange"},
			Endpoint{"https://sts.example.com/token", "sts.example.com", "sts.example.com", oauth.EncodingForm, oauth.ClientAuthPost, tokenatorv1.ClientAuthenticationPost, tokenatorv1.GrantTokenExchange, ""}, ""},
		{"google preset with clientCredentials refuses none",
			tokenatorv1.OAuthEndpoint{Provider: "google", Grant: "clientCredentials", ClientAuthentication: "none"}, Endpoint{}, "none applies only to the grants jwtBearer and tokenExchange"},
		{"unknown grant",
			tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token", Grant: "password"}, Endpoint{}, `unknown grant "password"`},
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

// Grant and GrantKey answer what Resolve and the controller use: the grant a
// spec resolves to, and the key of the credentials Secret a jwtBearer
// assertion is signed with.
func TestGrantAndGrantKey(t *testing.T) {
	google := &tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderGoogle}
	for _, tt := range []struct {
		spec *tokenatorv1.OAuthEndpoint
		want tokenatorv1.Grant
	}{
		{&tokenatorv1.OAuthEndpoint{}, tokenatorv1.GrantClientCredentials},
		{google, tokenatorv1.GrantJWTBearer},
		{&tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderGoogle, Grant: tokenatorv1.GrantTokenExchange}, tokenatorv1.GrantTokenExchange},
		{&tokenatorv1.OAuthEndpoint{Provider: "unknown"}, tokenatorv1.GrantClientCredentials},
	} {
		if got := Grant(tt.spec); got != tt.want {
			t.Errorf("Grant(%+v) = %s, want %s", tt.spec, got, tt.want)
		}
		if ep, err := Resolve(tt.spec); err == nil && ep.Grant != tt.want {
			t.Errorf("Resolve(%+v).Grant = %s, Grant says %s", tt.spec, ep.Grant, tt.want)
		}
	}
	for _, tt := range []struct {
		ref        tokenatorv1.CredentialsSecretReference
		spec       *tokenatorv1.OAuthEndpoint
		field, key string
		keyFile    bool
	}{
		{tokenatorv1.CredentialsSecretReference{}, &tokenatorv1.OAuthEndpoint{}, "privateKeyKey", tokenatorv1.DefaultPrivateKeyKey, false},
		{tokenatorv1.CredentialsSecretReference{}, google, "serviceAccountKeyKey", tokenatorv1.DefaultServiceAccountKeyKey, true},
		{tokenatorv1.CredentialsSecretReference{PrivateKeyKey: "k.pem"}, google, "privateKeyKey", "k.pem", false},
		{tokenatorv1.CredentialsSecretReference{PrivateKeyKey: "k.pem", ServiceAccountKeyKey: "sa.json"}, &tokenatorv1.OAuthEndpoint{}, "serviceAccountKeyKey", "sa.json", true},
	} {
		field, key, keyFile := GrantKey(&tt.ref, tt.spec)
		if field != tt.field || key != tt.key || keyFile != tt.keyFile {
			t.Errorf("GrantKey(%+v, %+v) = %s %s %v, want %s %s %v", tt.ref, tt.spec, field, key, keyFile, tt.field, tt.key, tt.keyFile)
		}
	}
}
