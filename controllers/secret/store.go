package secret

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
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

// heldTokens is this process's memory of the derived Secrets it wrote or read:
// for each OAuthClient, the version of its Secret and the token that version
// holds. The manager's caches hold Secrets as metadata only (no data of any
// Secret, tenants' included, is ever cached), so this is how a reconcile knows
// the token a derived Secret holds without reading it: a Secret whose
// resourceVersion is the one remembered holds the remembered token; any other
// version (after a restart, or an edit) is read once from the API server.
type heldTokens struct {
	mu sync.Mutex
	m  map[types.NamespacedName]heldSecret
}

// heldSecret is one version of a derived Secret and its token.
type heldSecret struct {
	name            string
	uid             types.UID
	resourceVersion string
	token           oauth.Token
}

// get returns the token of the version uid/rv of Secret name of the OAuthClient key.
func (h *heldTokens) get(key types.NamespacedName, name string, uid types.UID, rv string) (*oauth.Token, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.m[key]
	if !ok || s.name != name || s.uid != uid || s.resourceVersion != rv {
		return nil, false
	}
	tok := s.token
	return &tok, true
}

// put remembers that version uid/rv of Secret name holds tok.
func (h *heldTokens) put(key types.NamespacedName, name string, uid types.UID, rv string, tok oauth.Token) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[types.NamespacedName]heldSecret{}
	}
	h.m[key] = heldSecret{name: name, uid: uid, resourceVersion: rv, token: tok}
}

