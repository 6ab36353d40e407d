package sharedtoken

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

func TestSharedFailureMessage(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    string
		notWant string
	}{
		{"standard code, description dropped",
			&oauth.ResponseError{Endpoint: "https://idp/token", StatusCode: 401, ErrorCode: "invalid_client", Description: "client central-42 is disabled"},
			"token endpoint https://idp/token answered 401 Unauthorized: invalid_client", "central-42"},
		{"a code of the IdP's own is dropped too",
			&oauth.ResponseError{Endpoint: "https://idp/token", StatusCode: 400, ErrorCode: "central-42_disabled"},
			"token endpoint https://idp/token answered 400 Bad Request", "central-42"},
		{"wrapped",
			fmt.Errorf("shared: %w", &oauth.ResponseError{StatusCode: 503, ErrorCode: "temporarily_unavailable", Description: "tenant acme"}),
			"token endpoint answered 503 Service Unavailable: temporarily_unavailable", "acme"},
		{"an invalid 2xx answer",
			fmt.Errorf("token endpoint https://idp/token answered 200 OK (error x: central-42): %w", oauth.ErrInvalidResponse),
			"invalid token response: the answer to the provider's central credentials", "central-42"},
		{"a network error is kept", errors.New("dial tcp 10.0.0.1:443: connection refused"),
			"dial tcp 10.0.0.1:443: connection refused", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FailureMessage(tt.err)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want it to start with %q", got, tt.want)
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("got %q, which holds %q", got, tt.notWant)
			}
		})
	}
}
