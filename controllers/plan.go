package controllers

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/inflight"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/schedule"
)

// A reconcile gathers facts, plans, and acts. The plan is the one place
// where the rules of the contract ("Refresh and failures", the provider's
// refusals, shared tokens) are decided: it does no I/O and reads no clock
// but facts.Now, so that every path of an OAuthClient (its own credentials,
// a shared token, a refusal, suspend, an invalid spec, the outcome of a
// request) is table-tested without a control plane. Act only carries a plan
// out: it writes Secrets, starts requests and sets what the plan says.

// facts are what a reconcile knows before it plans, read from the caches and
// from this process's memory.
type facts struct {
	// Now is the reconcile's time.
	Now time.Time
	// UID is the OAuthClient's, which spreads its retries.
	UID string
	// Suspended is spec.suspend.
	Suspended bool
	// Problem is what gather found wrong with the spec or what it
	// references, which no retry fixes; nil when none.
	Problem *problem
	// RequestHash identifies the token request the spec and the referenced
	// objects ask for now (tokenRequestHash).
	RequestHash string
	// RefreshRequest is the value of the tokenator.dev/refresh-requested-at
	// annotation.
	RefreshRequest string
	// TokenHeld says a derived Secret holds, intact, the token the status
	// describes (under the current name, or under a previous one).
	TokenHeld bool
	// SecretUpToDate says the derived Secret under the current name has the
	// layout spec.secret asks for; RenderError is then the render error it
	// records.
	SecretUpToDate bool
	RenderError    string
	// Status is the OAuthClient's status as last written.
	Status *tokenatorv1.OAuthClientStatus
	// InFlight says a request of this client, or of its shared token, is in
	// flight.
	InFlight bool
	// Outcome is the ended request of this client, or of its shared token,
	// that answers the current request; nil when none.
	Outcome *inflight.Outcome
	// Shared is set when the token is the provider's shared token.
	Shared *sharedFacts
}

// sharedFacts are what is known of an OAuthClient's shared token.
type sharedFacts struct {
	// Key is the shared token's key (provider UID and shared key).
	Key string
	// Token is the shared token usable now for the request, nil when none.
	Token *sharedtoken.Token
	// Failure is the latest failed request of the shared token, nil when none.
	Failure *sharedtoken.Failure
}

// problem is a problem of the spec or of what it references: the Ready
// reason and message. A message that tells nothing of the token (a Secret
// conflict) is bare: what the Secret holds is not added.
type problem struct {
	reason, message string
	bare            bool
}

// problemOf is the problem err reports, nil for an error a retry may fix.
func problemOf(err error) *problem {
	var conflict *secret.ConflictError
	if errors.As(err, &conflict) {
		return &problem{reason: tokenatorv1.ReasonSecretConflict, message: conflict.Error(), bare: true}
	}
	var refErr *referenceError
	if errors.As(err, &refErr) {
		return &problem{reason: refErr.reason, message: refErr.message}
	}
	return nil
}

// withheld says the provider no longer serves the OAuthClient (missing, not
// Ready, or refusing its namespace, scopes or audience).
func (p *problem) withheld() bool {
	return p.reason == tokenatorv1.ReasonProviderRefused || p.reason == tokenatorv1.ReasonProviderNotFound
}

// action is what to do with an OAuthClient.
type action int

const (
	// actionReport: set the Ready condition of the plan, and nothing else.
	actionReport action = iota
	// actionWait: nothing to do until plan.At.
	actionWait
	// actionDefer: a request is in flight; the client is woken when it ends,
	// and nothing is written meanwhile.
	actionDefer
	// actionRequest: request a new token now (the client's own, or the
	// shared token).
	actionRequest
	// actionWrite: write the token the request just obtained.
	actionWrite
	// actionRewrite: write the token a derived Secret holds again, in the
	// layout spec.secret now asks for.
	actionRewrite
	// actionStoreShared: store the shared token the request just obtained in
	// its Secret, then deliver it.
	actionStoreShared
	// actionDeliver: copy the shared token into the derived Secret.
	actionDeliver
	// actionFail: record the failed request and come back for the retry.
	actionFail
	// actionRemoveToken: the provider withholds the token and it has
	// expired: remove it from the derived Secret.
	actionRemoveToken
)

