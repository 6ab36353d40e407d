package v1alpha1

// Condition types.
const (
	// ConditionReady tells the outcome of the latest attempt.
	ConditionReady = "Ready"
	// ConditionStalled is True, with the Ready reason, while the OAuthClient
	// needs a human: InvalidSpec or SecretConflict. kstatus reports it as Failed.
	ConditionStalled = "Stalled"
)

// Reasons of the Ready condition.
const (
	// ReasonTokenIssued: the Secret holds a token obtained with the current spec and credentials.
	ReasonTokenIssued = "TokenIssued"
	// ReasonCredentialsNotFound: the credentials Secret or one of its keys is missing,
	// a value is not RFC 6749 VSCHAR, or the Secret lacks the labels the operator requires.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonTokenRequestFailed: the endpoint could not be reached, answered non-2xx,
	// or the body was not a token response.
	ReasonTokenRequestFailed = "TokenRequestFailed"
	// ReasonSecretConflict: the target Secret exists and is not controlled by this OAuthClient.
	ReasonSecretConflict = "SecretConflict"
	// ReasonInvalidSpec: the spec has a problem the schema cannot catch.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonProviderNotFound: spec.providerRef names no ClusterOAuthProvider,
	// or one that is not Ready.
	ReasonProviderNotFound = "ProviderNotFound"
	// ReasonProviderRefused: the ClusterOAuthProvider does not allow the
	// namespace of the OAuthClient, or a scope it requests.
	ReasonProviderRefused = "ProviderRefused"
	// ReasonProviderReady is the reason of a ClusterOAuthProvider's Ready
	// condition when OAuthClients can use it.
	ReasonProviderReady = "ProviderReady"
	// ReasonTokenExpiringSoon is the reason of the Warning Event emitted once
	// per token when a refresh fails in the last sixth of the token's lifetime.
	ReasonTokenExpiringSoon = "TokenExpiringSoon"
)

// Well-known names on objects.
const (
	// AnnotationRefreshRequestedAt set to a new value asks for an immediate new token.
	AnnotationRefreshRequestedAt = "tokenator.dev/refresh-requested-at"
	// AnnotationDataHash on a derived Secret is a SHA-256 of its data, to notice edits.
	AnnotationDataHash = "tokenator.dev/data-hash"
	// AnnotationShapeHash on a derived Secret is a SHA-256 of the labels and
	// annotations spec.secret asked for when it was written, so that a change of
	// spec.secret alone is written again from the token the Secret holds.
	AnnotationShapeHash = "tokenator.dev/shape-hash"
	// AnnotationScope on a derived Secret is the scope the token endpoint
	// returned with the token (not a secret), kept so that extraData templates
	// that use .Scope can be rendered again without a new token.
	AnnotationScope = "tokenator.dev/scope"
	// AnnotationRenderError on a derived Secret says which extraData templates
	// failed with the token it holds (their keys are left out); it holds no value.
	AnnotationRenderError = "tokenator.dev/render-error"
	// AnnotationTokenAudiences on a ServiceAccount lists, comma-separated, the
	// audiences tokenator may request its tokens for (serviceAccountToken).
	AnnotationTokenAudiences = "tokenator.dev/token-audiences"
	// LabelProvider on a shared token Secret names its ClusterOAuthProvider.
	LabelProvider = "tokenator.dev/provider"
	// AnnotationSharedKey on a shared token Secret identifies the token: the
	// scopes and audience it was requested for (a hash).
	AnnotationSharedKey = "tokenator.dev/shared-key"
	// AnnotationRequestHash on a shared token Secret identifies the inputs of
	// the request that obtained it (endpoint, central credentials' version).
	AnnotationRequestHash = "tokenator.dev/request-hash"
	// AnnotationIssuedAt, AnnotationExpiresAt and AnnotationRefreshAt on a
	// shared token Secret are when its token was obtained, when it expires and
	// when the next one is due (RFC 3339).
	AnnotationIssuedAt  = "tokenator.dev/issued-at"
	AnnotationExpiresAt = "tokenator.dev/expires-at"
	AnnotationRefreshAt = "tokenator.dev/refresh-at"
	// LabelManagedBy marks derived Secrets.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on derived Secrets.
	ManagedByValue = "tokenator"
)

// Default keys of the referenced Secrets and ConfigMaps. The
// +kubebuilder:default markers of their fields name the same values (a test
// compares them with the CRD); the controller falls back to them when a field is
// empty.
const (
	// DefaultClientIDKey is the default of credentialsSecretRef.clientIDKey.
	DefaultClientIDKey = "client_id"
	// DefaultClientSecretKey is the default of credentialsSecretRef.clientSecretKey.
	DefaultClientSecretKey = "client_secret"
	// DefaultPrivateKeyKey is the default of credentialsSecretRef.privateKeyKey
	// (applied by the controller, not the CRD: only some methods read it).
	DefaultPrivateKeyKey = "tls.key"
	// DefaultCertificateKey is the default of credentialsSecretRef.certificateKey
	// (applied by the controller, not the CRD).
	DefaultCertificateKey = "tls.crt"
	// DefaultServiceAccountKeyKey is the key of a Google service account
	// JSON key file in the Secret that the google preset reads when
	// credentialsSecretRef names neither it nor privateKeyKey.
	DefaultServiceAccountKeyKey = "credentials.json"
	// DefaultCAKey is the default of tls.caSecretRef.key and tls.caConfigMapRef.key.
	DefaultCAKey = "ca.crt"
)

// Keys of the derived Secret.
const (
	SecretKeyAccessToken   = "access_token"
	SecretKeyTokenType     = "token_type"
	SecretKeyExpiresAt     = "expires_at"
	SecretKeyAuthorization = "authorization"
)