// forget drops what is remembered of the OAuthClient key.
func (h *heldTokens) forget(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

// FieldOwnerPrefix starts the server-side apply field manager of a derived
// Secret; the OAuthClient's UID follows. One field manager per OAuthClient makes
// two OAuthClients that name the same new Secret collide on the API server (the
// second apply conflicts with the first's fields) instead of one silently
// taking over the other's Secret.
const FieldOwnerPrefix = "tokenator-"

// fieldOwner is the field manager of oc's derived Secret.
func fieldOwner(oc *tokenatorv1.OAuthClient) string {
	return FieldOwnerPrefix + string(oc.UID)
}

// Holds reports whether meta, a derived Secret of oc, holds intact the
// token the status describes: it is the version tokenator last wrote
// (status.secretResourceVersion, or the version remembered), or, read once
// from the API server, its data is what tokenator wrote and its expiry is the
// status's. A Secret found intact that way is recorded as the written version.
func (store *Store) Holds(ctx context.Context, oc *tokenatorv1.OAuthClient, meta *metav1.PartialObjectMetadata) (bool, error) {
	st := &oc.Status
	if meta == nil || st.ExpiresAt == nil {
		return false, nil
	}
	if meta.ResourceVersion == st.SecretResourceVersion {
		return true, nil
	}
	tok, err := store.TokenOf(ctx, oc, meta)
	if err != nil || tok == nil || !tok.ExpiresAt.Equal(st.ExpiresAt.Time) {
		return false, err
	}
	st.SecretResourceVersion = meta.ResourceVersion
	return true, nil
}

// TokenOf returns the token in meta, a derived Secret of oc, from the memory
// of held tokens or else read from the API server; nil when its data is not
// what tokenator wrote.
func (store *Store) TokenOf(ctx context.Context, oc *tokenatorv1.OAuthClient, meta *metav1.PartialObjectMetadata) (*oauth.Token, error) {
	key := client.ObjectKeyFromObject(oc)
	if tok, ok := store.held.get(key, meta.Name, meta.UID, meta.ResourceVersion); ok {
		return withIssuedAt(tok, &oc.Status), nil
	}
	s := &corev1.Secret{}
	if err := store.APIReader.Get(ctx, types.NamespacedName{Namespace: meta.Namespace, Name: meta.Name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %q: %w", meta.Name, err)
	}
	if !metav1.IsControlledBy(s, oc) || !Intact(s) {
		return nil, nil
	}
	tok, ok := TokenFromData(s.Data, s.Annotations)
	if !ok {
		return nil, nil
	}
	store.held.put(key, s.Name, s.UID, s.ResourceVersion, tok)
	return withIssuedAt(&tok, &oc.Status), nil
}

// TokenFromData is the token that the data and annotations of a derived
// Secret, as Desired builds them, hold; false when expires_at does not
// parse.
func TokenFromData(data map[string][]byte, annotations map[string]string) (oauth.Token, bool) {
	expires, err := time.Parse(time.RFC3339, string(data[tokenatorv1.SecretKeyExpiresAt]))
	if err != nil {
		return oauth.Token{}, false
	}
	return oauth.Token{
		AccessToken: string(data[tokenatorv1.SecretKeyAccessToken]),
		TokenType:   string(data[tokenatorv1.SecretKeyTokenType]),
		Scope:       annotations[tokenatorv1.AnnotationScope],
		ExpiresAt:   expires,
	}, true
}

// withIssuedAt sets the token's issue time from the status.
func withIssuedAt(tok *oauth.Token, st *tokenatorv1.OAuthClientStatus) *oauth.Token {
	if st.LastRefreshTime != nil {
		tok.IssuedAt = st.LastRefreshTime.Time
	}
	return tok
}

// Intact reports whether s still holds the data tokenator wrote.
func Intact(s *corev1.Secret) bool {
	return s.Annotations[tokenatorv1.AnnotationDataHash] == DataHash(s.Data) && len(s.Data[tokenatorv1.SecretKeyAccessToken]) > 0
}

// Get returns the metadata of the derived Secret, nil when it
// does not exist, or an *ConflictError when a Secret of that name exists
// that is not ours. It reads the metadata cache of Secrets. A Secret created in
// the moment the cache has not seen yet is not taken over either: the first
// write is a create, which fails on an existing Secret, or a server-side apply
// without force, as this OAuthClient's own field manager, which fails on
// fields owned by someone else (a failed create falls back to it), and the shipped
// admission policy refuses the manager any change to a Secret that is not
// tokenator's.
func (store *Store) Get(ctx context.Context, oc *tokenatorv1.OAuthClient) (*metav1.PartialObjectMetadata, error) {
	key := types.NamespacedName{Namespace: oc.Namespace, Name: Name(oc)}
	meta := secretMetadata()
	if err := store.References.Get(ctx, key, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %q: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(meta, oc) {
		return nil, &ConflictError{Name: key.Name}
	}
	return meta, nil
}

// Apply writes the derived Secret with server-side apply, as oc's own
// field manager. A Secret that exists is only written when it is controlled by
// oc (getDerivedSecret checked) and then with force; a new one is applied
// without force, so that a Secret someone else (another OAuthClient included)
// created in the meantime makes the write fail rather than be taken over.
//
// A new Secret that createsCleanly is created instead, as the same field
// manager: the API server spends about a fifth of an apply's CPU on a create.
// A Secret of that name created in the meantime makes the create fail with
// AlreadyExists, and the apply without force then reports the conflict as
// it would have.
func (store *Store) Apply(ctx context.Context, oc *tokenatorv1.OAuthClient, ac *corev1ac.SecretApplyConfiguration, exists bool) error {
	if !exists && createsCleanly(oc, ac) {
		s := secretOf(ac)
		err := store.Client.Create(ctx, s, client.FieldOwner(fieldOwner(oc)))
		if err == nil {
			if tok, ok := TokenFromData(s.Data, s.Annotations); ok {
				store.held.put(client.ObjectKeyFromObject(oc), s.Name, s.UID, s.ResourceVersion, tok)
				oc.Status.SecretResourceVersion = s.ResourceVersion
			}
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	opts := []client.ApplyOption{client.FieldOwner(fieldOwner(oc))}
	if exists {
		opts = append(opts, client.ForceOwnership)
	}
	err := store.Client.Apply(ctx, ac, opts...)
	if err == nil {
		// The apply answered with the Secret as written: remember the token of
		// that version.
		if tok, ok := TokenFromData(ac.Data, ac.Annotations); ok && ac.UID != nil && ac.ResourceVersion != nil {
			store.held.put(client.ObjectKeyFromObject(oc), *ac.Name, *ac.UID, *ac.ResourceVersion, tok)
			oc.Status.SecretResourceVersion = *ac.ResourceVersion
		}
		return nil
	}
	if exists {
		return err
	}
	// A new Secret's write can fail because the name was taken in the
	// meantime: two OAuthClients applying the same token give the Secret two
	// controllers, which the API server refuses as invalid.
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return &ConflictError{Name: *ac.Name}
	}
	if apierrors.IsInvalid(err) {
		// Its metadata tells whose it is; its data, maybe a tenant's, is not read.
		s := secretMetadata()
		if gerr := store.APIReader.Get(ctx, types.NamespacedName{Namespace: oc.Namespace, Name: *ac.Name}, s); gerr == nil && !metav1.IsControlledBy(s, oc) {
			return &ConflictError{Name: *ac.Name}
		}
	}
	return err
}

// createsCleanly reports whether ac, a new derived Secret of oc, may be
// created rather than applied. A create records its fields under an Update
// entry of the field manager, which the later applies (an Apply entry of the
// same name) share but cannot remove: a field the create set and a later
// apply leaves out would stay. So a Secret is only created when every field
// it sets is one every later apply sets too: the type, the managed-by label,
// the owner reference, the hash and scope annotations, and the four keys of
// the token. spec.secret's labels, annotations and extraData (whose keys, and
// the render error annotation, come and go with the spec) make it applied.
func createsCleanly(oc *tokenatorv1.OAuthClient, ac *corev1ac.SecretApplyConfiguration) bool {
	t := &oc.Spec.Secret
	_, renderErr := ac.Annotations[tokenatorv1.AnnotationRenderError]
	return len(t.Labels) == 0 && len(t.Annotations) == 0 && len(t.ExtraData) == 0 && !renderErr
}

// DropTokenKeys removes the token's keys that are left in ac, the Secret as an
// apply without them answered: those of a Secret that was created (see
// createsCleanly), which the apply shares with the create and cannot remove.
// A merge patch removes them, as oc's field manager.
func (store *Store) DropTokenKeys(ctx context.Context, oc *tokenatorv1.OAuthClient, ac *corev1ac.SecretApplyConfiguration) error {
	drop := map[string]any{}
	for _, k := range []string{tokenatorv1.SecretKeyAccessToken, tokenatorv1.SecretKeyTokenType,
		tokenatorv1.SecretKeyExpiresAt, tokenatorv1.SecretKeyAuthorization} {
		if _, ok := ac.Data[k]; ok {
			drop[k] = nil
		}
	}
	if len(drop) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"data": drop})
	if err != nil {
		return err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: *ac.Name, Namespace: *ac.Namespace}}
	return store.Client.Patch(ctx, s, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fieldOwner(oc)))
}