func (a action) String() string {
	return [...]string{"report", "wait", "defer", "request", "write", "rewrite", "store-shared", "deliver", "fail", "remove-token"}[a]
}

// plan is the outcome of decide: what act carries out.
type plan struct {
	Action action
	// Why says, for the logs, what led to the action.
	Why string
	// At is when to come back; zero when only a change brings the client
	// back (a problem, suspend).
	At time.Time
	// Ready is the Ready condition to set; nil when act sets it from what it
	// writes (a token written), or when the current one stays.
	Ready *readiness
	// Source is status.tokenSource; SetSource says to set it.
	Source    tokenatorv1.TokenSource
	SetSource bool
	// RecordRequest says the request is answered: status.tokenRequestHash
	// and lastHandledRefreshRequest take the current values.
	RecordRequest bool
	// InputsChanged says the spec, the referenced objects or the refresh
	// annotation changed since the last request answered.
	InputsChanged bool
	// Issued says the token written is new to this client (actionWrite,
	// actionDeliver); Announce says a TokenIssued Event tells it, when the
	// templates render with it.
	Issued, Announce bool
	// Failed is the status of a failed request (actionFail, and a shared
	// token's failure being waited out).
	Failed *failedRequest
	// ExpiringSoon says a TokenExpiringSoon Event warns of the failure.
	ExpiringSoon bool
	// RefreshAt, when set, is status.refreshAt: the shared token's.
	RefreshAt *time.Time
}

// readiness is a Ready condition.
type readiness struct {
	status          metav1.ConditionStatus
	reason, message string
}

// failedRequest is the status of a failed request; shared is the failure to
// remember for the clients of a shared token.
type failedRequest struct {
	attempts    int32
	at, retryAt time.Time
	shared      *sharedtoken.Failure
	// err is the failure, for the log.
	err error
}

// planOptions are the rules' settings.
type planOptions struct {
	MinInterval, RetryBase, RetryMax time.Duration
}

// Reasons of a plan, for the logs and the tests.
const (
	whySuspended        = "spec.suspend is true"
	whyProblem          = "the spec or what it references has a problem"
	whyWithheld         = "the provider withholds the token"
	whyWithheldExpired  = "the provider withholds the token, which has expired"
	whyInFlight         = "a request is in flight"
	whyAnswered         = "the request ended"
	whyFirst            = "no token was requested yet"
	whyInputsChanged    = "the request changed (spec or referenced objects)"
	whyRefreshRequested = "a refresh was requested"
	whyRetry            = "the retry after a failure is due"
	whyRefreshDue       = "the planned refresh is due"
	whyTokenNotHeld     = "no derived Secret holds the token"
	whyValid            = "the token held is valid and matches the spec"
	whyLayoutChanged    = "the token held is valid; spec.secret changed"
	whyBackingOff       = "backing off after a failed request"
	whyMinInterval      = "the last request was less than the minimum interval ago"
	whySharedValid      = "the shared token is valid"
	whySharedBackingOff = "backing off after a failed request of the shared token"
)

// decide maps the facts to a plan. The order is the order of precedence:
// suspend, a problem of the spec or its provider, a request in flight, the
// outcome of a request, then the refresh rules of the client's own or
// shared token.
func decide(f facts, o planOptions) plan {
	var p plan
	switch {
	case f.Suspended:
		return plan{Action: actionReport, Why: whySuspended, SetSource: true,
			Ready: &readiness{metav1.ConditionFalse, tokenatorv1.ReasonSuspended, msgSuspended}}
	case f.Problem != nil:
		return decideProblem(f)
	case f.InFlight:
		p = plan{Action: actionDefer, Why: whyInFlight}
	case f.Outcome != nil:
		p = decideOutcome(f, o)
	case f.Shared != nil:
		p = decideShared(f)
	default:
		p = decideOwn(f, o.MinInterval)
	}
	p.SetSource = true
	if f.Shared != nil {
		p.Source = tokenatorv1.TokenSourceShared
	}
	return p
}

