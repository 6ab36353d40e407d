package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	"github.com/tokenator-dev/tokenator/internal/schedule"
	"github.com/tokenator-dev/tokenator/internal/slots"
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

// sharedToken is one shared token as this process knows it.
type sharedToken struct {
	// requestHash identifies the request that obtained it.
	requestHash string
	issuedAt    time.Time
	expiresAt   time.Time
	refreshAt   time.Time
	// token is the token itself, nil while only the metadata was read.
	token *oauth.Token
	// uid and resourceVersion are of the Secret version that holds it.
	uid             types.UID
	resourceVersion string
}

// sharedFailure is the latest failed request of a shared token: its clients
// wait for retryAt together instead of each trying again.
type sharedFailure struct {
	requestHash string
	message     string
	attempts    int32
	at, retryAt time.Time
}

// sharedEntry is what this process keeps of one shared token.
type sharedEntry struct {
	held     *sharedToken
	failure  *sharedFailure
	inFlight bool
	waiters  slots.Line
}

// sharedTokens is this process's memory of shared tokens, by provider UID and
// shared key; at most one request of a shared token is in flight.
type sharedTokens struct {
	mu sync.Mutex
	m  map[string]*sharedEntry
}

func (s *sharedTokens) entry(key string) *sharedEntry {
	if s.m == nil {
		s.m = map[string]*sharedEntry{}
	}
	e := s.m[key]
	if e == nil {
		e = &sharedEntry{}
		s.m[key] = e
	}
	return e
}

// get returns the token held for key and the latest failure.
func (s *sharedTokens) get(key string) (*sharedToken, *sharedFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	return e.held, e.failure
}

func (s *sharedTokens) put(key string, t *sharedToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	e.held, e.failure = t, nil
}

func (s *sharedTokens) fail(key string, f *sharedFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(key).failure = f
}

// begin marks a request of key in flight and returns true, or, when one
// already is, puts waiter in line and returns false.
func (s *sharedTokens) begin(key, waiter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	if e.inFlight {
		e.waiters.Add(waiter)
		return false
	}
	e.inFlight = true
	// The one requesting needs no wake-up of its own.
	e.waiters.Remove(waiter)
	return true
}

// end marks the request of key done and returns the waiters to wake; with
// wake false, nothing was requested and they stay in line (they come back by
// their requeue, or when the next request of key ends).
func (s *sharedTokens) end(key string, wake bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	e.inFlight = false
	if !wake {
		return nil
	}
	return e.waiters.Drain()
}

// waiting returns the clients in line for the request of key, who stay in
// line.
func (s *sharedTokens) waiting(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entry(key).waiters.Keys()
}

// forgetUnused drops the keys of the provider uid whose shared key is not
// in inUse, unless a request of the key is in flight: failures remembered
// of scopes no client asks for any more go too.
func (s *sharedTokens) forgetUnused(uid types.UID, inUse map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.m {
		u, sk, _ := strings.Cut(key, "/")
		if types.UID(u) == uid && !inUse[sk] && !e.inFlight {
			delete(s.m, key)
		}
	}
}

