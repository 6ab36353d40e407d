package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/render"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/schedule"
)

// act carries out p, the plan of oc made from f: it writes Secrets, starts
// requests, and sets the status the plan says; it decides nothing a table
// test of decide does not cover. g is what gather resolved (nil for a
// suspended client or a problem).
func (r *OAuthClientReconciler) act(ctx context.Context, oc *tokenatorv1.OAuthClient, f facts, g *gathered, p plan) (ctrl.Result, error) {
	r.applyPlan(oc, f, p)
	if f.Shared != nil && f.Outcome != nil {
		// The in-flight mark of a shared token lasts until a client of it has
		// taken the outcome and written it.
		defer r.endShared(g.sharedKey, true)
	}
	switch p.Action {
	case actionDefer:
		if f.Shared != nil {
			r.shared.Begin(g.sharedKey, client.ObjectKeyFromObject(oc).String()) // in line: woken when it ends
		}
		return ctrl.Result{RequeueAfter: busyRetryDelay(f.UID, f.Now)}, errDeferred
	case actionRequest:
		if f.Shared != nil {
			return r.requestShared(ctx, oc, f, g)
		}
		return r.requestToken(ctx, oc, f, g)
	case actionWrite:
		return r.writeSecret(ctx, oc, g, f.Outcome.Token, p, f.Now)
	case actionRewrite:
		return r.rewriteToken(ctx, oc, g, p, f.Now)
	case actionStoreShared:
		return r.storeShared(ctx, oc, f, g)
	case actionDeliver:
		return r.deliverShared(ctx, oc, g, f.Shared.Token, p, f.Now)
	case actionRemoveToken:
		return r.removeToken(ctx, oc, p, f.Now)
	}
	if p.Ready != nil {
		r.setReady(oc, *p.Ready, f.Now)
	}
	if p.Action == actionFail {
		r.recordFailure(ctx, oc, g, p)
	}
	return comeBack(p.At, f.Now), nil
}

// applyPlan sets the status fields p says, before act writes anything.
func (r *OAuthClientReconciler) applyPlan(oc *tokenatorv1.OAuthClient, f facts, p plan) {
	st := &oc.Status
	if p.SetSource {
		st.TokenSource = p.Source
	}
	if f.Problem == nil && !f.Suspended {
		st.SecretName = secret.Name(oc)
	}
	if p.RecordRequest {
		st.TokenRequestHash, st.LastHandledRefreshRequest = f.RequestHash, f.RefreshRequest
	}
	if fl := p.Failed; fl != nil {
		st.TokenRequestHash = f.RequestHash
		st.FailedAttempts = fl.attempts
		st.LastFailureTime = &metav1.Time{Time: fl.at}
		st.RefreshAt = &metav1.Time{Time: fl.retryAt}
	}
	if p.RefreshAt != nil && p.Action == actionReport {
		st.RefreshAt = &metav1.Time{Time: *p.RefreshAt}
	}
}

// comeBack is the result of a plan that comes back at at; a zero at waits
// for the next change.
func comeBack(at, now time.Time) ctrl.Result {
	if at.IsZero() {
		return ctrl.Result{}
	}
	return requeueAt(at, now)
}

// planOptions are the plan's settings, from the reconciler's options.
func (r *OAuthClientReconciler) planOptions() planOptions {
	return planOptions{MinInterval: r.Options.MinRequestInterval, RetryBase: r.Options.RetryBaseDelay, RetryMax: r.Options.RetryMaxDelay}
}

// requestToken starts a request of oc's own token. The credentials and the
// CA bundle are read first (each version once: a client that then finds no
// free slot reads them from memory when it comes back); a slot is then taken
// for the token request alone: a client whose endpoint host, or namespace,
// has its share of requests in flight comes back shortly without holding a
// worker. The request itself runs off the workers (see inflight.Requests): this
// reconcile returns at once, and the one its end wakes writes the outcome.
func (r *OAuthClientReconciler) requestToken(ctx context.Context, oc *tokenatorv1.OAuthClient, f facts, g *gathered) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(oc).String()
	in, err := r.readRequestInputs(ctx, g)
	if err != nil && usesTokenRequest(g) && !errors.As(err, new(*referenceError)) {
		// The TokenRequest failed: shown and retried with backoff, like a
		// token request.
		p := failurePlan(&oc.Status, err, f.UID, f.Now, r.planOptions())
		p.RecordRequest = true
		return r.act(ctx, oc, f, g, p)
	}
	if err != nil {
		return r.report(oc, err, f.Now)
	}
	release, busy := r.Slots.TryAcquire(g.endpoint.Host, oc.Namespace, key)
	if busy != nil {
		// In line for the bound: woken when one of its slots is freed, and
		// back in any case after a few seconds.
		log.FromContext(ctx).V(1).Info("Token request deferred", "reason", busy.Error())
		return ctrl.Result{RequeueAfter: busyRetryDelay(f.UID, f.Now)}, errDeferred
	}
	scopes := slices.Clone(g.source.scopes)
	// The reconcile's context is the controller's, which lives until the
	// manager stops (no reconcile timeout is set): a request in flight
	// ends with the manager.
	r.requests.Start(ctx, key, f.RequestHash+"|"+f.RefreshRequest, func(ctx context.Context) (*oauth.Token, error) {
		defer release()
		return r.sendTokenRequest(ctx, g, in, scopes)
	}, func() { r.wake(key) })
	return ctrl.Result{RequeueAfter: busyRetryDelay(f.UID, f.Now)}, errDeferred
}

