package oauthtest

// AssertionVerifier checks the client assertion a client sent with its
// client_id (the JWT, as sent); a non-nil error refuses the client.
type AssertionVerifier func(clientID, assertion string) error
