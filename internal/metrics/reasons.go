package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// The reasons of a failed token request: the reason label of
// tokenator_token_requests_total, a fixed set whatever an endpoint answers.
const (
	// ReasonInvalidClient: the endpoint refused the client (RFC 6749
	// invalid_client, or invalid_grant / unauthorized_client): revoked or
	// rotated credentials, which no retry fixes.
	ReasonInvalidClient = "invalid_client"
	// ReasonRateLimited: 429 Too Many Requests.
	ReasonRateLimited = "rate_limited"
	// ReasonHTTP4xx: any other 4xx answer (a redirect, never followed, counts
	// here too).
	ReasonHTTP4xx = "http_4xx"
	// ReasonHTTP5xx: a 5xx answer: the endpoint's outage.
	ReasonHTTP5xx = "http_5xx"
	// ReasonTimeout: no answer within --token-request-timeout.
	ReasonTimeout = "timeout"
	// ReasonRefusedNetwork: the operator's network guard refused the
	// address or host.
	ReasonRefusedNetwork = "refused_network"
	// ReasonInvalidResponse: a 2xx answer that is not a token response, or
	// one over the size limit.
	ReasonInvalidResponse = "invalid_response"
	// ReasonNetwork: DNS, connection or TLS failures, and any other error.
	ReasonNetwork = "network"
)

// FailureReasons are every reason FailureReason returns.
var FailureReasons = []string{ReasonInvalidClient, ReasonRateLimited, ReasonHTTP4xx, ReasonHTTP5xx,
	ReasonTimeout, ReasonRefusedNetwork, ReasonInvalidResponse, ReasonNetwork}

// FailureReason classifies the error of a failed token request; "" for nil.
func FailureReason(err error) string {
	if err == nil {
		return ""
	}
	var respErr *oauth.ResponseError
	if errors.As(err, &respErr) {
		switch {
		case respErr.ErrorCode == "invalid_client" || respErr.ErrorCode == "unauthorized_client" ||
			respErr.ErrorCode == "invalid_grant" || respErr.StatusCode == http.StatusUnauthorized:
			return ReasonInvalidClient
		case respErr.StatusCode == http.StatusTooManyRequests:
			return ReasonRateLimited
		case respErr.StatusCode >= 500:
			return ReasonHTTP5xx
		}
		return ReasonHTTP4xx
	}
	var netErr net.Error
	switch {
	case errors.Is(err, netguard.ErrRefused):
		return ReasonRefusedNetwork
	case errors.Is(err, oauth.ErrInvalidResponse), errors.Is(err, oauth.ErrResponseTooLarge):
		return ReasonInvalidResponse
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	}
	return ReasonNetwork
}
