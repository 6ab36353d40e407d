package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultMaxResponseBytes is the response size limit when
// Client.MaxResponseBytes is 0.
const DefaultMaxResponseBytes = 1 << 20

// maxContentTypeRunes bounds the Content-Type quoted in errors.
const maxContentTypeRunes = 100

// Client requests tokens. It is safe for concurrent use when its fields are
// not modified.
type Client struct {
	// HTTPClient sends the requests; required. Use NewHTTPClient or
	// HTTPClients.Get: they never follow redirects and bound the request time.
	HTTPClient *http.Client
	// MaxResponseBytes bounds the response body; 0 means
	// DefaultMaxResponseBytes (1 MiB). At most MaxResponseBytes+1 bytes are
	// read.
	MaxResponseBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) maxResponseBytes() int64 {
	if c.MaxResponseBytes > 0 {
		return c.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

// RequestToken performs the client credentials grant described by r and
// returns the token. See the package documentation for the kinds of error;
// no error string contains the client secret or the access token.
func (c *Client) RequestToken(ctx context.Context, r Request) (*Token, error) {
	red := newRedactor(&r)
	if c == nil || c.HTTPClient == nil {
		return nil, fmt.Errorf("%w: the oauth.Client has no HTTPClient", ErrInvalidRequest)
	}
	req, endpoint, err := r.newHTTPRequest(ctx)
	if err != nil {
		return nil, red.wrap(err, "preparing token request")
	}

	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		// A *url.Error prints the whole URL, query included; the query of a
		// tokenURL may hold a key, so only the endpoint (no query) is shown.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = endpoint
		}
		return nil, red.wrap(err, "requesting token from %s", endpoint)
	}
	defer func() { _ = resp.Body.Close() }()
	now := c.now()

	body, readErr := readBody(resp, c.maxResponseBytes())
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if readErr != nil {
			body = nil // the status says enough; a partial body is not parsed
		}
		e := newResponseError(resp, body, now, red)
		e.Endpoint = endpoint
		return nil, e
	}
	status := statusString(resp.StatusCode)
	if errors.Is(readErr, ErrResponseTooLarge) {
		return nil, red.wrap(readErr, "token endpoint %s answered %s with a body over %d bytes", endpoint, status, c.maxResponseBytes())
	}
	if readErr != nil {
		return nil, red.wrap(readErr, "reading token response from %s", endpoint)
	}

	tok, accessToken, err := parseTokenResponse(body, now, r.DefaultLifetime)
	if err != nil {
		red.add(accessToken)
		detail := ""
		if e := newResponseError(resp, body, now, red); e.ErrorCode != "" {
			detail = " (error " + e.ErrorCode
			if e.Description != "" {
				detail += ": " + e.Description
			}
			detail += ")"
		}
		ct := "no Content-Type"
		if v := contentType(resp, red); v != "" {
			ct = fmt.Sprintf("Content-Type %q", v)
		}
		return nil, red.wrap(err, "token endpoint %s answered %s with %s%s", endpoint, status, ct, detail)
	}
	return tok, nil
}

// readBody reads at most limit+1 bytes of the body and fails with
// ErrResponseTooLarge beyond limit. A declared Content-Length over the limit
// fails before reading anything.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, ErrResponseTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(body)) > limit {
		return nil, ErrResponseTooLarge
	}
	return body, err
}

// contentType is the sanitised media type of the response, without
// parameters (which could carry anything), for error messages. Its case is
// kept so that redaction still recognises an echoed secret.
func contentType(resp *http.Response, red *redactor) string {
	mediaType, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return red.sanitize(mediaType, maxContentTypeRunes)
}
