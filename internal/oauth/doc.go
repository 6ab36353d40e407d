// Package oauth performs the OAuth 2.0 client credentials token request
// (RFC 6749 section 4.4) for tokenator.
//
// It knows nothing about Kubernetes: the controller turns an OAuthClient into a
// [Request], obtains an [*http.Client] from [HTTPClients] (one per CA bundle, so
// connections are reused), and calls [Client.RequestToken].
//
// # Secrets
//
// The client secret and the access token never appear in an error string
// returned by this package. Text chosen by the token endpoint (the RFC 6749
// error code and description, the Content-Type) is sanitised, shortened and has
// every occurrence of the client secret, of the HTTP Basic credentials and of
// the access token (when one was parsed) replaced by "[redacted]". Response
// bodies are never quoted. Errors still wrap their cause with %w so that
// [errors.Is] and [errors.As] work; the text of a wrapped transport error is
// only redacted in the outer error's message, so log err.Error(), not the
// unwrapped causes. [Token] formats itself without its AccessToken.
//
// # Errors
//
//   - [ErrInvalidRequest]: the [Request] itself is unusable (bad URL, reserved
//     extra parameter, bad header...). Retrying cannot help.
//   - [*ResponseError]: the endpoint answered a status other than 2xx,
//     including 3xx, since redirects are never followed.
//   - [ErrInvalidResponse]: a 2xx answer that is not a usable token response.
//   - [ErrResponseTooLarge]: the body exceeded [Client.MaxResponseBytes].
//   - anything else is a transport failure (DNS, dial, TLS, timeout), wrapped.
package oauth
