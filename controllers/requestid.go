package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
)

// The identity of a token request: what of the spec and of the referenced
// objects shapes it. A different identity means a new token is due.

// tokenRequestHash identifies the inputs of a token request: every spec field
// that shapes the request, and the versions (never the
// values) of the referenced objects. A different hash means a new token is due.
// requestSpec is the spec of oc with the endpoint and the requested scopes of
// its source: a provider's endpoint and defaultScopes are part of what its
// clients' requests ask for.
func requestSpec(oc *tokenatorv1.OAuthClient, src *requestSource) *tokenatorv1.OAuthClientSpec {
	if src.provider == nil {
		return &oc.Spec
	}
	if src.shared {
		return sharedSpec(oc, src)
	}
	spec := oc.Spec.DeepCopy()
	spec.OAuthEndpoint = *src.endpoint.DeepCopy()
	spec.Scopes = src.scopes
	return spec
}

func tokenRequestHash(spec *tokenatorv1.OAuthClientSpec, refs []objectVersion) string {
	inputs := spec.DeepCopy()
	// Fields that only change when the next request happens, not what it asks
	// for, and the Secret's layout, which is written again from the token held.
	inputs.RefreshBefore = nil
	inputs.DefaultLifetime = nil
	inputs.Suspend = false
	inputs.Secret = tokenatorv1.SecretTemplate{}
	b, err := json.Marshal(struct {
		Spec *tokenatorv1.OAuthClientSpec `json:"spec"`
		Refs []objectVersion              `json:"refs"`
	}{inputs, refs})
	if err != nil {
		// Marshalling plain structs of strings and maps cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// sharedSpec is what identifies a shared token's request: the provider's
// endpoint, the requested scopes (src's) as a set and the audience.
func sharedSpec(oc *tokenatorv1.OAuthClient, src *requestSource) *tokenatorv1.OAuthClientSpec {
	return &tokenatorv1.OAuthClientSpec{
		OAuthEndpoint: *src.endpoint.DeepCopy(),
		ProviderRef:   &tokenatorv1.ProviderReference{Name: src.provider.Name},
		Scopes:        sharedtoken.Scopes(src.scopes),
		Audience:      oc.Spec.Audience,
	}
}
