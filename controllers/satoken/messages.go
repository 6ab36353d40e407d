package satoken

// The messages of a ServiceAccount token that cannot be obtained, which the
// Ready condition carries: docs/troubleshooting.md explains each (test/docs
// reads this file).
const (
	msgTokenRequestFailed  = "requesting a token for ServiceAccount %q: %w"
	msgAPIAudiencesUnknown = "cannot learn the Kubernetes API server's audiences, so no ServiceAccount token is requested: %w"
)
