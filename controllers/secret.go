package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

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

// derivedSecretName is spec.secret.name, else "<metadata.name>-token".
func derivedSecretName(oc *tokenatorv1.OAuthClient) string {
	if oc.Spec.Secret.Name != "" {
		return oc.Spec.Secret.Name
	}
	return oc.Name + "-token"
}

// maxScopeAnnotation bounds the scope kept on the derived Secret: a longer one
// is not kept, and templates that use .Scope see "" when they are rendered again
// without a new token.
const maxScopeAnnotation = 4096

// secretData renders the keys of the derived Secret for tok. A template that
// fails is left out, and the error names its key (never a value): the other
// keys, and the token, are still written.
func secretData(tok *oauth.Token, tpls extraDataTemplates) (map[string][]byte, error) {
	expiresAt := tok.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	data := map[string][]byte{
		tokenatorv1.SecretKeyAccessToken:   []byte(tok.AccessToken),
		tokenatorv1.SecretKeyTokenType:     []byte(tok.TokenType),
		tokenatorv1.SecretKeyExpiresAt:     []byte(expiresAt),
		tokenatorv1.SecretKeyAuthorization: []byte("Bearer " + tok.AccessToken),
	}
	td := templateData{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresAt: expiresAt, Scope: tok.Scope}
	var failed []string
	for _, key := range slices.Sorted(maps.Keys(tpls)) {
		v, err := render(tpls[key], td)
		if err != nil {
			// The error of a template that rendered the probe could name the
			// values: report the key and the bound alone.
			if overBound(err) {
				failed = append(failed, fmt.Sprintf("spec.secret.extraData[%s]: %v", key, boundError(err)))
			} else {
				failed = append(failed, fmt.Sprintf("spec.secret.extraData[%s]: rendering failed with the issued token", key))
			}
			continue
		}
		data[key] = v
	}
	if len(failed) > 0 {
		return data, errors.New(strings.Join(failed, "; ") + keyLeftOut)
	}
	return data, nil
}

// keyLeftOut ends the error of a template that failed with the issued token.
const keyLeftOut = "; the key is left out of the Secret until the template is fixed"

// heldToken is the token in a Secret tokenator wrote, or nil when s is nil or
// its data was edited. The times come from the Secret's expires_at and the
// status's last refresh.
func heldToken(s *corev1.Secret, st *tokenatorv1.OAuthClientStatus) *oauth.Token {
	if s == nil || !secretIntact(s) || st.ExpiresAt == nil {
		return nil
	}
	expires, err := time.Parse(time.RFC3339, string(s.Data[tokenatorv1.SecretKeyExpiresAt]))
	if err != nil || !expires.Equal(st.ExpiresAt.Time) {
		return nil
	}
	tok := &oauth.Token{
		AccessToken: string(s.Data[tokenatorv1.SecretKeyAccessToken]),
		TokenType:   string(s.Data[tokenatorv1.SecretKeyTokenType]),
		Scope:       s.Annotations[tokenatorv1.AnnotationScope],
		ExpiresAt:   expires,
	}
	if st.LastRefreshTime != nil {
		tok.IssuedAt = st.LastRefreshTime.Time
	}
	return tok
}

// dataHash is a SHA-256 over the keys and values of a Secret's data. It is stored
// on the derived Secret to notice an edit; it reveals nothing of the token.
func dataHash(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shapeHash is a SHA-256 over the labels and annotations asked of a derived Secret.
func shapeHash(labels, annotations map[string]string) string {
	h := sha256.New()
	for _, m := range []map[string]string{labels, annotations} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(m[k]), m[k])
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// secretIntact reports whether s still holds the data tokenator wrote.
func secretIntact(s *corev1.Secret) bool {
	return s.Annotations[tokenatorv1.AnnotationDataHash] == dataHash(s.Data) && len(s.Data[tokenatorv1.SecretKeyAccessToken]) > 0
}

// errSecretConflict: the derived Secret's name is taken by a Secret this
// OAuthClient does not control.
type errSecretConflict struct{ name string }

func (e *errSecretConflict) Error() string {
	return fmt.Sprintf("Secret %q exists and is not controlled by this OAuthClient; delete it or choose another spec.secret.name", e.name)
}

// getDerivedSecret returns the derived Secret, nil when it does not exist, or an
// *errSecretConflict when a Secret of that name exists that is not ours. The
// cache holds only Secrets labelled as managed by tokenator; on a miss, the
// metadata cache of all Secrets tells whether the name is free, and a Secret
// found there is read from the API server to learn whose it is. A Secret
// created in the moment the metadata cache has not seen yet is not taken over
// either: the first write is a server-side apply without force, which fails on
// fields owned by someone else, and the shipped admission policy refuses the
// manager any change to a Secret that is not tokenator's.
func (r *OAuthClientReconciler) getDerivedSecret(ctx context.Context, oc *tokenatorv1.OAuthClient) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: oc.Namespace, Name: derivedSecretName(oc)}
	s := &corev1.Secret{}
	err := r.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		if err := r.References.Get(ctx, key, metadataOnly("Secret")); apierrors.IsNotFound(err) {
			return nil, nil
		}
		err = r.APIReader.Get(ctx, key, s)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %q: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(s, oc) {
		return nil, &errSecretConflict{name: key.Name}
	}
	return s, nil
}

