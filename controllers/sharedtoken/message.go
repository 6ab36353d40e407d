package sharedtoken

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// standardErrorCodes are the error codes of RFC 6749 section 5.2 and of the
// OAuth registry that a token endpoint answers. A shared token's failure
// repeats in the status of every tenant that uses it, so of the IdP's answer
// to the central credentials only such a code is repeated there: an
// error_description, or a code of the IdP's own, can name the central client
// (its id, its tenant at the IdP, its allowed scopes).
var standardErrorCodes = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "invalid_target", "server_error",
	"temporarily_unavailable", "access_denied",
}

// FailureMessage is what the tenants of a shared token are told of
// err, a failed request with the central credentials: the endpoint, the HTTP
// status, a standard error code and Retry-After of an error answer, and no
// text the IdP chose. The manager's log has the whole error.
func FailureMessage(err error) string {
	var respErr *oauth.ResponseError
	if errors.As(err, &respErr) {
		public := *respErr
		public.Description = ""
		if !slices.Contains(standardErrorCodes, public.ErrorCode) {
			public.ErrorCode = ""
		}
		return public.Error()
	}
	if errors.Is(err, oauth.ErrInvalidResponse) {
		return fmt.Sprintf(msgInvalidResponse, oauth.ErrInvalidResponse)
	}
	return err.Error()
}

// msgInvalidResponse is what the tenants of a shared token are told of an
// answer that is not a usable token response: docs/troubleshooting.md
// explains it (test/docs reads this file).
const msgInvalidResponse = "%v: the answer to the provider's central credentials is not a usable token response (the manager's log has the details)"
