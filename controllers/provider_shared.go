package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/schedule"
)

// Shared tokens: the OAuthClients that use a ClusterOAuthProvider's central
// credentials with the same scopes (as a set) and audience share one token,
// requested once per lifetime whichever of them comes first, and kept in a
// Secret of the cluster resource namespace controlled by the provider, so
// that a restart requests none. Each OAuthClient copies it into its own
// derived Secret. The scopes and audience choose the shared token: nothing
// else of a tenant's spec reaches it, so no tenant changes what another gets.

// sharedFieldOwnerPrefix starts the field manager of a shared token Secret;
// the provider's UID follows.
const sharedFieldOwnerPrefix = "tokenator-provider-"

// currentShared returns the shared token of key for the request hash, from
// memory or else from the metadata cache, or nil when none is usable now:
// none is held, it was obtained for other inputs, or its refresh is due.
func (r *OAuthClientReconciler) currentShared(ctx context.Context, key, name, hash string, p *tokenatorv1.ClusterOAuthProvider, now time.Time) (*sharedtoken.Token, error) {
	held, _ := r.shared.Get(key)
	if held == nil || held.RequestHash != hash {
		m := metadataOnly("Secret")
		err := r.References.Get(ctx, types.NamespacedName{Namespace: r.Options.ClusterResourceNamespace, Name: name}, m)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			held = sharedtoken.FromMetadata(m, p)
		}
	}
	if held == nil || held.RequestHash != hash || !now.Before(held.RefreshAt) {
		return nil, nil
	}
	return held, nil
}

// sharedTokenValue returns the token of t, read once from its Secret when
// only its metadata is known; nil when the Secret changed since.
func (r *OAuthClientReconciler) sharedTokenValue(ctx context.Context, key, name string, t *sharedtoken.Token) (*oauth.Token, error) {
	if t.Value != nil {
		tok := *t.Value
		return &tok, nil
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: r.Options.ClusterResourceNamespace, Name: name}, s); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if s.UID != t.UID || s.ResourceVersion != t.ResourceVersion || !secret.Intact(s) {
		return nil, nil
	}
	tok, ok := secret.TokenFromData(s.Data, s.Annotations)
	if !ok || !tok.ExpiresAt.Equal(t.ExpiresAt) {
		return nil, nil
	}
	tok.IssuedAt = t.IssuedAt
	kept := *t
	kept.Value = &tok
	r.shared.Put(key, &kept)
	out := tok
	return &out, nil
}

// sharedRequestKey is the key of a shared token's request in tokenRequests,
// apart from the keys of clients' own requests.
func sharedRequestKey(key string) string { return "shared:" + key }

// endShared ends the in-flight mark of the shared token key and wakes the
// clients waiting for it (with wake false they stay in line).
func (r *OAuthClientReconciler) endShared(key string, wake bool) {
	for _, w := range r.shared.End(key, wake) {
		r.wake(w)
	}
}

// sharedFromAPI reads the shared token Secret's metadata from the API server.
func (r *OAuthClientReconciler) sharedFromAPI(ctx context.Context, key, name, hash string, p *tokenatorv1.ClusterOAuthProvider, now time.Time) (*sharedtoken.Token, error) {
	if held, _ := r.shared.Get(key); held != nil && held.RequestHash == hash && now.Before(held.RefreshAt) {
		return held, nil
	}
	m := metadataOnly("Secret")
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: r.Options.ClusterResourceNamespace, Name: name}, m); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if t := sharedtoken.FromMetadata(m, p); t != nil && t.RequestHash == hash && now.Before(t.RefreshAt) {
		return t, nil
	}
	return nil, nil
}

// writeShared writes a newly obtained shared token into its Secret, owned by
// the provider.
func (r *OAuthClientReconciler) writeShared(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider, name, sk string, g *gathered, tok *oauth.Token) (*sharedtoken.Token, error) {
	issued := tok.IssuedAt.Truncate(time.Second)
	expires := tok.ExpiresAt.Truncate(time.Second)
	refresh := schedule.RefreshTime(issued, expires, refreshBefore(g.source.endpoint), r.Options.MinRequestInterval, string(p.UID)+sk)
	data := map[string][]byte{
		tokenatorv1.SecretKeyAccessToken: []byte(tok.AccessToken),
		tokenatorv1.SecretKeyTokenType:   []byte(tok.TokenType),
		tokenatorv1.SecretKeyExpiresAt:   []byte(expires.UTC().Format(time.RFC3339)),
	}
	annotations := map[string]string{
		tokenatorv1.AnnotationSharedKey:   sk,
		tokenatorv1.AnnotationRequestHash: g.hash,
		tokenatorv1.AnnotationIssuedAt:    issued.UTC().Format(time.RFC3339),
		tokenatorv1.AnnotationExpiresAt:   expires.UTC().Format(time.RFC3339),
		tokenatorv1.AnnotationRefreshAt:   refresh.UTC().Format(time.RFC3339),
		tokenatorv1.AnnotationDataHash:    secret.DataHash(data),
	}
	if tok.Scope != "" && len(tok.Scope) <= secret.MaxScopeAnnotation {
		annotations[tokenatorv1.AnnotationScope] = tok.Scope
	}
	gvk := tokenatorv1.GroupVersion.WithKind("ClusterOAuthProvider")
	ac := corev1ac.Secret(name, r.Options.ClusterResourceNamespace).
		WithType(corev1.SecretTypeOpaque).
		WithLabels(map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue, tokenatorv1.LabelProvider: p.Name}).
		WithAnnotations(annotations).
		WithOwnerReferences(metav1ac.OwnerReference().WithAPIVersion(gvk.GroupVersion().String()).WithKind(gvk.Kind).
			WithName(p.Name).WithUID(p.UID).WithController(true).WithBlockOwnerDeletion(true)).
		WithData(data)
	if err := r.Apply(ctx, ac, client.FieldOwner(sharedFieldOwnerPrefix+string(p.UID)), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("writing shared token Secret %q: %w", name, err)
	}
	t := &sharedtoken.Token{RequestHash: g.hash, IssuedAt: issued, ExpiresAt: expires, RefreshAt: refresh}
	kept := *tok
	kept.IssuedAt, kept.ExpiresAt = issued, expires
	t.Value = &kept
	if ac.UID != nil && ac.ResourceVersion != nil {
		t.UID, t.ResourceVersion = *ac.UID, *ac.ResourceVersion
	}
	return t, nil
}
