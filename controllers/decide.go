package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// facts are what the decision depends on, gathered from the cluster: the
// OAuthClient's status (what this operator last did), the identity of the
// request the spec asks for now, and whether a derived Secret holds the token.
type facts struct {
	// Suspended is spec.suspend.
	Suspended bool
	// RequestHash identifies the token request the spec and the referenced
	// objects ask for now (tokenRequestHash).
	RequestHash string
	// RefreshRequest is the value of the tokenator.dev/refresh-requested-at
	// annotation.
	RefreshRequest string
	// TokenHeld says a derived Secret holds, intact, the token the status
	// describes (under the current name, or under a previous one).
	TokenHeld bool
	// Status is the OAuthClient's status as last written.
	Status *tokenatorv1.OAuthClientStatus
}

// action is what to do with an OAuthClient.
type action int

const (
	// actionSuspend: report Suspended and send nothing.
	actionSuspend action = iota
	// actionWait: nothing to do until decision.At.
	actionWait
	// actionKeep: the token held stays; write the Secret again if its layout
	// (spec.secret) changed, and come back at decision.At.
	actionKeep
	// actionRequest: request a new token now.
	actionRequest
)

func (a action) String() string {
	return [...]string{"suspend", "wait", "keep", "request"}[a]
}

// decision is the outcome of decide.
type decision struct {
	Action action
	// At is when to come back (actionWait, actionKeep).
	At time.Time
	// Why says, for the logs, what led to the action.
	Why string
	// InputsChanged says the spec, the referenced objects or the refresh
	// annotation changed since the last request.
	InputsChanged bool
}

// Reasons of a decision, for the logs and the tests.
const (
	whySuspended        = "spec.suspend is true"
	whyFirst            = "no token was requested yet"
	whyInputsChanged    = "the request changed (spec or referenced objects)"
	whyRefreshRequested = "a refresh was requested"
	whyRetry            = "the retry after a failure is due"
	whyRefreshDue       = "the planned refresh is due"
	whyTokenNotHeld     = "no derived Secret holds the token"
	whyValid            = "the token held is valid and matches the spec"
	whyBackingOff       = "backing off after a failed request"
	whyMinInterval      = "the last request was less than the minimum interval ago"
)

// decide is the refresh policy of the contract ("Refresh and failures"): it
// does no I/O and reads no clock but now.
//
//   - A new token is requested when none was requested yet, when the request
//     changed (spec, credentials, CA), when a new refresh-requested-at value is
//     set, when the planned refresh (or the retry after a failure) is due, and
//     when no derived Secret holds the token any more (deleted or edited) and
//     no failure is being backed off.
//   - Otherwise the token held is kept until status.refreshAt; after a failure
//     with no token held, nothing is done until the retry time.
//   - Never two requests of one client less than minInterval apart.
func decide(f facts, minInterval time.Duration, now time.Time) decision {
	st := f.Status
	if f.Suspended {
		return decision{Action: actionSuspend, Why: whySuspended}
	}
	hashChanged := st.TokenRequestHash != f.RequestHash
	refreshRequested := st.LastHandledRefreshRequest != f.RefreshRequest
	due := st.RefreshAt == nil || !now.Before(st.RefreshAt.Time)
	d := decision{Action: actionRequest, InputsChanged: hashChanged || refreshRequested}
	switch {
	case st.TokenRequestHash == "":
		d.Why = whyFirst
	case hashChanged:
		d.Why = whyInputsChanged
	case refreshRequested:
		d.Why = whyRefreshRequested
	case due && st.FailedAttempts > 0:
		d.Why = whyRetry
	case due:
		d.Why = whyRefreshDue
	case f.TokenHeld:
		return decision{Action: actionKeep, At: st.RefreshAt.Time, Why: whyValid}
	case st.FailedAttempts > 0:
		return decision{Action: actionWait, At: st.RefreshAt.Time, Why: whyBackingOff}
	default:
		d.Why = whyTokenNotHeld
	}
	if last := lastAttempt(st); last != nil {
		if next := last.Add(minInterval); now.Before(next) {
			return decision{Action: actionWait, At: next, Why: whyMinInterval + " (" + d.Why + ")", InputsChanged: d.InputsChanged}
		}
	}
	return d
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
