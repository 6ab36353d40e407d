package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider names a token endpoint preset.
// +kubebuilder:validation:Enum=generic;lucca;luxclusif;google
type Provider string

// The providers tokenator knows.
const (
	// ProviderGeneric is any RFC 6749 client-credentials endpoint; tokenURL is required.
	ProviderGeneric Provider = "generic"
	// ProviderLucca is the Lucca API (form encoding, 30-minute tokens).
	ProviderLucca Provider = "lucca"
	// ProviderLuxclusif is the Luxclusif Buyback platform (multipart encoding).
	ProviderLuxclusif Provider = "luxclusif"
	// ProviderGoogle is Google's OAuth 2.0 token endpoint for service
	// accounts: the jwtBearer grant with the scopes in the assertion.
	ProviderGoogle Provider = "google"
)

// Environment selects between a provider's sandbox and production endpoints.
// +kubebuilder:validation:Enum=sandbox;production
type Environment string

// The environments of a provider.
const (
	EnvironmentSandbox    Environment = "sandbox"
	EnvironmentProduction Environment = "production"
)

// Encoding is how the token request body is encoded.
// +kubebuilder:validation:Enum=form;multipart;json
type Encoding string

// The body encodings of a token request.
const (
	EncodingForm      Encoding = "form"
	EncodingMultipart Encoding = "multipart"
	EncodingJSON      Encoding = "json"
)

// ClientAuthentication is how the client authenticates to the token endpoint.
// +kubebuilder:validation:Enum=post;basic;secretJWT;privateKeyJWT;tls;serviceAccountToken;none
type ClientAuthentication string

// The client authentication methods.
const (
	// ClientAuthenticationPost sends client_id and client_secret in the body (client_secret_post).
	ClientAuthenticationPost ClientAuthentication = "post"
	// ClientAuthenticationBasic sends them in an HTTP Basic header (client_secret_basic).
	ClientAuthenticationBasic ClientAuthentication = "basic"
	// ClientAuthenticationSecretJWT sends a JWT assertion signed with the client
	// secret (client_secret_jwt, OpenID Connect Core section 9).
	ClientAuthenticationSecretJWT ClientAuthentication = "secretJWT"
	// ClientAuthenticationPrivateKeyJWT sends a JWT assertion signed with a
	// private key (private_key_jwt, RFC 7523 section 2.2).
	ClientAuthenticationPrivateKeyJWT ClientAuthentication = "privateKeyJWT"
	// ClientAuthenticationTLS presents a client certificate in the TLS handshake
	// (tls_client_auth and self_signed_tls_client_auth, RFC 8705 section 2).
	ClientAuthenticationTLS ClientAuthentication = "tls"
	// ClientAuthenticationServiceAccountToken sends a Kubernetes ServiceAccount
	// token, obtained through the TokenRequest API, as the JWT client assertion.
	ClientAuthenticationServiceAccountToken ClientAuthentication = "serviceAccountToken"
	// ClientAuthenticationNone sends no client credentials (client_id only,
	// when one is set): the grant is the credential. Only with the jwtBearer
	// and tokenExchange grants.
	ClientAuthenticationNone ClientAuthentication = "none"
)

// Grant is the OAuth 2.0 grant of the token request.
// +kubebuilder:validation:Enum=clientCredentials;jwtBearer;tokenExchange
type Grant string

// The grants.
const (
	// GrantClientCredentials is the client credentials grant (RFC 6749
	// section 4.4).
	GrantClientCredentials Grant = "clientCredentials"
	// GrantJWTBearer is the JWT bearer grant (RFC 7523 section 2.1): an
	// assertion signed by tokenator (Google service accounts, Salesforce,
	// DocuSign, Box).
	GrantJWTBearer Grant = "jwtBearer"
	// GrantTokenExchange is the token exchange grant (RFC 8693) of a
	// ServiceAccount token.
	GrantTokenExchange Grant = "tokenExchange"
)

// ScopeIn says where the jwtBearer grant carries the scopes.
// +kubebuilder:validation:Enum=assertion;body
type ScopeIn string