// decideProblem reports a problem. A provider that withholds the token
// leaves it in the derived Secret until it expires, then removes it, so that
// a tenant the provider refuses holds no valid token of it for longer than
// that token's lifetime.
func decideProblem(f facts) plan {
	st, pr := f.Status, f.Problem
	p := plan{Action: actionReport, Why: whyProblem, Ready: &readiness{metav1.ConditionFalse, pr.reason, pr.message}}
	if !pr.bare {
		p.Ready.message = fmt.Sprintf("%s; %s", pr.message, currentTokenNote(st, f.Now))
	}
	if !pr.withheld() || st.ExpiresAt == nil {
		return p
	}
	if f.Now.Before(st.ExpiresAt.Time) {
		p.Why, p.At = whyWithheld, st.ExpiresAt.Time
		return p
	}
	p.Action, p.Why = actionRemoveToken, whyWithheldExpired
	p.Ready.message = fmt.Sprintf("%s; %s", pr.message, fmt.Sprintf(msgTokenRemoved, st.ExpiresAt.UTC().Format(time.RFC3339)))
	return p
}

// decideOutcome carries on with the request that ended: the token is
// written, or the failure recorded.
func decideOutcome(f facts, o planOptions) plan {
	st, out := f.Status, f.Outcome
	p := plan{Why: whyAnswered, RecordRequest: true, InputsChanged: inputsChanged(f)}
	var refErr *referenceError
	switch {
	case errors.As(out.Err, &refErr):
		// The client authentication material or the CA bundle: nothing was
		// sent, and nothing is answered.
		return decideProblem(facts{Now: f.Now, Status: st, Problem: problemOf(refErr)})
	case errors.Is(out.Err, oauth.ErrInvalidRequest):
		// The spec asks for a request that cannot be sent: a retry cannot help.
		p.Action = actionReport
		p.Ready = &readiness{metav1.ConditionFalse, tokenatorv1.ReasonInvalidSpec,
			fmt.Sprintf("%s; %s", out.Err.Error(), currentTokenNote(st, f.Now))}
	case out.Err != nil && f.Shared != nil:
		failed := sharedFailurePlan(f, out.Err, o)
		p.Action, p.Failed, p.At = actionFail, failed, failed.retryAt
		p.Ready = failedReadiness(st, failed.shared.Message, f.Now)
	case out.Err != nil:
		p = failurePlan(st, out.Err, f.UID, f.Now, o)
		p.Why, p.RecordRequest, p.InputsChanged = whyAnswered, true, inputsChanged(f)
	case f.Shared != nil:
		// Delivering it answers the request (decideShared): the status still
		// describes the token the client holds.
		p.Action, p.RecordRequest = actionStoreShared, false
	default:
		p.Action, p.Issued, p.Announce = actionWrite, true, announce(st, p.InputsChanged)
	}
	return p
}

// decideShared serves a client of a shared token: the token held by the
// provider is copied when the client does not hold it, a failure of it is
// waited out together, and it is requested when none is usable.
func decideShared(f facts) plan {
	st, sf := f.Status, f.Shared
	if t := sf.Token; t != nil {
		refreshAt := t.RefreshAt
		same := st.TokenRequestHash == f.RequestHash && st.ExpiresAt != nil && st.ExpiresAt.Time.Equal(t.ExpiresAt) &&
			st.FailedAttempts == 0
		p := plan{Action: actionDeliver, Why: whySharedValid, RecordRequest: true, RefreshAt: &refreshAt, At: refreshAt}
		if same && f.TokenHeld && st.LastHandledRefreshRequest == f.RefreshRequest && f.SecretUpToDate {
			p.Action, p.Ready = actionReport, tokenHeldReadiness(st, f.RenderError, f.Now)
			return p
		}
		p.InputsChanged = st.TokenRequestHash != f.RequestHash
		p.Issued = !same
		p.Announce = p.Issued && announce(st, p.InputsChanged)
		return p
	}
	if fl := sf.Failure; fl != nil && fl.RequestHash == f.RequestHash && f.Now.Before(fl.RetryAt) {
		failed := &failedRequest{attempts: fl.Attempts, at: fl.At, retryAt: fl.RetryAt}
		return plan{Action: actionReport, Why: whySharedBackingOff, Failed: failed, At: fl.RetryAt,
			Ready: failedReadiness(st, fl.Message, f.Now)}
	}
	return plan{Action: actionRequest, Why: whyFirst}
}