// secretOf is the Secret ac describes.
func secretOf(ac *corev1ac.SecretApplyConfiguration) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: *ac.Name, Namespace: *ac.Namespace, Labels: ac.Labels, Annotations: ac.Annotations},
		Type:       *ac.Type,
		Data:       ac.Data,
	}
	for _, ref := range ac.OwnerReferences {
		s.OwnerReferences = append(s.OwnerReferences, metav1.OwnerReference{APIVersion: *ref.APIVersion, Kind: *ref.Kind,
			Name: *ref.Name, UID: *ref.UID, Controller: ref.Controller, BlockOwnerDeletion: ref.BlockOwnerDeletion})
	}
	return s
}

// staleSecrets lists the metadata of the Secrets of oc's namespace that oc
// controls under a name it no longer uses (spec.secret.name changed), from
// the metadata cache. The index of controllers leaves out the Secret of the
// default name (see IndexControllerValues): it is read by its name, when it
// is not the current one.
func (store *Store) staleSecrets(ctx context.Context, oc *tokenatorv1.OAuthClient) ([]*metav1.PartialObjectMetadata, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := store.References.List(ctx, list, client.InNamespace(oc.Namespace), client.MatchingFields{IndexController: string(oc.UID)}); err != nil {
		return nil, err
	}
	current := Name(oc)
	out := make([]*metav1.PartialObjectMetadata, 0, len(list.Items)+1)
	for i := range list.Items {
		if s := &list.Items[i]; s.Name != current && metav1.IsControlledBy(s, oc) {
			out = append(out, s)
		}
	}
	if def := oc.Name + DefaultSuffix; def != current {
		m := secretMetadata()
		err := store.References.Get(ctx, types.NamespacedName{Namespace: oc.Namespace, Name: def}, m)
		switch {
		case err == nil && metav1.IsControlledBy(m, oc):
			out = append(out, m)
		case err != nil && !apierrors.IsNotFound(err):
			return nil, err
		}
	}
	return out, nil
}

// Previous is a Secret oc controls under a name it no longer uses
// (spec.secret.name changed), or nil.
func (store *Store) Previous(ctx context.Context, oc *tokenatorv1.OAuthClient) (*metav1.PartialObjectMetadata, error) {
	secrets, err := store.staleSecrets(ctx, oc)
	if err != nil || len(secrets) == 0 {
		return nil, err
	}
	return secrets[0], nil
}

// DeleteStale removes derived Secrets of oc under a name it no longer uses.
func (store *Store) DeleteStale(ctx context.Context, oc *tokenatorv1.OAuthClient) error {
	secrets, err := store.staleSecrets(ctx, oc)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if err := store.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting previous Secret %q: %w", s.Name, err)
		}
	}
	return nil
}