// Where the scopes go.
const (
	// ScopeInAssertion puts the scopes in the scope claim of the assertion
	// (Google).
	ScopeInAssertion ScopeIn = "assertion"
	// ScopeInBody sends them as the scope parameter (RFC 7521 section 4.1).
	ScopeInBody ScopeIn = "body"
)

// JWSAlgorithm is the signing algorithm of a client assertion.
// +kubebuilder:validation:Enum=RS256;PS256;ES256;ES384;ES512;EdDSA;HS256;HS384;HS512
type JWSAlgorithm string

// CertificateThumbprint names the certificate thumbprint header of a client assertion.
// +kubebuilder:validation:Enum=x5t;x5t#S256
type CertificateThumbprint string

// The certificate thumbprint headers (RFC 7515 sections 4.1.7 and 4.1.8).
const (
	CertificateThumbprintSHA1   CertificateThumbprint = "x5t"
	CertificateThumbprintSHA256 CertificateThumbprint = "x5t#S256"
)

// OAuthEndpoint is where and how a token is requested: the fields an
// OAuthClient shares with a ClusterOAuthProvider.
type OAuthEndpoint struct {
	// provider selects a preset for the token endpoint: generic (any RFC 6749
	// client-credentials endpoint), lucca or luxclusif. Unset means generic.
	// +optional
	Provider Provider `json:"provider,omitempty"`

	// environment selects the sandbox or production endpoint of the luxclusif
	// provider. Defaults to production.
	// +optional
	Environment Environment `json:"environment,omitempty"`

	// tokenURL is the https URL of the token endpoint. Required for the generic
	// provider; overrides a preset's URL, and the token_uri of a service
	// account key file.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="tokenURL must be an absolute https:// URL"
	// +optional
	TokenURL string `json:"tokenURL,omitempty"`

	// encoding of the token request body: form (application/x-www-form-urlencoded),
	// multipart (multipart/form-data) or json. Defaults to the preset's encoding,
	// else form.
	// +optional
	Encoding Encoding `json:"encoding,omitempty"`

	// clientAuthentication is how the client authenticates: post puts client_id
	// and client_secret in the body, basic sends an HTTP Basic header (RFC 6749
	// section 2.3.1), secretJWT and privateKeyJWT send a signed JWT assertion
	// (OpenID Connect Core section 9, RFC 7523), tls presents a client
	// certificate (RFC 8705), serviceAccountToken sends a Kubernetes
	// ServiceAccount token as the assertion, none sends no client credentials
	// (jwtBearer and tokenExchange only). Unset means post, and none for the
	// jwtBearer grant.
	// +optional
	ClientAuthentication ClientAuthentication `json:"clientAuthentication,omitempty"`

	// grant is the OAuth 2.0 grant: clientCredentials (RFC 6749 section 4.4),
	// jwtBearer (RFC 7523 section 2.1: an assertion signed with the key of
	// the credentials Secret) or tokenExchange (RFC 8693: a ServiceAccount
	// token as the subject token). Unset means the preset's (google:
	// jwtBearer), else clientCredentials.
	// +optional
	Grant Grant `json:"grant,omitempty"`

	// jwtBearer configures the assertion of the jwtBearer grant.
	// +optional
	JWTBearer *JWTBearer `json:"jwtBearer,omitempty"`

	// tokenExchange configures the subject token of the tokenExchange grant.
	// +optional
	TokenExchange *TokenExchange `json:"tokenExchange,omitempty"`

	// clientID is the client identifier, inline (it is not a secret). When
	// unset it is read from the credentials Secret (credentialsSecretRef.clientIDKey).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[\x20-\x7E]+$`
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// clientAssertion configures the JWT client assertion of the secretJWT,
	// privateKeyJWT and serviceAccountToken methods.
	// +optional
	ClientAssertion *ClientAssertion `json:"clientAssertion,omitempty"`

	// extraParameters are added to the token request body. They may not set
	// grant_type, client_id, client_secret, client_assertion,
	// client_assertion_type, scope, or the parameters of the grants
	// (assertion, subject_token, subject_token_type, requested_token_type,
	// actor_token, actor_token_type). At most 32, keys of at most 253 and
	// values of at most 4096 characters.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && self[k].size() <= 4096)",message="extraParameters keys may be at most 253 and values at most 4096 characters"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k in ['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope'])",message="extraParameters may not set grant_type, client_id, client_secret, client_assertion, client_assertion_type or scope; use the dedicated fields"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k in ['assertion', 'subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type'])",message="extraParameters may not set assertion, subject_token, subject_token_type, requested_token_type, actor_token or actor_token_type; use grant, jwtBearer and tokenExchange"
	// +optional
	ExtraParameters map[string]string `json:"extraParameters,omitempty"`

	// extraHeaders are added to the token request. They may not set Content-Type,
	// Content-Length, Host, or the connection headers (Connection, Keep-Alive,
	// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade). At most 32,
	// names of at most 253 and values of at most 4096 characters.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && self[k].size() <= 4096)",message="extraHeaders names may be at most 253 and values at most 4096 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z0-9!#$%&*+.^_|~-]+$'))",message="extraHeaders keys must be valid HTTP header names"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k.lowerAscii() in ['content-type', 'content-length', 'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])",message="extraHeaders may not set Content-Type, Content-Length, Host or connection headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade)"
	// +optional
	ExtraHeaders map[string]string `json:"extraHeaders,omitempty"`

	// tls configures the trust of the token endpoint's certificate.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// refreshBefore is how long before expiry a new token is requested. When unset,
	// or not shorter than the token's lifetime, a new token is requested once 2/3 of
	// the lifetime has passed.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	RefreshBefore *metav1.Duration `json:"refreshBefore,omitempty"`

	// defaultLifetime is the token lifetime assumed when the response has no
	// expires_in and the token is not a JWT with an exp claim. Defaults to 1h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="defaultLifetime must be at least 10s"
	// +optional
	DefaultLifetime *metav1.Duration `json:"defaultLifetime,omitempty"`
}

