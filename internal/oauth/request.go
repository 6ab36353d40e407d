package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Encoding is how the token request body is encoded.
type Encoding string

const (
	// EncodingForm sends application/x-www-form-urlencoded (RFC 6749).
	EncodingForm Encoding = "form"
	// EncodingMultipart sends multipart/form-data with one form field per
	// parameter, like `curl -F`.
	EncodingMultipart Encoding = "multipart"
	// EncodingJSON sends application/json: one JSON object of string values.
	EncodingJSON Encoding = "json"
)

// ClientAuthentication is how the client authenticates to the token endpoint
// (RFC 6749 section 2.3.1).
type ClientAuthentication string

const (
	// ClientAuthPost sends client_id and client_secret in the request body
	// (client_secret_post).
	ClientAuthPost ClientAuthentication = "post"
	// ClientAuthBasic sends the credentials in an HTTP Basic Authorization
	// header, each form-url-encoded before joining (client_secret_basic). The
	// body then carries neither client_id nor client_secret.
	ClientAuthBasic ClientAuthentication = "basic"
	// ClientAuthAssertion sends client_id with a JWT client assertion
	// (client_assertion_type jwt-bearer and client_assertion, RFC 7523
	// section 2.2): private_key_jwt, client_secret_jwt, or a ServiceAccount
	// token. The caller makes the assertion (Request.ClientAssertion).
	ClientAuthAssertion ClientAuthentication = "assertion"
	// ClientAuthTLS sends client_id only: the client authenticates with the
	// certificate of the TLS connection (RFC 8705 section 2), which the
	// caller's HTTP client presents.
	ClientAuthTLS ClientAuthentication = "tls"
	// ClientAuthNone sends client_id when it is set, nothing else: the grant
	// itself (a jwt-bearer assertion, a subject token) is the credential.
	ClientAuthNone ClientAuthentication = "none"
)

// Grant is the grant type of a token request.
type Grant string