// requestShared starts the request of oc's shared token, once for all the
// OAuthClients that share it: a client that finds it in flight is woken when
// it ends, and writes nothing meanwhile.
func (r *OAuthClientReconciler) requestShared(ctx context.Context, oc *tokenatorv1.OAuthClient, f facts, g *gathered) (ctrl.Result, error) {
	if !r.shared.Begin(g.sharedKey, client.ObjectKeyFromObject(oc).String()) {
		return ctrl.Result{RequeueAfter: busyRetryDelay(f.UID, f.Now)}, errDeferred
	}
	return r.startShared(ctx, oc, f, g)
}

// startShared starts the request of the shared token, under its in-flight
// mark, once the API server confirms none is usable; the mark ends here
// unless the request was started.
func (r *OAuthClientReconciler) startShared(ctx context.Context, oc *tokenatorv1.OAuthClient, f facts, g *gathered) (ctrl.Result, error) {
	p, key := g.source.provider, g.sharedKey
	waiter := client.ObjectKeyFromObject(oc).String()
	started, wakeWaiters := false, true
	defer func() {
		if !started {
			r.endShared(key, wakeWaiters)
		}
	}()
	// Read again under the in-flight mark, from the API server: a request
	// that ended in the meantime, or a Secret the cache has not shown yet,
	// leaves nothing to request.
	if cur, err := r.sharedFromAPI(ctx, key, g.sharedName, g.hash, p, f.Now); err != nil || cur != nil {
		if err != nil {
			return ctrl.Result{}, err
		}
		f.Shared.Token = cur
		return r.act(ctx, oc, f, g, decideShared(f))
	}
	// The central credentials and the CA bundle are read before the slot is
	// taken (each version once), as for a client's own request.
	in, err := r.readRequestInputs(ctx, g)
	if err != nil {
		return r.report(oc, err, f.Now)
	}
	// The request belongs to the provider, not to the namespace of the client
	// that came first: it counts against a bound of the provider's own.
	release, busy := r.Slots.TryAcquire(g.endpoint.Host, "ClusterOAuthProvider/"+p.Name, waiter)
	if busy != nil {
		// This client is in line for the slot; the others keep waiting for
		// it rather than be woken to find the same bound reached.
		wakeWaiters = false
		log.FromContext(ctx).V(1).Info("Shared token request deferred", "reason", busy.Error())
		return ctrl.Result{RequeueAfter: busyRetryDelay(f.UID, f.Now)}, errDeferred
	}
	scopes := g.sharedScopes
	started = true
	r.requests.Start(ctx, sharedRequestKey(key), g.hash, func(ctx context.Context) (*oauth.Token, error) {
		defer release()
		return r.sendTokenRequest(ctx, g, in, scopes)
	}, func() {
		// The client that started it and those in line: the first to come
		// takes the outcome, the others wait for the mark to end.
		r.wake(waiter)
		for _, w := range r.shared.Waiting(key) {
			r.wake(w)
		}
	})
	return ctrl.Result{RequeueAfter: busyRetryDelay(f.UID, f.Now)}, errDeferred
}

// storeShared stores the shared token just obtained in its Secret, owned by
// the provider, and delivers it to oc.
func (r *OAuthClientReconciler) storeShared(ctx context.Context, oc *tokenatorv1.OAuthClient, f facts, g *gathered) (ctrl.Result, error) {
	p := g.source.provider
	held, err := r.writeShared(ctx, p, g.sharedName, g.sharedSK, g, f.Outcome.Token)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.shared.Put(g.sharedKey, held)
	log.FromContext(ctx).Info("Shared token issued", "provider", p.Name, "secret", g.sharedName,
		"expiresAt", held.ExpiresAt.UTC().Format(time.RFC3339), "refreshAt", held.RefreshAt.UTC().Format(time.RFC3339))
	f.Outcome, f.Shared.Token = nil, held
	return r.act(ctx, oc, f, g, decideShared(f))
}