// ClientAssertion configures the JWT client assertion (RFC 7523 section 2.2).
type ClientAssertion struct {
	// audience is the aud claim of the assertion; defaults to the tokenURL. For
	// serviceAccountToken it is required: the audience of the ServiceAccount
	// token (for example api://AzureADTokenExchange), which the ServiceAccount
	// must list in its tokenator.dev/token-audiences annotation.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Audience string `json:"audience,omitempty"`

	// lifetime of the assertion: 30s to 1h, default 5m; for serviceAccountToken
	// 10m to 1h, default 10m (the shortest ServiceAccount token the API server issues).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s') && duration(self) <= duration('1h')",message="clientAssertion.lifetime must be between 30s and 1h"
	// +optional
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`

	// algorithm signs the assertion. Defaults from the key: RS256 (RSA),
	// ES256/ES384/ES512 (by curve), EdDSA (Ed25519), HS256 (secretJWT). PS256
	// (RSA) and HS384/HS512 (secretJWT) may be chosen.
	// +optional
	Algorithm JWSAlgorithm `json:"algorithm,omitempty"`

	// keyID is the kid header; defaults to the RFC 7638 thumbprint of the public
	// key (privateKeyJWT); no kid is sent for secretJWT unless set.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	KeyID string `json:"keyID,omitempty"`

	// certificateThumbprint adds the x5t (SHA-1) or x5t#S256 header computed
	// from the certificate in credentialsSecretRef.certificateKey
	// (privateKeyJWT; Entra ID certificate credentials need x5t).
	// +optional
	CertificateThumbprint CertificateThumbprint `json:"certificateThumbprint,omitempty"`

	// serviceAccountName is the ServiceAccount, in the namespace of the
	// OAuthClient (of a ClusterOAuthProvider: in the cluster resource
	// namespace), whose token is the assertion (serviceAccountToken only).
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// JWTBearer configures the assertion of the jwtBearer grant (RFC 7523
// section 2.1), signed with the key of the credentials Secret: a Google
// service account JSON key (credentialsSecretRef.serviceAccountKeyKey) or a
// PEM private key (credentialsSecretRef.privateKeyKey).
type JWTBearer struct {
	// issuer is the iss claim. Defaults to the client_email of a service
	// account key file; required with a PEM key (Salesforce, DocuSign, Box:
	// the client id or integration key).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// subject is the sub claim; none when unset (Google: a user to
	// impersonate with domain-wide delegation; Salesforce, DocuSign, Box: the
	// integration user).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Subject string `json:"subject,omitempty"`

	// audience is the aud claim. Defaults to the token URL.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Audience string `json:"audience,omitempty"`

	// scopeIn is where the scopes go: assertion (the scope claim,
	// space-separated, as Google wants) or body (the scope parameter).
	// Defaults to the preset's (google: assertion), else body.
	// +optional
	ScopeIn ScopeIn `json:"scopeIn,omitempty"`

	// lifetime of the assertion (exp - iat): 1m to 1h, default 1h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('1h')",message="jwtBearer.lifetime must be between 1m and 1h"
	// +optional
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`

	// keyID is the kid header. Defaults to the private_key_id of a service
	// account key file, else the RFC 7638 thumbprint of the public key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	KeyID string `json:"keyID,omitempty"`
}