// desiredSecret is the derived Secret oc asks for, holding data.
func desiredSecret(oc *tokenatorv1.OAuthClient, data map[string][]byte, scope string) *corev1ac.SecretApplyConfiguration {
	labels := map[string]string{}
	for k, v := range oc.Spec.Secret.Labels {
		labels[k] = v
	}
	labels[tokenatorv1.LabelManagedBy] = tokenatorv1.ManagedByValue
	annotations := map[string]string{}
	for k, v := range oc.Spec.Secret.Annotations {
		if !strings.HasPrefix(k, "tokenator.dev/") {
			annotations[k] = v
		}
	}
	annotations[tokenatorv1.AnnotationShapeHash] = shapeHash(labels, annotations)
	annotations[tokenatorv1.AnnotationDataHash] = dataHash(data)
	if scope != "" && len(scope) <= maxScopeAnnotation {
		annotations[tokenatorv1.AnnotationScope] = scope
	}

	gvk := tokenatorv1.GroupVersion.WithKind("OAuthClient")
	return corev1ac.Secret(derivedSecretName(oc), oc.Namespace).
		WithType(corev1.SecretTypeOpaque).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(gvk.GroupVersion().String()).
			WithKind(gvk.Kind).
			WithName(oc.Name).
			WithUID(oc.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithData(data)
}

// upToDate reports whether existing already is what ac describes: same name,
// same data, same labels and annotations asked for.
func upToDate(existing *corev1.Secret, ac *corev1ac.SecretApplyConfiguration) bool {
	return existing != nil && existing.Name == *ac.Name && secretIntact(existing) &&
		existing.Annotations[tokenatorv1.AnnotationDataHash] == ac.Annotations[tokenatorv1.AnnotationDataHash] &&
		existing.Annotations[tokenatorv1.AnnotationShapeHash] == ac.Annotations[tokenatorv1.AnnotationShapeHash] &&
		existing.Annotations[tokenatorv1.AnnotationScope] == ac.Annotations[tokenatorv1.AnnotationScope]
}

// applySecret writes the derived Secret with server-side apply, as oc's own
// field manager. A Secret that exists is only written when it is controlled by
// oc (getDerivedSecret checked) and then with force; a new one is applied
// without force, so that a Secret someone else (another OAuthClient included)
// created in the meantime makes the write fail rather than be taken over.
func (r *OAuthClientReconciler) applySecret(ctx context.Context, oc *tokenatorv1.OAuthClient, ac *corev1ac.SecretApplyConfiguration, exists bool) error {
	opts := []client.ApplyOption{client.FieldOwner(fieldOwner(oc))}
	if exists {
		opts = append(opts, client.ForceOwnership)
	}
	err := r.Apply(ctx, ac, opts...)
	if err == nil || exists {
		return err
	}
	// A new Secret's write can fail because the name was taken in the
	// meantime: two OAuthClients applying the same token give the Secret two
	// controllers, which the API server refuses as invalid.
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return &errSecretConflict{name: *ac.Name}
	}
	if apierrors.IsInvalid(err) {
		s := &corev1.Secret{}
		if gerr := r.APIReader.Get(ctx, types.NamespacedName{Namespace: oc.Namespace, Name: *ac.Name}, s); gerr == nil && !metav1.IsControlledBy(s, oc) {
			return &errSecretConflict{name: *ac.Name}
		}
	}
	return err
}

// controlledSecrets lists the derived Secrets of oc's namespace that oc controls,
// under any name, from the cache.
func (r *OAuthClientReconciler) controlledSecrets(ctx context.Context, oc *tokenatorv1.OAuthClient) ([]*corev1.Secret, error) {
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(oc.Namespace), client.MatchingLabels{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue}); err != nil {
		return nil, err
	}
	var out []*corev1.Secret
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], oc) {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// previousSecret is a Secret oc controls under a name it no longer uses that
// still holds its token intact (spec.secret.name changed), or nil.
func (r *OAuthClientReconciler) previousSecret(ctx context.Context, oc *tokenatorv1.OAuthClient) (*corev1.Secret, error) {
	secrets, err := r.controlledSecrets(ctx, oc)
	if err != nil {
		return nil, err
	}
	current := derivedSecretName(oc)
	for _, s := range secrets {
		if s.Name != current && secretIntact(s) {
			return s, nil
		}
	}
	return nil, nil
}

// deleteStaleSecrets removes derived Secrets of oc under a name it no longer uses.
func (r *OAuthClientReconciler) deleteStaleSecrets(ctx context.Context, oc *tokenatorv1.OAuthClient) error {
	secrets, err := r.controlledSecrets(ctx, oc)
	if err != nil {
		return err
	}
	current := derivedSecretName(oc)
	for _, s := range secrets {
		if s.Name != current {
			if err := r.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting previous Secret %q: %w", s.Name, err)
			}
		}
	}
	return nil
}
