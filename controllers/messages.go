package controllers

// The messages the controller writes in the Ready condition and in Events,
// and the parts they are built from. docs/troubleshooting.md explains every
// one: test/docs reads this file and fails when the page misses a message, so
// a message is added here, never written inline.
const (
	// What the Secret holds, after every message of a failure.
	msgNoTokenYet     = "no token has been issued yet"
	msgPreviousValid  = "the Secret keeps the previous token, valid until %s"
	msgPreviousExpiry = "the Secret holds the previous token, expired since %s"

	// Ready condition messages; a failure's is followed by "; " and what the
	// Secret holds.
	msgTokenValid       = "token valid until %s"
	msgSuspended        = "token requests are suspended; the Secret is left as it is"
	msgRequestFailed    = "token request failed: %v; %s"
	msgSecretRefused    = "spec.secret: the API server refused the Secret: %w"
	msgRefNotFound      = "%s: %s %q not found in namespace %q"
	msgRefNoKey         = "%s: %s %q has no key %q"
	msgCredsNotFound    = "spec.credentialsSecretRef: Secret %q not found in namespace %q"
	msgCredsNotSelected = "spec.credentialsSecretRef: Secret %q does not carry the labels the operator requires (--credentials-selector=%s)"
	msgCANotSelected    = "%s: Secret %q does not carry the labels the operator requires (--credentials-selector=%s)"
	msgCredsNoKey       = "spec.credentialsSecretRef: Secret %q has no non-empty key %q"
	msgCredsNotVSCHAR   = "spec.credentialsSecretRef: Secret %q key %q holds %s, outside RFC 6749 VSCHAR (printable ASCII)"
	// msgCredentialField names a key of the credentials Secret in the
	// messages of internal/assertion (a private key, certificate or client
	// secret that cannot be used), which follow it after ": ".
	msgCredentialField = "spec.credentialsSecretRef.%s %q of Secret %q"

	// ClusterOAuthProvider and providerRef messages.
	msgProviderNotFound     = "spec.providerRef: ClusterOAuthProvider %q not found"
	msgProviderNotReady     = "spec.providerRef: ClusterOAuthProvider %q is not Ready: %s"
	msgProvidersNotServed   = "spec.providerRef: this operator does not serve ClusterOAuthProviders: it watches only some namespaces (--namespaces), and not its cluster resource namespace %q"
	msgNoCentralCredentials = "spec.credentialsSecretRef is required: ClusterOAuthProvider %q has no central credentials"
	msgProviderRefRequired  = "spec.providerRef is required: the operator runs with --require-provider-ref, so only ClusterOAuthProviders reach the network; remove the endpoint fields and name a ClusterOAuthProvider"
	msgProviderField        = "ClusterOAuthProvider %q %s"
	msgTokenRemoved         = "the token expired at %s and was removed from the Secret"
	msgProviderReady        = "the provider can be used"
	msgProviderRefNotFound  = "%s: %s %q not found in the cluster resource namespace %q"

	// serviceAccountToken: the spec (as the CRD says it; seen with an older
	// CRD), the ServiceAccount's opt-in and the audience.
	msgSARequiresAssertion      = "clientAuthentication serviceAccountToken requires clientAssertion.serviceAccountName and clientAssertion.audience"
	msgSARequiresClientID       = "clientAuthentication serviceAccountToken requires clientID (or credentialsSecretRef to read it from)"
	msgSAProviderOwnCredentials = "spec.credentialsSecretRef: ClusterOAuthProvider %q authenticates with a ServiceAccount of the cluster resource namespace (clientAuthentication serviceAccountToken), a central credential that its OAuthClients share; remove credentialsSecretRef to use it"
	msgSANotOptedIn             = "%s: ServiceAccount %q has no %s annotation: it has not opted in to tokens requested by tokenator"
	msgSAOptInOverBound         = "%s: the %s annotation of ServiceAccount %q is over %s; tokenator reads at most 4 KiB and 32 audiences"
	msgSAAudienceNotListed      = "%s: ServiceAccount %q does not list %q in its %s annotation"
	msgSAAudienceOfAPIServer    = "%s: %q is an audience of the Kubernetes API server; tokenator never requests a ServiceAccount token the cluster itself would accept"
	msgExchangeRequiresSA       = "grant tokenExchange requires tokenExchange.serviceAccountName and tokenExchange.subjectTokenAudience"
	msgJWTBearerNoIssuer        = "%s is required: a PEM key does not name its issuer (a Google service account key file does)"
	msgKeyFileTokenURI          = "%s: the key file's token_uri, the token URL while %s is unset: %w"

	// What msgCredsNotVSCHAR says a value holds.
	msgLineBreak        = "a line break (CR or LF) before its end"
	msgControlCharacter = "a control character"
	msgNonASCII         = "a non-ASCII character"

	// Event notes; a failure's Event note is the Ready condition's message.
	eventTokenWritten = "Token written to Secret %s, valid until %s"
	eventExpiringSoon = "The token in Secret %s expires at %s and refreshing it keeps failing; next attempt at %s"
)