// forgetProvidersExcept drops the keys of every provider not in live (by
// UID), unless a request of the key is in flight.
func (s *sharedTokens) forgetProvidersExcept(live map[types.UID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.m {
		uid, _, _ := strings.Cut(key, "/")
		if !live[types.UID(uid)] && !e.inFlight {
			delete(s.m, key)
		}
	}
}

// len is the number of keys remembered.
func (s *sharedTokens) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sharedSpec is what identifies a shared token's request: the provider's
// endpoint, the requested scopes (src's) as a set and the audience.
func sharedSpec(oc *tokenatorv1.OAuthClient, src *requestSource) *tokenatorv1.OAuthClientSpec {
	scopes := slices.Clone(src.scopes)
	slices.Sort(scopes)
	return &tokenatorv1.OAuthClientSpec{
		OAuthEndpoint: *src.endpoint.DeepCopy(),
		ProviderRef:   &tokenatorv1.ProviderReference{Name: src.provider.Name},
		Scopes:        slices.Compact(scopes),
		Audience:      oc.Spec.Audience,
	}
}

// sharedFromMetadata is the shared token a Secret's metadata describes, or
// nil when the Secret is not the provider's shared token.
func sharedFromMetadata(m metav1.Object, p *tokenatorv1.ClusterOAuthProvider) *sharedToken {
	if !metav1.IsControlledBy(m, p) {
		return nil
	}
	a := m.GetAnnotations()
	parse := func(k string) (time.Time, bool) {
		t, err := time.Parse(time.RFC3339, a[k])
		return t, err == nil
	}
	issued, ok1 := parse(tokenatorv1.AnnotationIssuedAt)
	expires, ok2 := parse(tokenatorv1.AnnotationExpiresAt)
	refresh, ok3 := parse(tokenatorv1.AnnotationRefreshAt)
	if !ok1 || !ok2 || !ok3 || a[tokenatorv1.AnnotationRequestHash] == "" {
		return nil
	}
	return &sharedToken{requestHash: a[tokenatorv1.AnnotationRequestHash], issuedAt: issued, expiresAt: expires,
		refreshAt: refresh, uid: m.GetUID(), resourceVersion: m.GetResourceVersion()}
}

// currentShared returns the shared token of key for the request hash, from
// memory or else from the metadata cache, or nil when none is usable now:
// none is held, it was obtained for other inputs, or its refresh is due.
func (r *OAuthClientReconciler) currentShared(ctx context.Context, key, name, hash string, p *tokenatorv1.ClusterOAuthProvider, now time.Time) (*sharedToken, error) {
	held, _ := r.shared.get(key)
	if held == nil || held.requestHash != hash {
		m := metadataOnly("Secret")
		err := r.References.Get(ctx, types.NamespacedName{Namespace: r.Options.ClusterResourceNamespace, Name: name}, m)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			held = sharedFromMetadata(m, p)
		}
	}
	if held == nil || held.requestHash != hash || !now.Before(held.refreshAt) {
		return nil, nil
	}
	return held, nil
}

// sharedTokenValue returns the token of t, read once from its Secret when
// only its metadata is known; nil when the Secret changed since.
func (r *OAuthClientReconciler) sharedTokenValue(ctx context.Context, key, name string, t *sharedToken) (*oauth.Token, error) {
	if t.token != nil {
		tok := *t.token
		return &tok, nil
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: r.Options.ClusterResourceNamespace, Name: name}, s); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if s.UID != t.uid || s.ResourceVersion != t.resourceVersion || !secretIntact(s) {
		return nil, nil
	}
	tok, ok := tokenFromData(s.Data, s.Annotations)
	if !ok || !tok.ExpiresAt.Equal(t.expiresAt) {
		return nil, nil
	}
	tok.IssuedAt = t.issuedAt
	kept := *t
	kept.token = &tok
	r.shared.put(key, &kept)
	out := tok
	return &out, nil
}

// sharedRequestKey is the key of a shared token's request in tokenRequests,
// apart from the keys of clients' own requests.
func sharedRequestKey(key string) string { return "shared:" + key }

// endShared ends the in-flight mark of the shared token key and wakes the
// clients waiting for it (with wake false they stay in line).
func (r *OAuthClientReconciler) endShared(key string, wake bool) {
	for _, w := range r.shared.end(key, wake) {
		r.wake(w)
	}
}

// sharedFromAPI reads the shared token Secret's metadata from the API server.
func (r *OAuthClientReconciler) sharedFromAPI(ctx context.Context, key, name, hash string, p *tokenatorv1.ClusterOAuthProvider, now time.Time) (*sharedToken, error) {
	if held, _ := r.shared.get(key); held != nil && held.requestHash == hash && now.Before(held.refreshAt) {
		return held, nil
	}
	m := metadataOnly("Secret")
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: r.Options.ClusterResourceNamespace, Name: name}, m); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if t := sharedFromMetadata(m, p); t != nil && t.requestHash == hash && now.Before(t.refreshAt) {
		return t, nil
	}
	return nil, nil
}

// writeShared writes a newly obtained shared token into its Secret, owned by
// the provider.
func (r *OAuthClientReconciler) writeShared(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider, name, sk string, g *gathered, tok *oauth.Token) (*sharedToken, error) {
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
		tokenatorv1.AnnotationDataHash:    dataHash(data),
	}
	if tok.Scope != "" && len(tok.Scope) <= maxScopeAnnotation {
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
	t := &sharedToken{requestHash: g.hash, issuedAt: issued, expiresAt: expires, refreshAt: refresh}
	kept := *tok
	kept.IssuedAt, kept.ExpiresAt = issued, expires
	t.token = &kept
	if ac.UID != nil && ac.ResourceVersion != nil {
		t.uid, t.resourceVersion = *ac.UID, *ac.ResourceVersion
	}
	return t, nil
}
