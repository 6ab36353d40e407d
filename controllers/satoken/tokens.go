// Package satoken obtains the ServiceAccount tokens tokenator sends (a client
// assertion, a subject token): one TokenRequest at a time per ServiceAccount,
// audience and lifetime, reused while more than half its life is left and for
// the same version and opt-in of the ServiceAccount only (Tokens); and the
// API server's own audiences, for which no token is ever requested
// (APIAudiences).
package satoken

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Version is the version of a ServiceAccount a token is for: its UID and its
// tokenator.dev/token-audiences annotation.
type Version struct {
	UID   types.UID
	OptIn string
}

// Use is what a token is asked for: the ServiceAccount's name, the audience,
// the lifetime, and the field that names the ServiceAccount (for messages).
type Use struct {
	Name, Audience string
	Lifetime       time.Duration
	Field          string
}

// NotFoundError says the ServiceAccount of a TokenRequest does not exist.
type NotFoundError struct{ Field, Name, Namespace string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s: ServiceAccount %q not found in namespace %q", e.Field, e.Name, e.Namespace)
}

// Tokens keeps the ServiceAccount tokens obtained, in memory
// only, so that a token is reused while more than half its life is left. An
// entry is used only for the ServiceAccount (UID) and opt-in it was obtained
// for, and a change of the ServiceAccount drops its entries.
type Tokens struct {
	mu      sync.Mutex
	entries map[tokenKey]entry
	// requests makes one TokenRequest at a time per key: the callers of a
	// key that come while one is made share its outcome.
	requests singleflight.Group
}

// maxTokens bounds the tokens kept; at the bound, expired
// entries go first, then any.
const maxTokens = 4096

// requestTimeout bounds one TokenRequest. It runs apart from the
// context of the caller that started it: that caller may give up without
// failing the others that share the request.
const requestTimeout = 30 * time.Second

type tokenKey struct {
	namespace, name, audience string
	lifetime                  time.Duration
	// field names the ServiceAccount's field in messages; not part of the
	// key's String.
	field string
}

// String is the key of the request of k: a namespace and a name hold no
// "/", so the audience, last, is whatever follows them.
func (k tokenKey) String() string {
	return fmt.Sprintf("%d/%s/%s/%s", k.lifetime, k.namespace, k.name, k.audience)
}

type entry struct {
	token      string
	uid        types.UID
	optIn      string
	reuseUntil time.Time
}

// Token returns a token of the ServiceAccount v, in namespace, for the
// audience and lifetime of ca: the one kept while more than half its life is
// left, else a new one from the TokenRequest API. While the token of the key
// is being requested, the caller waits for that request (or its own ctx)
// rather than make another.
func (t *Tokens) Token(ctx context.Context, c client.Client, clk clock.PassiveClock, namespace string,
	v Version, use Use) (string, error) {
	k := tokenKey{namespace: namespace, name: use.Name, audience: use.Audience, lifetime: use.Lifetime, field: use.Field}
	for {
		if e, ok := t.kept(k, v, clk.Now()); ok {
			return e.token, nil
		}
		if err := ctx.Err(); err != nil {
			return "", err // no token is requested for a caller gone
		}
		// One TokenRequest per key at a time: OAuthClients of the same
		// ServiceAccount and audience reconciled at once share its token.
		ch := t.requests.DoChan(k.String(), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
			defer cancel()
			return t.request(ctx, c, clk, k, v)
		})
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case res := <-ch:
			if res.Err != nil {
				return "", res.Err
			}
			if e := res.Val.(entry); e.uid == v.UID && e.optIn == v.OptIn {
				return e.token, nil
			}
			// Requested for another version of the ServiceAccount, by a
			// caller that read it before or after this one: again, for v.
		}
	}
}

// kept is the token kept of key for the version v, while it may be reused.
func (t *Tokens) kept(key tokenKey, v Version, now time.Time) (entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	return e, ok && e.uid == v.UID && e.optIn == v.OptIn && now.Before(e.reuseUntil)
}

// request obtains a token of key for the version v from the TokenRequest API,
// unless one was kept meanwhile, and keeps it.
func (t *Tokens) request(ctx context.Context, c client.Client, clk clock.PassiveClock,
	key tokenKey, v Version) (entry, error) {
	now := clk.Now()
	if e, ok := t.kept(key, v, now); ok {
		return e, nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: key.namespace, Name: key.name}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{key.audience},
		ExpirationSeconds: ptr.To(int64(key.lifetime / time.Second)),
	}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		if apierrors.IsNotFound(err) {
			return entry{}, &NotFoundError{Field: key.field, Name: key.name, Namespace: key.namespace}
		}
		return entry{}, fmt.Errorf(msgTokenRequestFailed, key.name, err)
	}
	if tr.Status.Token == "" {
		return entry{}, fmt.Errorf(msgTokenRequestFailed, key.name, errors.New("the API server returned no token"))
	}
	expires := tr.Status.ExpirationTimestamp.Time
	e := entry{token: tr.Status.Token, uid: v.UID, optIn: v.OptIn, reuseUntil: now.Add(expires.Sub(now) / 2)}
	log.FromContext(ctx).V(1).Info("ServiceAccount token obtained", "serviceAccount", key.name, "audience", key.audience,
		"expiresAt", expires.UTC().Format(time.RFC3339))
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = map[tokenKey]entry{}
	}
	if len(t.entries) >= maxTokens {
		t.evict(now)
	}
	t.entries[key] = e
	return e, nil
}

// evict makes room: entries no longer reusable go, and if none was, one
// other. t.mu is held.
func (t *Tokens) evict(now time.Time) {
	removed := false
	for k, e := range t.entries {
		if !now.Before(e.reuseUntil) {
			delete(t.entries, k)
			removed = true
		}
	}
	if !removed {
		for k := range t.entries {
			delete(t.entries, k)
			break
		}
	}
}

// Forget drops the tokens of a ServiceAccount (it changed or went away).
func (t *Tokens) Forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.entries {
		if k.namespace == namespace && k.name == name {
			delete(t.entries, k)
		}
	}
}

// Len is the number of tokens kept.
func (t *Tokens) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