// decideOwn is the refresh policy of the contract ("Refresh and failures")
// for a client's own credentials:
//
//   - A new token is requested when none was requested yet, when the request
//     changed (spec, credentials, CA), when a new refresh-requested-at value is
//     set, when the planned refresh (or the retry after a failure) is due, and
//     when no derived Secret holds the token any more (deleted or edited) and
//     no failure is being backed off.
//   - Otherwise the token held is kept until status.refreshAt, its Secret
//     written again when spec.secret changed; after a failure with no token
//     held, nothing is done until the retry time.
//   - Never two requests of one client less than minInterval apart.
func decideOwn(f facts, minInterval time.Duration) plan {
	st, now := f.Status, f.Now
	due := st.RefreshAt == nil || !now.Before(st.RefreshAt.Time)
	p := plan{Action: actionRequest, InputsChanged: inputsChanged(f)}
	switch {
	case st.TokenRequestHash == "":
		p.Why = whyFirst
	case st.TokenRequestHash != f.RequestHash:
		p.Why = whyInputsChanged
	case st.LastHandledRefreshRequest != f.RefreshRequest:
		p.Why = whyRefreshRequested
	case due && st.FailedAttempts > 0:
		p.Why = whyRetry
	case due:
		p.Why = whyRefreshDue
	case f.TokenHeld && f.SecretUpToDate:
		return plan{Action: actionReport, At: st.RefreshAt.Time, Why: whyValid, Ready: tokenHeldReadiness(st, f.RenderError, now)}
	case f.TokenHeld:
		return plan{Action: actionRewrite, At: st.RefreshAt.Time, Why: whyLayoutChanged}
	case st.FailedAttempts > 0:
		return plan{Action: actionWait, At: st.RefreshAt.Time, Why: whyBackingOff}
	default:
		p.Why = whyTokenNotHeld
	}
	if last := lastAttempt(st); last != nil {
		if next := last.Add(minInterval); now.Before(next) {
			return plan{Action: actionWait, At: next, Why: whyMinInterval + " (" + p.Why + ")", InputsChanged: p.InputsChanged}
		}
	}
	return p
}

// inputsChanged says the spec, the referenced objects or the refresh
// annotation changed since the last request answered.
func inputsChanged(f facts) bool {
	return f.Status.TokenRequestHash != f.RequestHash || f.Status.LastHandledRefreshRequest != f.RefreshRequest
}

// announce says a token written for a client gets a TokenIssued Event: a
// client's first token, with nothing reported before it, is told by its
// Ready condition alone (an Event each would double the writes of a cold
// start); a token after a failure, or for a changed request, is told.
func announce(st *tokenatorv1.OAuthClientStatus, inputsChanged bool) bool {
	prev := meta.FindStatusCondition(st.Conditions, tokenatorv1.ConditionReady)
	return prev != nil && (prev.Status != metav1.ConditionTrue || inputsChanged)
}

// failurePlan is the plan of a client's own failed request (or of its
// ServiceAccount's TokenRequest): the retry with backoff (the server's
// Retry-After when longer), and the TokenExpiringSoon warning once per token.
func failurePlan(st *tokenatorv1.OAuthClientStatus, reqErr error, uid string, now time.Time, o planOptions) plan {
	failed := newFailure(st.FailedAttempts+1, reqErr, now, uid, o)
	after := *st
	after.FailedAttempts, after.LastFailureTime = failed.attempts, &metav1.Time{Time: failed.at}
	return plan{Action: actionFail, Failed: failed, At: failed.retryAt,
		Ready:        failedReadiness(st, reqErr.Error(), now),
		ExpiringSoon: warnExpiringSoon(&after, st.LastFailureTime, now)}
}

// sharedFailurePlan is the failure of a shared token's request, which its
// clients wait out together; the message keeps nothing of the provider's
// description (sharedFailureMessage).
func sharedFailurePlan(f facts, reqErr error, o planOptions) *failedRequest {
	attempts := int32(1)
	if prev := f.Shared.Failure; prev != nil && prev.RequestHash == f.RequestHash {
		attempts = prev.Attempts + 1
	}
	failed := newFailure(attempts, reqErr, f.Now, f.Shared.Key, o)
	failed.shared = &sharedtoken.Failure{RequestHash: f.RequestHash, Message: sharedtoken.FailureMessage(reqErr), Attempts: attempts,
		At: failed.at, RetryAt: failed.retryAt}
	return failed
}