const (
	// GrantClientCredentials is the client credentials grant (RFC 6749
	// section 4.4).
	GrantClientCredentials Grant = "client_credentials"
	// GrantJWTBearer is the JWT bearer authorization grant (RFC 7523 section
	// 2.1): the `assertion` parameter carries a JWT signed by the client.
	GrantJWTBearer Grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// GrantTokenExchange is the token exchange grant (RFC 8693): a subject
	// token is traded for a token of the endpoint.
	GrantTokenExchange Grant = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token type identifiers of RFC 8693 section 3.
const (
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// ClientAssertionTypeJWTBearer is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// UserAgent is the User-Agent header sent unless ExtraHeaders sets one.
const UserAgent = "tokenator"

// Parameter names of the token request.
const (
	paramGrantType    = "grant_type"
	paramClientID     = "client_id"
	paramClientSecret = "client_secret"
	paramScope        = "scope"
	paramAudience     = "audience"
	paramAssertion    = "client_assertion"
	paramAssertionTyp = "client_assertion_type"
	paramResource     = "resource"
)

// Parameters of the jwt-bearer and token exchange grants.
const (
	paramGrantAssertion     = "assertion"
	paramSubjectToken       = "subject_token"
	paramSubjectTokenType   = "subject_token_type"
	paramRequestedTokenType = "requested_token_type"
	paramActorToken         = "actor_token"
	paramActorTokenType     = "actor_token_type"
)

// reservedParameters may not be set through Request.ExtraParameters.
var reservedParameters = []string{paramGrantType, paramClientID, paramClientSecret, paramScope, paramAssertion, paramAssertionTyp,
	paramGrantAssertion, paramSubjectToken, paramSubjectTokenType, paramRequestedTokenType, paramActorToken, paramActorTokenType}

// ReservedParameters are the body parameters ExtraParameters may not set.
func ReservedParameters() []string { return append([]string(nil), reservedParameters...) }

// forbiddenHeaders may not be set through Request.ExtraHeaders: they belong to
// the HTTP framing or the connection, not to the application.
var forbiddenHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true, "Upgrade": true,
}

// Request is one token request: the client credentials grant unless Grant
// says otherwise.
//
// Header precedence: ExtraHeaders are applied first, then the protocol headers
// overwrite them: Content-Type (from Encoding) and Accept: application/json
// always win, and so does Authorization when ClientAuth is basic. ExtraHeaders
// may set User-Agent (default [UserAgent]) and, with post authentication,
// Authorization. Framing headers (Host, Content-Length, Transfer-Encoding,
// Connection, ...) are rejected with [ErrInvalidRequest].
type Request struct {
	// TokenURL is the https URL of the token endpoint. It may not carry
	// user info.
	TokenURL string
	// Encoding of the body; "" means form.
	Encoding Encoding
	// ClientAuth is the client authentication method; "" means post.
	ClientAuth ClientAuthentication
	// ClientID is the client identifier; required.
	ClientID string
	// ClientSecret is the client secret (post and basic).
	ClientSecret string
	// ClientAssertion is the signed JWT sent as client_assertion (assertion
	// method only); like the client secret, it never appears in an error.
	ClientAssertion string
	// Grant is the grant type; "" means GrantClientCredentials.
	Grant Grant
	// Assertion is the signed JWT sent as `assertion` (GrantJWTBearer); like
	// the client secret, it never appears in an error.
	Assertion string
	// SubjectToken is the subject_token of GrantTokenExchange, of type
	// SubjectTokenType ("" means TokenTypeJWT); it never appears in an error.
	SubjectToken, SubjectTokenType string
	// RequestedTokenType is the requested_token_type of GrantTokenExchange,
	// omitted when empty.
	RequestedTokenType string
	// Resource is sent as the `resource` parameter (RFC 8707, RFC 8693),
	// omitted when empty.
	Resource string
	// Scopes are sent as one space-separated `scope` value; empty entries are
	// skipped and the parameter is omitted when no scope remains.
	Scopes []string
	// Audience is sent as the `audience` parameter, omitted when empty.
	Audience string
	// ExtraParameters are added to the body. They may not set grant_type,
	// client_id, client_secret or scope, nor audience when Audience is set:
	// doing so is an [ErrInvalidRequest].
	ExtraParameters map[string]string
	// ExtraHeaders are set on the request; see the type documentation for
	// which headers win.
	ExtraHeaders map[string]string
	// DefaultLifetime is the token lifetime assumed when the response has no
	// usable expires_in and the token is not a JWT with an exp claim; 0 (or
	// less) means [DefaultLifetime], one hour. This is the only place the
	// one-hour default is applied.
	DefaultLifetime time.Duration
}

// param is one body parameter, in the order it is sent.
type param struct{ name, value string }

// endpoint validates the token URL and returns it with a printable form:
// scheme, host and path only (the query may carry keys of its own).
func (r *Request) endpoint() (*url.URL, string, error) {
	if r.TokenURL == "" {
		return nil, "", fmt.Errorf("%w: token URL is empty", ErrInvalidRequest)
	}
	u, err := url.Parse(r.TokenURL)
	if err != nil {
		return nil, "", fmt.Errorf("%w: token URL does not parse", ErrInvalidRequest)
	}
	printable := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	switch {
	case u.User != nil:
		return nil, "", fmt.Errorf("%w: token URL %s must not contain credentials", ErrInvalidRequest, printable)
	case u.Scheme != "https":
		return nil, "", fmt.Errorf("%w: token URL %s must use https", ErrInvalidRequest, printable)
	case u.Host == "":
		return nil, "", fmt.Errorf("%w: token URL %s has no host", ErrInvalidRequest, printable)
	}
	return u, printable, nil
}

// params returns the body parameters in a deterministic order: the grant,
// the client authentication and the protocol parameters first, then
// ExtraParameters sorted by name.
func (r *Request) params() ([]param, error) {
	ps, err := r.grantParams()
	if err != nil {
		return nil, err
	}
	if ps, err = r.clientAuthParams(ps); err != nil {
		return nil, err
	}
	if scope := joinScopes(r.Scopes); scope != "" {
		ps = append(ps, param{paramScope, scope})
	}
	if r.Audience != "" {
		ps = append(ps, param{paramAudience, r.Audience})
	}
	if r.Resource != "" {
		ps = append(ps, param{paramResource, r.Resource})
	}
	return r.extraParams(ps)
}

// grantParams are grant_type and the parameters of the grant.
func (r *Request) grantParams() ([]param, error) {
	switch r.Grant {
	case "", GrantClientCredentials:
		return []param{{paramGrantType, string(GrantClientCredentials)}}, nil
	case GrantJWTBearer:
		if r.Assertion == "" {
			return nil, fmt.Errorf("%w: the jwt-bearer assertion is empty", ErrInvalidRequest)
		}
		return []param{{paramGrantType, string(GrantJWTBearer)}, {paramGrantAssertion, r.Assertion}}, nil
	case GrantTokenExchange:
		if r.SubjectToken == "" {
			return nil, fmt.Errorf("%w: the subject token is empty", ErrInvalidRequest)
		}
		typ := r.SubjectTokenType
		if typ == "" {
			typ = TokenTypeJWT
		}
		ps := []param{{paramGrantType, string(GrantTokenExchange)}, {paramSubjectToken, r.SubjectToken}, {paramSubjectTokenType, typ}}
		if r.RequestedTokenType != "" {
			ps = append(ps, param{paramRequestedTokenType, r.RequestedTokenType})
		}
		return ps, nil
	}
	return nil, fmt.Errorf("%w: unknown grant %q (want client_credentials, jwt-bearer or token-exchange)", ErrInvalidRequest, string(r.Grant))
}

// clientAuthParams appends the client authentication parameters to ps.
func (r *Request) clientAuthParams(ps []param) ([]param, error) {
	if r.ClientID == "" && r.ClientAuth != ClientAuthNone {
		return nil, fmt.Errorf("%w: client ID is empty", ErrInvalidRequest)
	}
	switch r.ClientAuth {
	case "", ClientAuthPost:
		return append(ps, param{paramClientID, r.ClientID}, param{paramClientSecret, r.ClientSecret}), nil
	case ClientAuthBasic:
		return ps, nil
	case ClientAuthAssertion:
		if r.ClientAssertion == "" {
			return nil, fmt.Errorf("%w: client assertion is empty", ErrInvalidRequest)
		}
		return append(ps, param{paramClientID, r.ClientID},
			param{paramAssertionTyp, ClientAssertionTypeJWTBearer}, param{paramAssertion, r.ClientAssertion}), nil
	case ClientAuthTLS:
		return append(ps, param{paramClientID, r.ClientID}), nil
	case ClientAuthNone:
		if r.Grant == "" || r.Grant == GrantClientCredentials {
			return nil, fmt.Errorf("%w: client authentication none needs the jwt-bearer or token-exchange grant", ErrInvalidRequest)
		}
		if r.ClientID != "" {
			ps = append(ps, param{paramClientID, r.ClientID})
		}
		return ps, nil
	}
	return nil, fmt.Errorf("%w: unknown client authentication %q (want post, basic, assertion, tls or none)", ErrInvalidRequest, string(r.ClientAuth))
}

// extraParams appends ExtraParameters, sorted by name, to ps.
func (r *Request) extraParams(ps []param) ([]param, error) {
	names := make([]string, 0, len(r.ExtraParameters))
	for name := range r.ExtraParameters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			return nil, fmt.Errorf("%w: extra parameter with an empty name", ErrInvalidRequest)
		}
		for _, reserved := range reservedParameters {
			if name == reserved {
				return nil, fmt.Errorf("%w: extra parameter %q may not be set (reserved)", ErrInvalidRequest, name)
			}
		}
		if name == paramAudience && r.Audience != "" {
			return nil, fmt.Errorf("%w: extra parameter %q conflicts with the audience field", ErrInvalidRequest, name)
		}
		if name == paramResource && r.Resource != "" {
			return nil, fmt.Errorf("%w: extra parameter %q conflicts with the resource field", ErrInvalidRequest, name)
		}
		ps = append(ps, param{name, r.ExtraParameters[name]})
	}
	return ps, nil
}

