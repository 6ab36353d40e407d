package secret

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Store writes the derived Secrets of OAuthClients and reads them: their
// metadata from References (the metadata cache of Secrets), their data from
// APIReader (the API server) when the token they hold is not the one
// remembered.
type Store struct {
	// Client writes Secrets.
	Client client.Client
	// APIReader reads Secrets from the API server.
	APIReader client.Reader
	// References reads the metadata of Secrets from the cache.
	References client.Reader
	// held remembers the token each derived Secret holds.
	held heldTokens
}

// Forget drops what is remembered of the derived Secret of the OAuthClient key.
func (store *Store) Forget(key types.NamespacedName) {
	store.held.forget(key)
}

// secretMetadata is an empty Secret metadata object to read into.
func secretMetadata() *metav1.PartialObjectMetadata {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return meta
}

// IndexController, an index of the metadata cache of Secrets, is the UID of
// the OAuthClient that controls a Secret (IndexControllerValues).
const IndexController = "tokenator.dev/controller-uid"

// IndexControllerValues is the value of the index of Secrets by controller:
// the UID of the OAuthClient or ClusterOAuthProvider that controls a Secret.
// A derived Secret of the default name, the one of most OAuthClients, is
// left out: staleSecrets reads it by name, and an index key costs a set
// of its own.
func IndexControllerValues(o client.Object) []string {
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil && !IsDefaultName(o, ref) {
		return []string{string(ref.UID)}
	}
	return nil
}