// newFailure is the failed request that is the attempts-th in a row at now:
// the retry backs off exponentially, spread by key, and waits at least the
// server's Retry-After (up to schedule.MaxRetryAfter).
func newFailure(attempts int32, reqErr error, now time.Time, key string, o planOptions) *failedRequest {
	at := now.Truncate(time.Second)
	retryAt := at.Add(schedule.RetryDelay(attempts, o.RetryBase, o.RetryMax, retryAfter(reqErr), key))
	return &failedRequest{attempts: attempts, at: at, retryAt: retryAt, err: reqErr}
}

// retryAfter is the Retry-After of the answer that err reports, 0 when none.
func retryAfter(err error) time.Duration {
	var respErr *oauth.ResponseError
	if errors.As(err, &respErr) {
		return respErr.RetryAfter
	}
	return 0
}

// failedReadiness is the Ready condition of a failed request.
func failedReadiness(st *tokenatorv1.OAuthClientStatus, message string, now time.Time) *readiness {
	return &readiness{metav1.ConditionFalse, tokenatorv1.ReasonTokenRequestFailed,
		fmt.Sprintf(msgRequestFailed, message, currentTokenNote(st, now))}
}

// tokenHeldReadiness is the Ready condition of a Secret that holds the
// current token: InvalidSpec when templates failed with it (renderMsg, as
// written in the Secret's render-error annotation), else TokenIssued, unless
// the latest request failed (nil: its condition stays).
func tokenHeldReadiness(st *tokenatorv1.OAuthClientStatus, renderMsg string, now time.Time) *readiness {
	switch {
	case renderMsg != "":
		return &readiness{metav1.ConditionFalse, tokenatorv1.ReasonInvalidSpec, fmt.Sprintf("%s; %s", renderMsg, currentTokenNote(st, now))}
	case st.FailedAttempts == 0 && st.ExpiresAt != nil:
		return &readiness{metav1.ConditionTrue, tokenatorv1.ReasonTokenIssued, validUntil(st.ExpiresAt)}
	}
	return nil
}

// lastAttempt is the time of the latest token request, successful or not.
func lastAttempt(st *tokenatorv1.OAuthClientStatus) *time.Time {
	var last *time.Time
	for _, t := range []*metav1.Time{st.LastRefreshTime, st.LastFailureTime} {
		if t != nil && (last == nil || t.After(*last)) {
			last = &t.Time
		}
	}
	return last
}

// expiringSoon reports whether, at t, the current token is still valid and in
// the last sixth of its lifetime (the last 5 minutes of a 30-minute token).
func expiringSoon(st *tokenatorv1.OAuthClientStatus, t time.Time) bool {
	if st.ExpiresAt == nil || st.LastRefreshTime == nil || !t.Before(st.ExpiresAt.Time) {
		return false
	}
	lifetime := st.ExpiresAt.Sub(st.LastRefreshTime.Time)
	return st.ExpiresAt.Sub(t) <= lifetime/6
}

// warnExpiringSoon decides the TokenExpiringSoon Event of a failed refresh at
// now, st being the status after the failure was recorded and previousFailure
// the failure before it: once per token, on the first failure that happens in
// the last sixth of its lifetime.
func warnExpiringSoon(st *tokenatorv1.OAuthClientStatus, previousFailure *metav1.Time, now time.Time) bool {
	if !expiringSoon(st, now) {
		return false
	}
	return previousFailure == nil || !expiringSoon(st, previousFailure.Time) ||
		(st.LastRefreshTime != nil && previousFailure.Time.Before(st.LastRefreshTime.Time))
}

// currentTokenNote says what happens to the token already in the Secret.
func currentTokenNote(st *tokenatorv1.OAuthClientStatus, now time.Time) string {
	switch {
	case st.ExpiresAt == nil:
		return msgNoTokenYet
	case now.Before(st.ExpiresAt.Time):
		return fmt.Sprintf(msgPreviousValid, st.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf(msgPreviousExpiry, st.ExpiresAt.UTC().Format(time.RFC3339))
	}
}

func validUntil(t *metav1.Time) string {
	return fmt.Sprintf(msgTokenValid, t.UTC().Format(time.RFC3339))
}
