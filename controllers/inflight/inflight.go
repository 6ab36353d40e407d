// Package inflight runs token requests off the reconcile workers and keeps
// their outcomes until a reconcile takes them.
package inflight

import (
	"context"
	"sync"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// Token requests run off the reconcile workers: a reconcile that takes a
// request slot starts the request in a goroutine of its own and returns at
// once, writing nothing; when the request ends, its outcome is kept here and
// the OAuthClient is woken (the slots' wake-up channel), and its next
// reconcile takes the outcome and carries on as if it had waited for it. An
// endpoint that hangs thus holds a goroutine and a request slot until
// --token-request-timeout, never a worker: the workers go on serving every
// other namespace. The slots (per host, per namespace, per provider) still
// bound how many requests are in flight, so the goroutines are bounded too.

// MaxOutcomeAge is how long the outcome of a request is kept for the
// reconcile that takes it. A reconcile comes within milliseconds of its
// wake-up; an outcome older than this (its client was suspended or changed
// meanwhile, and the wake-up led elsewhere) is not used: a new request is made.
const MaxOutcomeAge = time.Minute

// Outcome is one token request, in flight or ended.
type Outcome struct {
	// id identifies what was requested (the request hash, and for a
	// client's own request the refresh annotation it answers).
	ID       string
	Pending  bool
	Token    *oauth.Token
	Err      error
	Finished time.Time
}

// Requests keeps the token requests in flight and their outcomes, by
// OAuthClient (its own requests) or by shared token; an entry goes when its
// outcome is taken, so it holds at most one small entry per client or shared
// token with a request in flight or just ended.
type Requests struct {
	mu sync.Mutex
	m  map[string]*Outcome
}

// Start runs send in a goroutine, with ctx, as the request of key for id;
// woken is called once its outcome is kept.
func (t *Requests) Start(ctx context.Context, key, id string, send func(context.Context) (*oauth.Token, error), woken func()) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]*Outcome{}
	}
	out := &Outcome{ID: id, Pending: true}
	t.m[key] = out
	t.mu.Unlock()
	go func() {
		tok, err := send(ctx)
		t.mu.Lock()
		out.Token, out.Err, out.Pending, out.Finished = tok, err, false, time.Now()
		t.mu.Unlock()
		woken()
	}()
}

// Take returns a copy of the request of key: still in flight (pending, and
// it stays), or ended (and forgotten, so that one reconcile acts on it); nil
// when there is none.
func (t *Requests) Take(key string) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.m[key]
	if out == nil {
		return nil
	}
	if !out.Pending {
		delete(t.m, key)
	}
	c := *out
	return &c
}

// Usable reports whether an ended request answers id and is recent enough to
// act on (see MaxOutcomeAge).
func (o *Outcome) Usable(id string, now time.Time) bool {
	return !o.Pending && o.ID == id && now.Sub(o.Finished) <= MaxOutcomeAge
}

// Forget drops what is kept of key; a request in flight ends unseen.
func (t *Requests) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// Answer takes the request of key: inFlight when it is still in flight, else
// its outcome when it answers id and is recent enough (see Usable); an
// outcome for another request, or one no reconcile took in time, is dropped,
// and ended says a request of key ended, answering or not.
func (t *Requests) Answer(key, id string, now time.Time) (out *Outcome, inFlight, ended bool) {
	o := t.Take(key)
	switch {
	case o == nil:
		return nil, false, false
	case o.Pending:
		return nil, true, false
	case o.Usable(id, now):
		return o, false, true
	}
	return nil, false, true
}
