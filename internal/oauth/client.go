package oauth

import (
	"context"
	"encoding/json"
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
// no error string contains the client secret or the access token. Handling
// the answer (parsing, redaction) takes time linear in its size, and stops
// with an error wrapping ctx's error when ctx is done.
func (c *Client) RequestToken(ctx context.Context, r Request) (*Token, error) {
	red := newRedactor(ctx, &r)
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
	return c.handleAnswer(resp, body, readErr, now, endpoint, &r, red)
}

// answerNotHandled is the error of a request whose answer was left unhandled
// because the request's context is done. Its text holds nothing the server or
// the Request chose.
func answerNotHandled(ctxErr error) error {
	return fmt.Errorf("token request stopped before its answer was handled: %w", ctxErr)
}

// handleAnswer turns a response whose body was read (or not: readErr) into a
// token or an error, in time linear in the size of the body. It looks at the
// context of red, the request's, before and after each step that is linear in
// that size and within redaction, and returns an error wrapping the
// context's as soon as it is done.
func (c *Client) handleAnswer(resp *http.Response, body []byte, readErr error, now time.Time, endpoint string, r *Request, red *redactor) (*Token, error) {
	if err := red.ctx.Err(); err != nil {
		return nil, answerNotHandled(err)
	}
	tok, err := c.answer(resp, body, readErr, now, endpoint, r, red)
	if err != nil {
		// A redaction that stopped left a "[redacted]" of its own.
		if ctxErr := red.ctx.Err(); ctxErr != nil {
			return nil, answerNotHandled(ctxErr)
		}
	}
	return tok, err
}

// answer is handleAnswer without the last look at the context.
func (c *Client) answer(resp *http.Response, body []byte, readErr error, now time.Time, endpoint string, r *Request, red *redactor) (*Token, error) {
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

	// The body is decoded once, for the token and for the error fields.
	obj, err := decodeObject(body)
	var tok *Token
	var accessToken string
	if err == nil {
		tok, accessToken, err = tokenFromObject(obj, now, r.DefaultLifetime)
	}
	if err == nil {
		return tok, nil
	}
	if red.ctx.Err() != nil {
		return nil, err // handleAnswer reports the context's error
	}
	red.add(accessToken)
	return nil, red.wrap(err, "token endpoint %s answered %s with %s", endpoint, status, invalidAnswerDetail(resp, obj, red))
}

// invalidAnswerDetail describes a 2xx answer that holds no usable token: its
// media type (without parameters, which could carry anything) and the error
// fields of its body, if any, all sanitised together.
func invalidAnswerDetail(resp *http.Response, obj map[string]json.RawMessage, red *redactor) string {
	code, desc := errorTexts(obj)
	mediaType, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	// The media type keeps its case, so that redaction still recognises
	// an echoed secret.
	s := red.sanitize(untrusted{mediaType, maxContentTypeRunes}, untrusted{code, maxErrorCodeRunes}, untrusted{desc, maxDescriptionRunes})
	detail := "no Content-Type"
	if s[0] != "" {
		detail = fmt.Sprintf("Content-Type %q", s[0])
	}
	if s[1] != "" {
		detail += " (error " + s[1]
		if s[2] != "" {
			detail += ": " + s[2]
		}
		detail += ")"
	}
	return detail
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
