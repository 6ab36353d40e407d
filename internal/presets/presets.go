// Package presets holds the token endpoints tokenator knows by name and resolves
// an OAuthClient spec into the endpoint settings of its token request.
package presets

import (
	"fmt"
	"net/url"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// Endpoint is where and how a token request is sent.
type Endpoint struct {
	TokenURL string
	// Host is the URL's host and port, as in url.URL.Host (the key of the
	// per-host request bound); Hostname is the host without port.
	Host, Hostname string
	Encoding       oauth.Encoding
	// ClientAuth is how the request carries the client authentication;
	// Method is the API method it comes from (several methods send an
	// assertion), which says what material the request needs.
	ClientAuth oauth.ClientAuthentication
	Method     tokenatorv1.ClientAuthentication
	// Grant is the grant of the request; ScopeIn, for jwtBearer, where its
	// scopes go.
	Grant   tokenatorv1.Grant
	ScopeIn tokenatorv1.ScopeIn
}

// The preset endpoints, from the providers' documentation.
const (
	LuccaTokenURL               = "https://accounts.world.luccasoftware.com/connect/token"
	LuxclusifSandboxTokenURL    = "https://sandbox-sts.luxclusif.com/connect/token"
	LuxclusifProductionTokenURL = "https://sts.luxclusif.com/connect/token"
	// GoogleTokenURL is the token_uri of Google's service account keys.
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
)

// clientAuth is how each API method is carried by a token request.
var clientAuth = map[tokenatorv1.ClientAuthentication]oauth.ClientAuthentication{
	tokenatorv1.ClientAuthenticationPost:                oauth.ClientAuthPost,
	tokenatorv1.ClientAuthenticationBasic:               oauth.ClientAuthBasic,
	tokenatorv1.ClientAuthenticationSecretJWT:           oauth.ClientAuthAssertion,
	tokenatorv1.ClientAuthenticationPrivateKeyJWT:       oauth.ClientAuthAssertion,
	tokenatorv1.ClientAuthenticationServiceAccountToken: oauth.ClientAuthAssertion,
	tokenatorv1.ClientAuthenticationTLS:                 oauth.ClientAuthTLS,
	tokenatorv1.ClientAuthenticationNone:                oauth.ClientAuthNone,
}

// grantTypes is the grant_type of each grant.
var grantTypes = map[tokenatorv1.Grant]oauth.Grant{
	tokenatorv1.GrantClientCredentials: oauth.GrantClientCredentials,
	tokenatorv1.GrantJWTBearer:         oauth.GrantJWTBearer,
	tokenatorv1.GrantTokenExchange:     oauth.GrantTokenExchange,
}

// GrantType is the grant_type of ep's grant.
func (ep Endpoint) GrantType() oauth.Grant { return grantTypes[ep.Grant] }

// Resolve returns the endpoint of spec: the preset of spec.provider, with every
// field the spec sets explicitly taking precedence.
func Resolve(spec *tokenatorv1.OAuthEndpoint) (Endpoint, error) {
	preset, err := presetOf(spec)
	if err != nil {
		return Endpoint{}, err
	}
	ep := preset
	ep.Method = tokenatorv1.ClientAuthenticationPost
	if spec.TokenURL != "" {
		ep.TokenURL = spec.TokenURL
	}
	if spec.Encoding != "" {
		ep.Encoding = oauth.Encoding(spec.Encoding)
	}
	if err := resolveGrant(spec, &ep); err != nil {
		return Endpoint{}, err
	}
	if spec.ClientAuthentication != "" {
		ep.Method = spec.ClientAuthentication
	}
	if ep.TokenURL == "" {
		return Endpoint{}, fmt.Errorf("spec.tokenURL is required when provider is generic")
	}
	u, err := url.Parse(ep.TokenURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return Endpoint{}, fmt.Errorf("spec.tokenURL must be an absolute https:// URL without user information")
	}
	ep.Host, ep.Hostname = u.Host, u.Hostname()
	switch ep.Encoding {
	case oauth.EncodingForm, oauth.EncodingMultipart, oauth.EncodingJSON:
	default:
		return Endpoint{}, fmt.Errorf("spec.encoding: unknown encoding %q; use form, multipart or json", ep.Encoding)
	}
	var ok bool
	if ep.ClientAuth, ok = clientAuth[ep.Method]; !ok {
		return Endpoint{}, fmt.Errorf("spec.clientAuthentication: unknown method %q; use post, basic, secretJWT, privateKeyJWT, tls, serviceAccountToken or none", ep.Method)
	}
	if ep.Method == tokenatorv1.ClientAuthenticationNone && ep.Grant == tokenatorv1.GrantClientCredentials {
		return Endpoint{}, fmt.Errorf("spec.clientAuthentication: none applies only to the grants jwtBearer and tokenExchange")
	}
	return ep, nil
}

// resolveGrant sets the grant of ep (spec's, else the preset's, else
// clientCredentials), where the jwtBearer scopes go, and the default method
// of the grant: none for jwtBearer, whose assertion is the credential.
func resolveGrant(spec *tokenatorv1.OAuthEndpoint, ep *Endpoint) error {
	ep.Grant = grantOf(spec, ep.Grant)
	if _, ok := grantTypes[ep.Grant]; !ok {
		return fmt.Errorf("spec.grant: unknown grant %q; use clientCredentials, jwtBearer or tokenExchange", ep.Grant)
	}
	if ep.Grant != tokenatorv1.GrantJWTBearer {
		ep.ScopeIn = ""
		return nil
	}
	ep.Method = tokenatorv1.ClientAuthenticationNone
	if b := spec.JWTBearer; b != nil && b.ScopeIn != "" {
		ep.ScopeIn = b.ScopeIn
	}
	if ep.ScopeIn == "" {
		ep.ScopeIn = tokenatorv1.ScopeInBody
	}
	return nil
}

// grantOf is spec's grant, else the preset's (presetGrant), else
// clientCredentials.
func grantOf(spec *tokenatorv1.OAuthEndpoint, presetGrant tokenatorv1.Grant) tokenatorv1.Grant {
	switch {
	case spec.Grant != "":
		return spec.Grant
	case presetGrant != "":
		return presetGrant
	}
	return tokenatorv1.GrantClientCredentials
}

// Grant is the grant of spec as Resolve resolves it: its own, else its
// preset's (google: jwtBearer), else clientCredentials; for a spec Resolve
// refuses, its own or clientCredentials.
func Grant(spec *tokenatorv1.OAuthEndpoint) tokenatorv1.Grant {
	preset, _ := presetOf(spec)
	return grantOf(spec, preset.Grant)
}

// GrantKey is the key of the credentials Secret ref that holds the key a
// jwtBearer assertion of spec is signed with, the name of its field, and
// whether it is a service account key file: serviceAccountKeyKey when set,
// else privateKeyKey when set, else the google preset's credentials.json or
// the PEM default tls.key.
func GrantKey(ref *tokenatorv1.CredentialsSecretReference, spec *tokenatorv1.OAuthEndpoint) (field, key string, keyFile bool) {
	switch {
	case ref.ServiceAccountKeyKey != "":
		return "serviceAccountKeyKey", ref.ServiceAccountKeyKey, true
	case ref.PrivateKeyKey != "":
		return "privateKeyKey", ref.PrivateKeyKey, false
	case spec.Provider == tokenatorv1.ProviderGoogle:
		return "serviceAccountKeyKey", tokenatorv1.DefaultServiceAccountKeyKey, true
	}
	return "privateKeyKey", tokenatorv1.DefaultPrivateKeyKey, false
}

// presetOf is the preset of spec.provider and spec.environment.
func presetOf(spec *tokenatorv1.OAuthEndpoint) (Endpoint, error) {
	var preset Endpoint
	switch spec.Provider {
	case tokenatorv1.ProviderGeneric, "":
		preset = Endpoint{Encoding: oauth.EncodingForm}
	case tokenatorv1.ProviderLucca:
		preset = Endpoint{TokenURL: LuccaTokenURL, Encoding: oauth.EncodingForm}
	case tokenatorv1.ProviderGoogle:
		preset = Endpoint{TokenURL: GoogleTokenURL, Encoding: oauth.EncodingForm, Grant: tokenatorv1.GrantJWTBearer, ScopeIn: tokenatorv1.ScopeInAssertion}
	case tokenatorv1.ProviderLuxclusif:
		switch spec.Environment {
		case tokenatorv1.EnvironmentProduction, "":
			preset = Endpoint{TokenURL: LuxclusifProductionTokenURL, Encoding: oauth.EncodingMultipart}
		case tokenatorv1.EnvironmentSandbox:
			preset = Endpoint{TokenURL: LuxclusifSandboxTokenURL, Encoding: oauth.EncodingMultipart}
		default:
			return Endpoint{}, fmt.Errorf("spec.environment: unknown environment %q; use sandbox or production", spec.Environment)
		}
	default:
		return Endpoint{}, fmt.Errorf("spec.provider: unknown provider %q; use generic, lucca, luxclusif or google", spec.Provider)
	}
	if spec.Provider != tokenatorv1.ProviderLuxclusif && spec.Environment != "" {
		return Endpoint{}, fmt.Errorf("spec.environment applies only to provider luxclusif")
	}
	return preset, nil
}