// deliverShared copies the shared token t into oc's derived Secret; every
// client of a shared token comes back when the shared token is due.
func (r *OAuthClientReconciler) deliverShared(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, t *sharedtoken.Token, p plan, now time.Time) (ctrl.Result, error) {
	tok, err := r.sharedTokenValue(ctx, g.sharedKey, g.sharedName, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	if tok == nil {
		// The shared Secret changed since its metadata was read: look again.
		return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
	}
	res, err := r.writeSecret(ctx, oc, g, tok, p, now)
	if err != nil || oc.Status.RefreshAt == nil {
		return res, err
	}
	oc.Status.RefreshAt = &metav1.Time{Time: t.RefreshAt}
	if res.RequeueAfter > 0 {
		res = requeueAt(t.RefreshAt, now)
	}
	return res, nil
}

// rewriteToken writes the token a derived Secret holds again, in the layout
// spec.secret now asks for (name, labels, annotations, extraData), without a
// request.
func (r *OAuthClientReconciler) rewriteToken(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, p plan, now time.Time) (ctrl.Result, error) {
	tok, err := r.secrets.TokenOf(ctx, oc, g.holder)
	if err != nil {
		return ctrl.Result{}, err
	}
	if tok == nil {
		// The Secret changed since it was gathered: look again.
		return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
	}
	return r.writeSecret(ctx, oc, g, tok, p, now)
}

// writeSecret brings the derived Secret up to date with tok, the token just
// obtained (p.Issued) or the one a derived Secret already holds, and sets the
// status. A template that fails with the real token leaves its key out and
// makes the OAuthClient InvalidSpec, naming the key; the token is written and
// kept all the same, so fixing the template needs no new token.
func (r *OAuthClientReconciler) writeSecret(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, tok *oauth.Token, p plan, now time.Time) (ctrl.Result, error) {
	st := &oc.Status
	data, renderErr := render.SecretData(tok, g.templates)
	if err := r.secrets.Apply(ctx, oc, secret.Desired(oc, data, tok.Scope, renderErr), g.existing != nil); err != nil {
		if apierrors.IsInvalid(err) {
			err = invalidSpec(fmt.Errorf(msgSecretRefused, err))
		}
		if problemOf(err) != nil {
			return r.report(oc, err, now)
		}
		return ctrl.Result{}, fmt.Errorf("writing Secret %q: %w", st.SecretName, err)
	}
	if err := r.secrets.DeleteStale(ctx, oc); err != nil {
		return ctrl.Result{}, err
	}
	if p.Issued {
		r.recordToken(ctx, oc, g, tok)
		if renderErr == nil && p.Announce {
			r.Recorder.Eventf(oc, nil, "Normal", tokenatorv1.ReasonTokenIssued, "IssueToken",
				eventTokenWritten, st.SecretName, st.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	renderMsg := ""
	if renderErr != nil {
		renderMsg = renderErr.Error()
	}
	if ready := tokenHeldReadiness(st, renderMsg, now); ready != nil {
		r.setReady(oc, *ready, now)
	}
	return requeueAt(st.RefreshAt.Time, now), nil
}

// recordToken sets the status of a token just written: its type, expiry and
// planned refresh.
func (r *OAuthClientReconciler) recordToken(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, tok *oauth.Token) {
	st := &oc.Status
	issuedAt := tok.IssuedAt.Truncate(time.Second)
	expires := tok.ExpiresAt.Truncate(time.Second)
	st.TokenType = statusTokenType(tok.TokenType)
	st.ExpiresAt = &metav1.Time{Time: expires}
	st.LastRefreshTime = &metav1.Time{Time: issuedAt}
	st.RefreshAt = &metav1.Time{Time: schedule.RefreshTime(issuedAt, expires, refreshBefore(g.source.endpoint), r.Options.MinRequestInterval, string(oc.UID))}
	st.FailedAttempts = 0
	log.FromContext(ctx).Info("Token issued", "secret", st.SecretName, "expiresAt", st.ExpiresAt.UTC().Format(time.RFC3339),
		"refreshAt", st.RefreshAt.UTC().Format(time.RFC3339), "expirySource", tok.ExpirySource)
}

// recordFailure remembers a shared token's failure for all its clients, and
// tells a failure in the log, and in a TokenExpiringSoon Event when the plan
// says.
func (r *OAuthClientReconciler) recordFailure(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, p plan) {
	st, fl := &oc.Status, p.Failed
	if fl.shared != nil {
		r.shared.Fail(g.sharedKey, fl.shared)
		log.FromContext(ctx).Info("Shared token request failed", "provider", g.source.provider.Name, "error", fl.err.Error(), "failedAttempts", fl.attempts)
		return
	}
	log.FromContext(ctx).Info("Token request failed", "error", fl.err.Error(), "failedAttempts", st.FailedAttempts,
		"retryAt", st.RefreshAt.UTC().Format(time.RFC3339))
	if p.ExpiringSoon {
		r.Recorder.Eventf(oc, nil, "Warning", tokenatorv1.ReasonTokenExpiringSoon, "IssueToken",
			eventExpiringSoon,
			st.SecretName, st.ExpiresAt.UTC().Format(time.RFC3339), st.RefreshAt.UTC().Format(time.RFC3339))
	}
}

// removeToken removes the token a provider withholds, now expired, from the
// derived Secret.
func (r *OAuthClientReconciler) removeToken(ctx context.Context, oc *tokenatorv1.OAuthClient, p plan, now time.Time) (ctrl.Result, error) {
	existing, err := r.secrets.Get(ctx, oc)
	if err != nil {
		return r.report(oc, err, now)
	}
	if existing != nil {
		ac := secret.Desired(oc, map[string][]byte{}, "", nil)
		if err := r.secrets.Apply(ctx, oc, ac, true); err != nil {
			return ctrl.Result{}, fmt.Errorf("removing the expired token from Secret %q: %w", existing.Name, err)
		}
		if err := r.secrets.DropTokenKeys(ctx, oc, ac); err != nil {
			return ctrl.Result{}, fmt.Errorf("removing the expired token from Secret %q: %w", existing.Name, err)
		}
		r.secrets.Forget(types.NamespacedName{Namespace: oc.Namespace, Name: oc.Name})
	}
	r.setReady(oc, *p.Ready, now)
	return ctrl.Result{}, nil
}

// invalidSpec wraps a spec problem the schema could not catch. A retry cannot
// fix it: the next change of the OAuthClient or of what it references is awaited.
func invalidSpec(err error) error {
	return &referenceError{reason: tokenatorv1.ReasonInvalidSpec, message: err.Error()}
}

// report sets the Ready condition of a problem that act met (the plan's rule
// for problems), and returns any other error for a retry with backoff.
func (r *OAuthClientReconciler) report(oc *tokenatorv1.OAuthClient, err error, now time.Time) (ctrl.Result, error) {
	pr := problemOf(err)
	if pr == nil {
		return ctrl.Result{}, err
	}
	p := decideProblem(facts{Now: now, Status: &oc.Status, Problem: pr})
	r.setReady(oc, *p.Ready, now)
	return ctrl.Result{}, nil
}

// setReady sets the Ready condition and emits a Warning Event when a failure
// condition is new or its reason changed, and at most once per
// warningInterval while only its message changes.
func (r *OAuthClientReconciler) setReady(oc *tokenatorv1.OAuthClient, ready readiness, now time.Time) {
	status, reason, message := ready.status, ready.reason, ready.message
	prev := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
	changed := prev == nil || prev.Status != status || prev.Reason != reason || prev.Message != message
	meta.SetStatusCondition(&oc.Status.Conditions, metav1.Condition{
		Type:               tokenatorv1.ConditionReady,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: oc.Generation,
		LastTransitionTime: metav1.Time{Time: now.Truncate(time.Second)},
	})
	// Stalled marks what only a human can fix, so that kstatus (and the GitOps
	// tools built on it) report Failed rather than InProgress.
	if reason == tokenatorv1.ReasonInvalidSpec || reason == tokenatorv1.ReasonSecretConflict {
		meta.SetStatusCondition(&oc.Status.Conditions, metav1.Condition{
			Type:               tokenatorv1.ConditionStalled,
			Status:             metav1.ConditionTrue,
			Reason:             reason,
			Message:            message,
			ObservedGeneration: oc.Generation,
			LastTransitionTime: metav1.Time{Time: now.Truncate(time.Second)},
		})
	} else {
		meta.RemoveStatusCondition(&oc.Status.Conditions, tokenatorv1.ConditionStalled)
	}
	key := types.NamespacedName{Namespace: oc.Namespace, Name: oc.Name}
	switch {
	case status == metav1.ConditionTrue || reason == tokenatorv1.ReasonSuspended:
		r.warned.forget(key)
	case r.warned.due(key, reason, changed, now):
		r.Recorder.Eventf(oc, nil, "Warning", reason, "IssueToken", "%s", message)
	}
}
