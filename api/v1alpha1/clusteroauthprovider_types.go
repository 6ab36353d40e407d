package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterOAuthProviderSpec is the desired state of a ClusterOAuthProvider: an
// endpoint, exactly as in OAuthClient, optional central credentials, and which
// namespaces and scopes may use it. Its references (credentials, CA bundle)
// resolve in the cluster resource namespace of the operator, and so does the
// ServiceAccount of clientAuthentication serviceAccountToken.
// +kubebuilder:validation:XValidation:rule="(has(self.provider) && self.provider != 'generic') || has(self.tokenURL)",message="tokenURL is required when provider is generic",fieldPath=".tokenURL",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.environment) || (has(self.provider) && self.provider == 'luxclusif')",message="environment applies only to provider luxclusif",fieldPath=".environment"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'basic' || !has(self.extraHeaders) || !self.extraHeaders.exists(k, k.lowerAscii() == 'authorization')",message="extraHeaders may not set Authorization when clientAuthentication is basic",fieldPath=".extraHeaders"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || (has(self.clientAuthentication) && self.clientAuthentication in ['secretJWT', 'privateKeyJWT', 'serviceAccountToken'])",message="clientAssertion applies only to clientAuthentication secretJWT, privateKeyJWT and serviceAccountToken",fieldPath=".clientAssertion"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken' || (has(self.clientAssertion) && has(self.clientAssertion.serviceAccountName) && has(self.clientAssertion.audience))",message="clientAuthentication serviceAccountToken requires clientAssertion.serviceAccountName and clientAssertion.audience",fieldPath=".clientAssertion",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.serviceAccountName) || (has(self.clientAuthentication) && self.clientAuthentication == 'serviceAccountToken')",message="clientAssertion.serviceAccountName applies only to clientAuthentication serviceAccountToken",fieldPath=".clientAssertion.serviceAccountName"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.algorithm) || (has(self.clientAuthentication) && (self.clientAuthentication == 'secretJWT' ? self.clientAssertion.algorithm in ['HS256', 'HS384', 'HS512'] : (self.clientAuthentication == 'privateKeyJWT' && !(self.clientAssertion.algorithm in ['HS256', 'HS384', 'HS512']))))",message="clientAssertion.algorithm must be HS256, HS384 or HS512 for secretJWT, one of RS256, PS256, ES256, ES384, ES512, EdDSA for privateKeyJWT, and unset for serviceAccountToken",fieldPath=".clientAssertion.algorithm"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.certificateThumbprint) || (has(self.clientAuthentication) && self.clientAuthentication == 'privateKeyJWT')",message="clientAssertion.certificateThumbprint applies only to clientAuthentication privateKeyJWT",fieldPath=".clientAssertion.certificateThumbprint"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.keyID) || (has(self.clientAuthentication) && self.clientAuthentication in ['secretJWT', 'privateKeyJWT'])",message="clientAssertion.keyID applies only to clientAuthentication secretJWT and privateKeyJWT",fieldPath=".clientAssertion.keyID"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAssertion) || !has(self.clientAssertion.lifetime) || !has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken' || duration(self.clientAssertion.lifetime) >= duration('10m')",message="clientAssertion.lifetime must be at least 10m for serviceAccountToken",fieldPath=".clientAssertion.lifetime"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken' || has(self.clientID) || has(self.credentialsSecretRef)",message="clientAuthentication serviceAccountToken requires clientID (or credentialsSecretRef to read it from)",fieldPath=".clientID",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuthentication) || self.clientAuthentication != 'none' || (has(self.grant) ? self.grant in ['jwtBearer', 'tokenExchange'] : (has(self.provider) && self.provider == 'google'))",message="clientAuthentication none applies only to the grants jwtBearer and tokenExchange",fieldPath=".clientAuthentication"
// +kubebuilder:validation:XValidation:rule="!has(self.jwtBearer) || (has(self.grant) ? self.grant == 'jwtBearer' : (has(self.provider) && self.provider == 'google'))",message="jwtBearer applies only to grant jwtBearer",fieldPath=".jwtBearer"
// +kubebuilder:validation:XValidation:rule="has(self.tokenExchange) == (has(self.grant) && self.grant == 'tokenExchange')",message="grant tokenExchange requires tokenExchange, which applies to it only",fieldPath=".tokenExchange"
// +kubebuilder:validation:XValidation:rule="!has(self.grant) || self.grant != 'jwtBearer' || !has(self.clientAuthentication) || self.clientAuthentication != 'serviceAccountToken'",message="clientAuthentication serviceAccountToken does not combine with grant jwtBearer; use none, or the tokenExchange grant",fieldPath=".clientAuthentication"
// +kubebuilder:validation:XValidation:rule="!has(self.credentialsSecretRef) || !has(self.credentialsSecretRef.serviceAccountKeyKey) || (has(self.grant) ? self.grant == 'jwtBearer' : (has(self.provider) && self.provider == 'google'))",message="credentialsSecretRef.serviceAccountKeyKey applies only to grant jwtBearer",fieldPath=".credentialsSecretRef.serviceAccountKeyKey"
type ClusterOAuthProviderSpec struct {
	// The endpoint, as in OAuthClient. tls.caSecretRef and tls.caConfigMapRef
	// name objects of the cluster resource namespace.
	OAuthEndpoint `json:",inline"`

	// credentialsSecretRef names the central credentials: a Secret in the
	// cluster resource namespace, which tenants never read. OAuthClients
	// without a credentialsSecretRef of their own use them, and those that ask
	// for the same scopes and audience share one token. When unset, every
	// OAuthClient brings its own credentials, except with clientAuthentication
	// serviceAccountToken: then the ServiceAccount (of the cluster resource
	// namespace) and clientID are the central credentials, and an OAuthClient
	// may not bring its own.
	// +optional
	CredentialsSecretRef *CredentialsSecretReference `json:"credentialsSecretRef,omitempty"`

	// allowedNamespaces selects, by their labels, the namespaces whose
	// OAuthClients may use the provider; {} selects every namespace.
	// +required
	AllowedNamespaces *metav1.LabelSelector `json:"allowedNamespaces"`

	// allowedScopes are the scopes an OAuthClient may request, as globs where
	// * stands for any run of characters (api.read* matches api.read and
	// api.read.all). When unset, any scope is allowed. When set, an
	// OAuthClient must name at least one scope, unless defaultScopes is set.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
	// +listType=atomic
	// +optional
	AllowedScopes []string `json:"allowedScopes,omitempty"`

	// defaultScopes are requested for an OAuthClient that names no scope.
	// Each must match a glob of allowedScopes when allowedScopes is set (else
	// the provider is not Ready: InvalidSpec).
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
	// +listType=atomic
	// +optional
	DefaultScopes []string `json:"defaultScopes,omitempty"`

	// allowedAudiences are the audiences an OAuthClient may request
	// (spec.audience), as globs like allowedScopes. When unset, an
	// OAuthClient may not set an audience; an audience the provider sends
	// itself (extraParameters) is not affected.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=2048
	// +listType=atomic
	// +optional
	AllowedAudiences []string `json:"allowedAudiences,omitempty"`
}

// ClusterOAuthProviderStatus is the observed state of a ClusterOAuthProvider.
type ClusterOAuthProviderStatus struct {
	// observedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions of the provider; Ready says whether OAuthClients can use it.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// clients is the number of OAuthClients that refer to the provider and
	// that it allows.
	// +optional
	Clients int32 `json:"clients"`

	// sharedTokens is the number of tokens the provider holds for OAuthClients
	// that use its central credentials.
	// +optional
	SharedTokens int32 `json:"sharedTokens"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=coap,categories=tokenator
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Clients",type=integer,JSONPath=`.status.clients`
// +kubebuilder:printcolumn:name="Shared",type=integer,JSONPath=`.status.sharedTokens`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterOAuthProvider is an identity provider defined once by a cluster
// admin: OAuthClients refer to it with spec.providerRef, from the namespaces
// and for the scopes it allows.
type ClusterOAuthProvider struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec ClusterOAuthProviderSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status ClusterOAuthProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterOAuthProviderList is a list of ClusterOAuthProviders.
type ClusterOAuthProviderList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterOAuthProvider `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterOAuthProvider{}, &ClusterOAuthProviderList{})
}