func joinScopes(scopes []string) string {
	kept := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s = strings.TrimSpace(s); s != "" {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, " ")
}

// encodeBody encodes the parameters and returns the body and its Content-Type.
func encodeBody(enc Encoding, ps []param) ([]byte, string, error) {
	switch enc {
	case "", EncodingForm:
		var b strings.Builder
		for i, p := range ps {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(p.name))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(p.value))
		}
		return []byte(b.String()), "application/x-www-form-urlencoded", nil
	case EncodingMultipart:
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, p := range ps {
			if err := w.WriteField(p.name, p.value); err != nil {
				return nil, "", fmt.Errorf("encoding multipart body: %w", err)
			}
		}
		if err := w.Close(); err != nil {
			return nil, "", fmt.Errorf("encoding multipart body: %w", err)
		}
		return buf.Bytes(), w.FormDataContentType(), nil
	case EncodingJSON:
		obj := make(map[string]string, len(ps))
		for _, p := range ps {
			obj[p.name] = p.value
		}
		body, err := json.Marshal(obj)
		if err != nil {
			return nil, "", fmt.Errorf("encoding JSON body: %w", err)
		}
		return body, "application/json", nil
	default:
		return nil, "", fmt.Errorf("%w: unknown encoding %q (want form, multipart or json)", ErrInvalidRequest, string(enc))
	}
}

// BasicCredentials returns the value of the Authorization header for
// client_secret_basic: "Basic " + base64(urlencode(id) ":" urlencode(secret)),
// as RFC 6749 section 2.3.1 requires.
func BasicCredentials(clientID, clientSecret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString(
		[]byte(url.QueryEscape(clientID)+":"+url.QueryEscape(clientSecret)))
}

// newHTTPRequest builds the POST request. The returned string is the endpoint
// as it may be printed in errors.
func (r *Request) newHTTPRequest(ctx context.Context) (*http.Request, string, error) {
	u, printable, err := r.endpoint()
	if err != nil {
		return nil, "", err
	}
	ps, err := r.params()
	if err != nil {
		return nil, "", err
	}
	body, contentType, err := encodeBody(r.Encoding, ps)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("%w: building request for %s", ErrInvalidRequest, printable)
	}
	req.Header.Set("User-Agent", UserAgent)
	for name, value := range r.ExtraHeaders {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, "", fmt.Errorf("%w: extra header name %q is not a valid HTTP header name", ErrInvalidRequest, name)
		}
		if forbiddenHeaders[http.CanonicalHeaderKey(name)] {
			return nil, "", fmt.Errorf("%w: extra header %q may not be set", ErrInvalidRequest, http.CanonicalHeaderKey(name))
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			// Never print the value: it may be a credential.
			return nil, "", fmt.Errorf("%w: the value of extra header %q contains control characters", ErrInvalidRequest, http.CanonicalHeaderKey(name))
		}
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if r.ClientAuth == ClientAuthBasic {
		req.Header.Set("Authorization", BasicCredentials(r.ClientID, r.ClientSecret))
	}
	return req, printable, nil
}
