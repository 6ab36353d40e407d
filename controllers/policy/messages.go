package policy

// The messages of a refusal or of a provider's spec that cannot be used, which
// the Ready conditions carry: docs/troubleshooting.md explains each (test/docs
// reads this file).
const (
	msgNamespaceRefused    = "ClusterOAuthProvider %q does not allow namespace %q (spec.allowedNamespaces)"
	msgScopeRefused        = "ClusterOAuthProvider %q does not allow scope %q (spec.allowedScopes)"
	msgNoScopeRefused      = "ClusterOAuthProvider %q allows only the scopes of its spec.allowedScopes and sets no defaultScopes: name at least one scope of allowedScopes in spec.scopes"
	msgAudienceNotAllowed  = "ClusterOAuthProvider %q allows no audience of an OAuthClient (it sets no spec.allowedAudiences): remove spec.audience"
	msgAudienceRefused     = "ClusterOAuthProvider %q does not allow audience %q (spec.allowedAudiences)"
	msgDefaultScopeRefused = "spec.defaultScopes: %q matches no glob of spec.allowedScopes"
)
