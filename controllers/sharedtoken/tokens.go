// Package sharedtoken keeps the shared tokens of ClusterOAuthProviders: the
// OAuthClients that use a provider's central credentials with the same scopes
// (as a set) and audience share one token, requested once per lifetime
// whichever of them comes first, and kept in a Secret of the cluster resource
// namespace controlled by the provider. This package names that token (Key,
// SecretName), reads its Secret's metadata (FromMetadata), remembers it, its
// latest failure and its request in flight (Tokens), and words its failure
// for the tenants (FailureMessage).
package sharedtoken

import (
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/slots"
)

// Token is one shared token as this process knows it.
type Token struct {
	// RequestHash identifies the request that obtained it.
	RequestHash string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	RefreshAt   time.Time
	// Value is the token itself, nil while only the metadata was read.
	Value *oauth.Token
	// UID and ResourceVersion are of the Secret version that holds it.
	UID             types.UID
	ResourceVersion string
}

// Failure is the latest failed request of a shared token: its clients
// wait for RetryAt together instead of each trying again.
type Failure struct {
	RequestHash string
	Message     string
	Attempts    int32
	At, RetryAt time.Time
}

// entry is what this process keeps of one shared token.
type entry struct {
	held     *Token
	failure  *Failure
	inFlight bool
	waiters  slots.Line
}

// Tokens is this process's memory of shared tokens, by provider UID and
// shared key; at most one request of a shared token is in flight.
type Tokens struct {
	mu sync.Mutex
	m  map[string]*entry
}

func (s *Tokens) entry(key string) *entry {
	if s.m == nil {
		s.m = map[string]*entry{}
	}
	e := s.m[key]
	if e == nil {
		e = &entry{}
		s.m[key] = e
	}
	return e
}

// Get returns the token held for key and the latest failure.
func (s *Tokens) Get(key string) (*Token, *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	return e.held, e.failure
}

func (s *Tokens) Put(key string, t *Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	e.held, e.failure = t, nil
}

func (s *Tokens) Fail(key string, f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(key).failure = f
}

// Begin marks a request of key in flight and returns true, or, when one
// already is, puts waiter in line and returns false.
func (s *Tokens) Begin(key, waiter string) bool {
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

// End marks the request of key done and returns the waiters to wake; with
// wake false, nothing was requested and they stay in line (they come back by
// their requeue, or when the next request of key ends).
func (s *Tokens) End(key string, wake bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(key)
	e.inFlight = false
	if !wake {
		return nil
	}
	return e.waiters.Drain()
}

// Waiting returns the clients in line for the request of key, who stay in
// line.
func (s *Tokens) Waiting(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entry(key).waiters.Keys()
}

// ForgetUnused drops the keys of the provider uid whose shared key is not
// in inUse, unless a request of the key is in flight: failures remembered
// of scopes no client asks for any more go too.
func (s *Tokens) ForgetUnused(uid types.UID, inUse map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.m {
		u, sk, _ := strings.Cut(key, "/")
		if types.UID(u) == uid && !inUse[sk] && !e.inFlight {
			delete(s.m, key)
		}
	}
}

// ForgetProvidersExcept drops the keys of every provider not in live (by
// UID), unless a request of the key is in flight.
func (s *Tokens) ForgetProvidersExcept(live map[types.UID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.m {
		uid, _, _ := strings.Cut(key, "/")
		if !live[types.UID(uid)] && !e.inFlight {
			delete(s.m, key)
		}
	}
}

// Len is the number of keys remembered.
func (s *Tokens) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// FromMetadata is the shared token a Secret's metadata describes, or
// nil when the Secret is not the provider's shared token.
func FromMetadata(m metav1.Object, p *tokenatorv1.ClusterOAuthProvider) *Token {
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
	return &Token{RequestHash: a[tokenatorv1.AnnotationRequestHash], IssuedAt: issued, ExpiresAt: expires,
		RefreshAt: refresh, UID: m.GetUID(), ResourceVersion: m.GetResourceVersion()}
}