// TokenExchange configures the tokenExchange grant (RFC 8693): the subject
// token is a token of a ServiceAccount, obtained through the TokenRequest
// API for subjectTokenAudience, which the ServiceAccount must list in its
// tokenator.dev/token-audiences annotation.
type TokenExchange struct {
	// serviceAccountName is the ServiceAccount, in the namespace of the
	// OAuthClient (of a ClusterOAuthProvider: in the cluster resource
	// namespace), whose token is the subject token.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	ServiceAccountName string `json:"serviceAccountName"`

	// subjectTokenAudience is the audience of the ServiceAccount token (for
	// example the STS, sts.googleapis.com, or the IdP's issuer).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +required
	SubjectTokenAudience string `json:"subjectTokenAudience"`

	// requestedTokenType is sent as requested_token_type. Defaults to
	// urn:ietf:params:oauth:token-type:access_token.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[\x21-\x7E]+$`
	// +optional
	RequestedTokenType string `json:"requestedTokenType,omitempty"`

	// resource is sent as the resource parameter (RFC 8707) when set.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Resource string `json:"resource,omitempty"`
}

// OAuthClientSpec is the desired state of an OAuthClient.
// +kubebuilder:validation:XValidation:rule="has(self.providerRef) || (has(self.provider) && self.provider != 'generic') || has(self.tokenURL)",message="tokenURL is required when provider is generic",fieldPath=".tokenURL",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.provider)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove provider",fieldPath=".provider"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.environment)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove environment",fieldPath=".environment"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.tokenURL)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove tokenURL",fieldPath=".tokenURL"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.encoding)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove encoding",fieldPath=".encoding"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.clientAuthentication)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove clientAuthentication",fieldPath=".clientAuthentication"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.clientID)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove clientID",fieldPath=".clientID"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.clientAssertion)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove clientAssertion",fieldPath=".clientAssertion"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.tls)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove tls",fieldPath=".tls"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.extraParameters)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove extraParameters",fieldPath=".extraParameters"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.extraHeaders)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove extraHeaders",fieldPath=".extraHeaders"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.refreshBefore)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove refreshBefore",fieldPath=".refreshBefore"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.defaultLifetime)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove defaultLifetime",fieldPath=".defaultLifetime"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.grant)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove grant",fieldPath=".grant"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.jwtBearer)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove jwtBearer",fieldPath=".jwtBearer"
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef) || !has(self.tokenExchange)",message="providerRef takes the endpoint from the ClusterOAuthProvider; remove tokenExchange",fieldPath=".tokenExchange"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'none' || (has(self.grant) ? self.grant in ['jwtBearer', 'tokenExchange'] : (has(self.provider) && self.provider == 'google'))",message="clientAuthentication none applies only to the grants jwtBearer and tokenExchange",fieldPath=".clientAuthentication"
// +kubebuilder:validation:XValidation:rule="!has(self.jwtBearer) || (has(self.grant) ? self.grant == 'jwtBearer' : (has(self.provider) && self.provider == 'google'))",message="jwtBearer applies only to grant jwtBearer",fieldPath=".jwtBearer"
// +kubebuilder:validation:XValidation:rule="has(self.tokenExchange) == (has(self.grant) && self.grant == 'tokenExchange')",message="grant tokenExchange requires tokenExchange, which applies to it only",fieldPath=".tokenExchange"
// +kubebuilder:validation:XValidation:rule="!has(self.grant) || self.grant != 'jwtBearer' || !has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken'",message="clientAuthentication serviceAccountToken does not combine with grant jwtBearer; use none, or the tokenExchange grant",fieldPath=".clientAuthentication"
// +kubebuilder:validation:XValidation:rule="has(self.providerRef) || !has(self.credentialsSecretRef) || !has(self.credentialsSecretRef.serviceAccountKeyKey) || (has(self.grant) ? self.grant == 'jwtBearer' : (has(self.provider) && self.provider == 'google'))",message="credentialsSecretRef.serviceAccountKeyKey applies only to grant jwtBearer",fieldPath=".credentialsSecretRef.serviceAccountKeyKey"
// +kubebuilder:validation:XValidation:rule="!has(self.grant) || self.grant != 'jwtBearer' || (has(self.credentialsSecretRef) && has(self.credentialsSecretRef.serviceAccountKeyKey)) || (has(self.jwtBearer) && has(self.jwtBearer.issuer))",message="grant jwtBearer with a PEM key requires jwtBearer.issuer (a service account key file names its own)",fieldPath=".jwtBearer.issuer",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.environment) || (has(self.provider) && self.provider == 'luxclusif')",message="environment applies only to provider luxclusif",fieldPath=".environment"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'basic' || !has(self.extraHeaders) || !self.extraHeaders.exists(k, k.lowerAscii() == 'authorization')",message="extraHeaders may not set Authorization when clientAuthentication is basic",fieldPath=".extraHeaders"
// +kubebuilder:validation:XValidation:rule="!has(self.secret) || !has(self.secret.name) || !has(self.credentialsSecretRef) || self.secret.name != self.credentialsSecretRef.name",message="secret.name must differ from credentialsSecretRef.name",fieldPath=".secret.name"
// +kubebuilder:validation:XValidation:rule="has(self.credentialsSecretRef) || has(self.providerRef) || (has(self.clientAuthentication) && self.clientAuthentication == 'serviceAccountToken') || (has(self.grant) && self.grant == 'tokenExchange' && has(self.clientAuthentication) && self.clientAuthentication == 'none')",message="credentialsSecretRef is required unless clientAuthentication is serviceAccountToken (or none with grant tokenExchange) or providerRef names a ClusterOAuthProvider",fieldPath=".credentialsSecretRef",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || (has(self.clientAuthentication) && self.clientAuthentication in ['secretJWT', 'privateKeyJWT', 'serviceAccountToken'])",message="clientAssertion applies only to clientAuthentication secretJWT, privateKeyJWT and serviceAccountToken",fieldPath=".clientAssertion"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken' || (has(self.clientAssertion) && has(self.clientAssertion.serviceAccountName) && has(self.clientAssertion.audience))",message="clientAuthentication serviceAccountToken requires clientAssertion.serviceAccountName and clientAssertion.audience",fieldPath=".clientAssertion",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken' || has(self.clientID) || has(self.credentialsSecretRef)",message="clientAuthentication serviceAccountToken requires clientID (or credentialsSecretRef to read it from)",fieldPath=".clientID",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.serviceAccountName) || (has(self.clientAuthentication) && self.clientAuthentication == 'serviceAccountToken')",message="clientAssertion.serviceAccountName applies only to clientAuthentication serviceAccountToken",fieldPath=".clientAssertion.serviceAccountName"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.algorithm) || (has(self.clientAuthentication) && (self.clientAuthentication == 'secretJWT' ? self.clientAssertion.algorithm in ['HS256', 'HS384', 'HS512'] : (self.clientAuthentication == 'privateKeyJWT' && !(self.clientAssertion.algorithm in ['HS256', 'HS384', 'HS512']))))",message="clientAssertion.algorithm must be HS256, HS384 or HS512 for secretJWT, one of RS256, PS256, ES256, ES384, ES512, EdDSA for privateKeyJWT, and unset for serviceAccountToken",fieldPath=".clientAssertion.algorithm"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.certificateThumbprint) || (has(self.clientAuthentication) && self.clientAuthentication == 'privateKeyJWT')",message="clientAssertion.certificateThumbprint applies only to clientAuthentication privateKeyJWT",fieldPath=".clientAssertion.certificateThumbprint"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.keyID) || (has(self.clientAuthentication) && self.clientAuthentication in ['secretJWT', 'privateKeyJWT'])",message="clientAssertion.keyID applies only to clientAuthentication secretJWT and privateKeyJWT",fieldPath=".clientAssertion.keyID"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.lifetime) || !has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken' || duration(self.clientAssertion.lifetime) >= duration('10m')",message="clientAssertion.lifetime must be at least 10m for serviceAccountToken",fieldPath=".clientAssertion.lifetime"
type OAuthClientSpec struct {
	// The endpoint: where and how the token is requested. None of its fields
	// may be set with providerRef.
	OAuthEndpoint `json:",inline"`

	// providerRef names the ClusterOAuthProvider the endpoint is taken from.
	// The provider decides which namespaces and scopes may use it; without
	// credentialsSecretRef, its central credentials are used.
	// +optional
	ProviderRef *ProviderReference `json:"providerRef,omitempty"`

	// credentialsSecretRef names the Secret, in the namespace of the OAuthClient,
	// that holds the client credentials: the client ID (unless clientID is set)
	// and the client secret, private key or certificate the method needs.
	// Required for every clientAuthentication but serviceAccountToken, unless
	// providerRef names a ClusterOAuthProvider with central credentials.
	// +optional
	CredentialsSecretRef *CredentialsSecretReference `json:"credentialsSecretRef,omitempty"`

	// scopes requested, sent as one space-separated scope parameter. Omitted when empty.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
	// +listType=atomic
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// audience is sent as the audience parameter when set.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Audience string `json:"audience,omitempty"`

	// secret configures the derived Secret that holds the token.
	// +optional
	Secret SecretTemplate `json:"secret,omitempty"`

	// suspend stops token requests; the existing Secret is left as it is.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ProviderReference names a ClusterOAuthProvider.
type ProviderReference struct {
	// name of the ClusterOAuthProvider.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// CredentialsSecretReference names the Secret holding the client credentials.
type CredentialsSecretReference struct {
	// name of the Secret, in the namespace of the OAuthClient.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// clientIDKey is the key of the client ID in the Secret.
	// +kubebuilder:default=client_id
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClientIDKey string `json:"clientIDKey,omitempty"`

	// clientSecretKey is the key of the client secret in the Secret.
	// +kubebuilder:default=client_secret
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClientSecretKey string `json:"clientSecretKey,omitempty"`

	// privateKeyKey is the key of the PEM private key (PKCS#8, PKCS#1 or SEC 1)
	// in the Secret: privateKeyJWT and tls. Defaults to tls.key, so that a
	// kubernetes.io/tls Secret works as it is.
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PrivateKeyKey string `json:"privateKeyKey,omitempty"`

	// serviceAccountKeyKey is the key of a Google service account JSON key
	// file in the Secret (grant jwtBearer): its client_email is the issuer,
	// its private_key signs, its private_key_id is the kid header, and its
	// token_uri is the token URL when tokenURL is unset (held to the same
	// rules: https, a host --allowed-token-hosts allows). When unset, the
	// jwtBearer grant signs with the PEM key of privateKeyKey.
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountKeyKey string `json:"serviceAccountKeyKey,omitempty"`

	// certificateKey is the key of the PEM certificate (chain) in the Secret:
	// tls, and privateKeyJWT with clientAssertion.certificateThumbprint.
	// Defaults to tls.crt.
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CertificateKey string `json:"certificateKey,omitempty"`
}

// TLSConfig configures the trust of the token endpoint's certificate.
type TLSConfig struct {
	// caSecretRef names a key of a Secret, in the namespace of the OAuthClient,
	// holding a PEM bundle trusted in addition to the system roots.
	// +optional
	CASecretRef *KeySelector `json:"caSecretRef,omitempty"`

	// caConfigMapRef names a key of a ConfigMap, in the namespace of the
	// OAuthClient, holding a PEM bundle trusted in addition to the system roots.
	// +optional
	CAConfigMapRef *KeySelector `json:"caConfigMapRef,omitempty"`
}

// KeySelector names a key of a Secret or ConfigMap in the same namespace.
type KeySelector struct {
	// name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key in the object's data.
	// +kubebuilder:default=ca.crt
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// SecretTemplate configures the derived Secret.
type SecretTemplate struct {
	// name of the derived Secret. Defaults to "<metadata.name>-token".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Name string `json:"name,omitempty"`

	// labels added to the derived Secret: at most 32, keys of at most 253 and
	// values of at most 4096 characters (the API server's own rules for labels
	// apply when the Secret is written).
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="!('app.kubernetes.io/managed-by' in self)",message="labels may not set app.kubernetes.io/managed-by"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && self[k].size() <= 4096)",message="labels keys may be at most 253 and values at most 4096 characters"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations added to the derived Secret: at most 32, keys of at most 253
	// and values of at most 4096 characters.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && self[k].size() <= 4096)",message="annotations keys may be at most 253 and values at most 4096 characters"
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// extraData are extra keys of the derived Secret, each rendered from a Go
	// text/template with the fields .AccessToken, .TokenType, .ExpiresAt and .Scope.
	// range, template, define and block actions are not allowed, and a rendered
	// value may be at most 64 KiB.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",message="extraData keys must be valid Secret keys (letters, digits, '-', '_' and '.')"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k in ['access_token', 'token_type', 'expires_at', 'authorization'])",message="extraData may not set access_token, token_type, expires_at or authorization"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].size() <= 4096)",message="extraData templates may be at most 4096 characters"
	// +optional
	ExtraData map[string]string `json:"extraData,omitempty"`
}

// OAuthClientStatus is the observed state of an OAuthClient.
type OAuthClientStatus struct {
	// observedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions of the OAuthClient; Ready tells the outcome of the latest attempt.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// secretName is the name of the derived Secret.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// tokenType of the current token, as returned by the endpoint, cut to 64
	// characters (the Secret's token_type key holds it whole).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TokenType string `json:"tokenType,omitempty"`

	// expiresAt is when the current token expires.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// refreshAt is when the next token request is due: the planned refresh, or the
	// next retry after a failure.
	// +optional
	RefreshAt *metav1.Time `json:"refreshAt,omitempty"`

	// lastRefreshTime is when the current token was obtained.
	// +optional
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`

	// failedAttempts counts consecutive failed token requests; 0 after a success.
	// +optional
	FailedAttempts int32 `json:"failedAttempts"`

	// lastFailureTime is when the latest failed token request happened.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// lastHandledRefreshRequest is the last value of the
	// tokenator.dev/refresh-requested-at annotation that was acted on; a
	// value longer than 128 characters is recorded as "sha256:" and its
	// SHA-256 in hex.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	LastHandledRefreshRequest string `json:"lastHandledRefreshRequest,omitempty"`

	// secretResourceVersion is the resourceVersion of the derived Secret as
	// tokenator last wrote it (or last found it intact): another version means
	// the Secret changed since, and it is read again.
	// +optional
	SecretResourceVersion string `json:"secretResourceVersion,omitempty"`

	// tokenRequestHash identifies the inputs of the latest token request: the spec
	// and the versions of the referenced Secrets and ConfigMaps (never their values).
	// +optional
	TokenRequestHash string `json:"tokenRequestHash,omitempty"`

	// tokenSource is shared when the token is the one a ClusterOAuthProvider
	// holds for every OAuthClient that uses its central credentials with the
	// same scopes and audience; empty when the OAuthClient requested its own.
	// +optional
	TokenSource TokenSource `json:"tokenSource,omitempty"`
}

// TokenSource says where the token of an OAuthClient comes from.
// +kubebuilder:validation:Enum=shared
type TokenSource string

// TokenSourceShared: the token is a ClusterOAuthProvider's shared token.
const TokenSourceShared TokenSource = "shared"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oac,categories=tokenator
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`,priority=1
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`,priority=1
// +kubebuilder:printcolumn:name="ProviderRef",type=string,JSONPath=`.spec.providerRef.name`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// OAuthClient requests OAuth 2.0 client-credentials access tokens and keeps a
// fresh one in a derived Secret.
type OAuthClient struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec OAuthClientSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status OAuthClientStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// OAuthClientList is a list of OAuthClients.
type OAuthClientList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthClient{}, &OAuthClientList{})
}
