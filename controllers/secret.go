package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// FieldOwner is the server-side apply field manager of the derived Secrets.
const FieldOwner = "tokenator"

// derivedSecretName is spec.secret.name, else "<metadata.name>-token".
func derivedSecretName(oc *tokenatorv1.OAuthClient) string {
	if oc.Spec.Secret.Name != "" {
		return oc.Spec.Secret.Name
	}
	return oc.Name + "-token"
}

// secretData renders the keys of the derived Secret for tok.
func secretData(tok *oauth.Token, tpls extraDataTemplates) (map[string][]byte, error) {
	expiresAt := tok.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	data := map[string][]byte{
		tokenatorv1.SecretKeyAccessToken:   []byte(tok.AccessToken),
		tokenatorv1.SecretKeyTokenType:     []byte(tok.TokenType),
		tokenatorv1.SecretKeyExpiresAt:     []byte(expiresAt),
		tokenatorv1.SecretKeyAuthorization: []byte("Bearer " + tok.AccessToken),
	}
	td := templateData{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresAt: expiresAt, Scope: tok.Scope}
	for key, t := range tpls {
		v, err := render(t, td)
		if err != nil {
			// The error of a template that rendered the probe could name the
			// values: report the key and the bound alone.
			if overBound(err) {
				return nil, fmt.Errorf("spec.secret.extraData[%s]: %w", key, boundError(err))
			}
			return nil, fmt.Errorf("spec.secret.extraData[%s]: rendering failed", key)
		}
		data[key] = v
	}
	return data, nil
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

// applySecret writes the derived Secret with server-side apply. A Secret that
// exists is only written when it is controlled by oc (getDerivedSecret checked);
// a new one is applied without force, so that a Secret someone else created in
// the meantime makes the write fail rather than be taken over field by field.
func (r *OAuthClientReconciler) applySecret(ctx context.Context, oc *tokenatorv1.OAuthClient, data map[string][]byte, exists bool) error {
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
	annotations[tokenatorv1.AnnotationDataHash] = dataHash(data)

	gvk := tokenatorv1.GroupVersion.WithKind("OAuthClient")
	ac := corev1ac.Secret(derivedSecretName(oc), oc.Namespace).
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
	opts := []client.ApplyOption{client.FieldOwner(FieldOwner)}
	if exists {
		opts = append(opts, client.ForceOwnership)
	}
	return r.Apply(ctx, ac, opts...)
}

// deleteStaleSecrets removes derived Secrets of oc under a name it no longer uses.
func (r *OAuthClientReconciler) deleteStaleSecrets(ctx context.Context, oc *tokenatorv1.OAuthClient) error {
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(oc.Namespace), client.MatchingLabels{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue}); err != nil {
		return err
	}
	current := derivedSecretName(oc)
	for i := range list.Items {
		s := &list.Items[i]
		if s.Name != current && metav1.IsControlledBy(s, oc) {
			if err := r.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting previous Secret %q: %w", s.Name, err)
			}
		}
	}
	return nil
}
