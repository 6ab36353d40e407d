package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/inflight"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// One row for each rule of the contract's "Refresh and failures" section,
// for a client's own credentials.
func TestDecideOwn(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	const minInterval = 5 * time.Second
	// issued: a 30-minute token obtained at t0 for request "h1", refresh planned at 20 min.
	issued := func() tokenatorv1.OAuthClientStatus {
		return tokenatorv1.OAuthClientStatus{TokenRequestHash: "h1", LastRefreshTime: at(0), ExpiresAt: at(30 * time.Minute),
			RefreshAt: at(20 * time.Minute)}
	}
	// failing: issued, then the refresh at 20 min failed twice; the retry is planned at 21 min.
	failing := func() tokenatorv1.OAuthClientStatus {
		st := issued()
		st.FailedAttempts, st.LastFailureTime, st.RefreshAt = 2, at(20*time.Minute+30*time.Second), at(21*time.Minute)
		return st
	}
	held := facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true}
	tests := []struct {
		name   string
		status tokenatorv1.OAuthClientStatus
		facts  facts
		now    time.Duration
		want   action
		why    string
		at     time.Duration // for wait and keep
		ready  string        // the Ready reason set, "" for none
	}{
		{name: "a new OAuthClient gets a token", facts: facts{RequestHash: "h1"},
			want: actionRequest, why: whyFirst},
		{name: "a valid token is kept until the planned refresh", status: issued(), facts: held,
			now: 10 * time.Minute, want: actionReport, why: whyValid, at: 20 * time.Minute, ready: tokenatorv1.ReasonTokenIssued},
		{name: "a restarted operator keeps a valid token", status: issued(), facts: held,
			now: time.Minute, want: actionReport, why: whyValid, at: 20 * time.Minute, ready: tokenatorv1.ReasonTokenIssued},
		{name: "a template that failed with the token held is InvalidSpec", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true, RenderError: "spec.secret.extraData[x]: rendering failed"},
			now:   time.Minute, want: actionReport, why: whyValid, at: 20 * time.Minute, ready: tokenatorv1.ReasonInvalidSpec},
		{name: "a changed spec.secret writes the token held again", status: issued(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: time.Minute, want: actionRewrite, why: whyLayoutChanged, at: 20 * time.Minute},
		{name: "the planned refresh is due", status: issued(), facts: held,
			now: 20 * time.Minute, want: actionRequest, why: whyRefreshDue},
		{name: "a spec or credentials change asks for a new token at once", status: issued(), facts: facts{RequestHash: "h2", TokenHeld: true},
			now: time.Minute, want: actionRequest, why: whyInputsChanged},
		{name: "a new refresh-requested-at value asks for a new token at once", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true, RefreshRequest: "2026-11-23T14:01:00Z"},
			now:   time.Minute, want: actionRequest, why: whyRefreshRequested},
		{name: "a refresh request already handled asks for nothing", status: func() tokenatorv1.OAuthClientStatus {
			st := issued()
			st.LastHandledRefreshRequest = "2026-11-23T14:01:00Z"
			return st
		}(), facts: facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true, RefreshRequest: "2026-11-23T14:01:00Z"},
			now: 2 * time.Minute, want: actionReport, why: whyValid, at: 20 * time.Minute, ready: tokenatorv1.ReasonTokenIssued},
		{name: "a deleted or edited derived Secret gets a new token", status: issued(), facts: facts{RequestHash: "h1"},
			now: time.Minute, want: actionRequest, why: whyTokenNotHeld},
		{name: "two requests of one client are never less than the minimum interval apart", status: issued(),
			facts: facts{RequestHash: "h2", TokenHeld: true}, now: 2 * time.Second,
			want: actionWait, why: whyMinInterval + " (" + whyInputsChanged + ")", at: minInterval},
		{name: "after a failure, the token held is kept until the retry", status: failing(), facts: held,
			now: 20*time.Minute + 40*time.Second, want: actionReport, why: whyValid, at: 21 * time.Minute},
		{name: "after a failure with no token held, nothing is done until the retry", status: func() tokenatorv1.OAuthClientStatus {
			return tokenatorv1.OAuthClientStatus{TokenRequestHash: "h1", FailedAttempts: 1, LastFailureTime: at(0), RefreshAt: at(5 * time.Second)}
		}(), facts: facts{RequestHash: "h1"}, now: 3 * time.Second, want: actionWait, why: whyBackingOff, at: 5 * time.Second},
		{name: "the retry is due", status: failing(), facts: held,
			now: 21 * time.Minute, want: actionRequest, why: whyRetry},
		{name: "a spec change during the backoff is tried at once", status: failing(), facts: facts{RequestHash: "h2", TokenHeld: true},
			now: 20*time.Minute + 40*time.Second, want: actionRequest, why: whyInputsChanged},
		{name: "a spec change right after a failure waits for the minimum interval", status: failing(), facts: facts{RequestHash: "h2", TokenHeld: true},
			now: 20*time.Minute + 32*time.Second, want: actionWait, why: whyMinInterval + " (" + whyInputsChanged + ")", at: 20*time.Minute + 35*time.Second},
		{name: "suspended: nothing is requested", status: issued(), facts: facts{Suspended: true, RequestHash: "h2"},
			now: 25 * time.Minute, want: actionReport, why: whySuspended, ready: tokenatorv1.ReasonSuspended},
		{name: "an expired token held is replaced", status: issued(), facts: held,
			now: 31 * time.Minute, want: actionRequest, why: whyRefreshDue},
		{name: "a request in flight is waited for", status: issued(), facts: facts{RequestHash: "h2", InFlight: true},
			now: time.Minute, want: actionDefer, why: whyInFlight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.status
			f := tt.facts
			f.Status, f.Now = &st, t0.Add(tt.now)
			p := decide(f, planOptions{MinInterval: minInterval})
			if p.Action != tt.want || p.Why != tt.why {
				t.Fatalf("decide = %s (%s), want %s (%s)", p.Action, p.Why, tt.want, tt.why)
			}
			if tt.at != 0 && !p.At.Equal(t0.Add(tt.at)) {
				t.Fatalf("come back at %s, want %s", p.At.Sub(t0), tt.at)
			}
			if got := readyReason(p); got != tt.ready {
				t.Fatalf("Ready reason %q, want %q", got, tt.ready)
			}
			if !p.SetSource || p.Source != "" {
				t.Fatalf("token source %q (set %v), want the client's own", p.Source, p.SetSource)
			}
			wantChanged := f.RequestHash != st.TokenRequestHash || f.RefreshRequest != st.LastHandledRefreshRequest
			if tt.want == actionRequest && p.InputsChanged != wantChanged {
				t.Fatalf("InputsChanged = %v, want %v", p.InputsChanged, wantChanged)
			}
		})
	}
}

func readyReason(p plan) string {
	if p.Ready == nil {
		return ""
	}
	return p.Ready.reason
}

// The TokenExpiringSoon Event: once per token, on the first failed refresh in
// the last sixth of its lifetime (the last 5 minutes of a 30-minute token).
func TestWarnExpiringSoon(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	st := &tokenatorv1.OAuthClientStatus{LastRefreshTime: at(0), ExpiresAt: at(30 * time.Minute)}
	tests := []struct {
		name     string
		previous *metav1.Time
		now      time.Duration
		want     bool
	}{
		{"a failure with more than a sixth of the lifetime left", nil, 20 * time.Minute, false},
		{"the first failure in the last sixth", nil, 26 * time.Minute, true},
		{"the first failure in the last sixth after earlier failures", at(20 * time.Minute), 26 * time.Minute, true},
		{"a further failure in the last sixth", at(26 * time.Minute), 27 * time.Minute, false},
		{"a failure after expiry", nil, 31 * time.Minute, false},
		{"the first failure in the last sixth of a newer token", at(-time.Minute), 26 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := warnExpiringSoon(st, tt.previous, t0.Add(tt.now)); got != tt.want {
				t.Fatalf("warnExpiringSoon = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatusWrites(t *testing.T) {
	var w statusWrites
	key := types.NamespacedName{Namespace: "ns", Name: "api"}
	if !w.seen(key, "5") {
		t.Fatal("nothing written: every version is current")
	}
	w.wrote(key, "5")
	if w.seen(key, "5") {
		t.Fatal("the version the write replaced is stale")
	}
	if !w.seen(key, "6") || w.pending() != 0 {
		t.Fatal("a newer version is current, and the write is forgotten")
	}
	w.wrote(key, "6")
	w.forget(key)
	if !w.seen(key, "6") || w.pending() != 0 {
		t.Fatal("a forgotten write is not waited for")
	}
}

// The paths besides a client's own refresh rules: a problem of the spec, a
// provider that withholds the token, the outcome of a request, and a shared
// token. Each row is the plan of one set of facts, without a control plane.
func TestDecidePaths(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	issued := func() tokenatorv1.OAuthClientStatus {
		return tokenatorv1.OAuthClientStatus{TokenRequestHash: "h1", LastRefreshTime: at(0), ExpiresAt: at(30 * time.Minute),
			RefreshAt: at(20 * time.Minute), SecretName: "api-token",
			Conditions: []metav1.Condition{{Type: tokenatorv1.ConditionReady, Status: metav1.ConditionTrue, Reason: tokenatorv1.ReasonTokenIssued}}}
	}
	refused := &problem{reason: tokenatorv1.ReasonProviderRefused, message: `ClusterOAuthProvider "lucca" does not allow namespace "team-b"`}
	shared := func(s *sharedFacts) *sharedFacts { s.Key = "uid/k"; return s }
	tokenAt := func(expires, refresh time.Duration) *sharedtoken.Token {
		return &sharedtoken.Token{RequestHash: "h1", ExpiresAt: t0.Add(expires), RefreshAt: t0.Add(refresh)}
	}
	unavailable := &oauth.ResponseError{StatusCode: 503, ErrorCode: "temporarily_unavailable",
		Description: "central client c-42 of tenant acme is over quota", RetryAfter: 10 * time.Minute}
	tests := []struct {
		name    string
		status  tokenatorv1.OAuthClientStatus
		facts   facts
		now     time.Duration
		want    action
		why     string
		at      time.Duration // 0: no coming back
		ready   string
		message string // a part of the Ready message
		check   func(t *testing.T, p plan)
	}{
		{name: "an invalid spec is reported and waits for a change", status: issued(),
			facts: facts{Problem: &problem{reason: tokenatorv1.ReasonInvalidSpec, message: "spec.tokenURL: host not allowed"}},
			now:   time.Minute, want: actionReport, why: whyProblem, ready: tokenatorv1.ReasonInvalidSpec,
			message: "host not allowed; the Secret keeps the previous token, valid until 2026-11-23T14:30:00Z"},
		{name: "a Secret conflict is reported bare", facts: facts{Problem: problemOf(&secret.ConflictError{Name: "api-token"})},
			want: actionReport, why: whyProblem, ready: tokenatorv1.ReasonSecretConflict,
			check: func(t *testing.T, p plan) {
				if p.Ready.message != (&secret.ConflictError{Name: "api-token"}).Error() {
					t.Fatalf("message %q", p.Ready.message)
				}
			}},
		{name: "a problem leaves the token source as it is", status: issued(), facts: facts{Problem: refused, Shared: shared(&sharedFacts{})},
			now: time.Minute, want: actionReport, why: whyWithheld, at: 30 * time.Minute, ready: tokenatorv1.ReasonProviderRefused,
			check: func(t *testing.T, p plan) {
				if p.SetSource || p.RecordRequest || p.Failed != nil {
					t.Fatalf("a problem sets only the Ready condition: %+v", p)
				}
			}},
		{name: "a refusing provider leaves a valid token until it expires", status: issued(), facts: facts{Problem: refused},
			now: time.Minute, want: actionReport, why: whyWithheld, at: 30 * time.Minute, ready: tokenatorv1.ReasonProviderRefused,
			message: "valid until 2026-11-23T14:30:00Z"},
		{name: "a refusing provider's expired token is removed", status: issued(), facts: facts{Problem: refused},
			now: 30 * time.Minute, want: actionRemoveToken, why: whyWithheldExpired, ready: tokenatorv1.ReasonProviderRefused,
			message: "the token expired at 2026-11-23T14:30:00Z and was removed from the Secret"},
		{name: "a missing provider with no token issued yet", facts: facts{Problem: &problem{reason: tokenatorv1.ReasonProviderNotFound, message: "not found"}},
			want: actionReport, why: whyProblem, ready: tokenatorv1.ReasonProviderNotFound, message: msgNoTokenYet},
		{name: "suspend wins over a problem", status: issued(), facts: facts{Suspended: true, Problem: refused},
			now: time.Minute, want: actionReport, why: whySuspended, ready: tokenatorv1.ReasonSuspended},

		{name: "a token obtained is written and announced after a changed request", status: issued(),
			facts: facts{RequestHash: "h2", Outcome: &inflight.Outcome{Token: &oauth.Token{}}},
			now:   time.Minute, want: actionWrite, why: whyAnswered,
			check: func(t *testing.T, p plan) {
				if !p.Issued || !p.Announce || !p.RecordRequest || !p.InputsChanged {
					t.Fatalf("want issued, announced, recorded and changed: %+v", p)
				}
			}},
		{name: "a first token is told by its Ready condition alone", facts: facts{RequestHash: "h1", Outcome: &inflight.Outcome{Token: &oauth.Token{}}},
			want: actionWrite, why: whyAnswered,
			check: func(t *testing.T, p plan) {
				if !p.Issued || p.Announce {
					t.Fatalf("want issued, not announced: %+v", p)
				}
			}},
		{name: "a failed request backs off and keeps the token", status: issued(),
			facts: facts{RequestHash: "h1", UID: "u", Outcome: &inflight.Outcome{Err: errors.New("connection refused")}},
			now:   20 * time.Minute, want: actionFail, why: whyAnswered, at: 20*time.Minute + 5*time.Second,
			ready: tokenatorv1.ReasonTokenRequestFailed, message: "token request failed: connection refused; the Secret keeps the previous token",
			check: func(t *testing.T, p plan) {
				if p.Failed.attempts != 1 || !p.Failed.at.Equal(t0.Add(20*time.Minute)) || p.ExpiringSoon || !p.RecordRequest {
					t.Fatalf("failed %+v, expiring soon %v", p.Failed, p.ExpiringSoon)
				}
			}},
		{name: "a failure in the last sixth warns once", status: issued(),
			facts: facts{RequestHash: "h1", UID: "u", Outcome: &inflight.Outcome{Err: errors.New("connection refused")}},
			now:   26 * time.Minute, want: actionFail, why: whyAnswered, at: 26*time.Minute + 5*time.Second,
			ready: tokenatorv1.ReasonTokenRequestFailed,
			check: func(t *testing.T, p plan) {
				if !p.ExpiringSoon {
					t.Fatal("no TokenExpiringSoon")
				}
			}},
		{name: "a request that cannot be sent is InvalidSpec", status: issued(),
			facts: facts{RequestHash: "h1", Outcome: &inflight.Outcome{Err: fmt.Errorf("%w: extra parameter \"scope\" may not be set", oauth.ErrInvalidRequest)}},
			now:   time.Minute, want: actionReport, why: whyAnswered, ready: tokenatorv1.ReasonInvalidSpec, message: "extra parameter",
			check: func(t *testing.T, p plan) {
				if !p.RecordRequest || p.Failed != nil {
					t.Fatalf("the request is answered, and no retry is planned: %+v", p)
				}
			}},
		{name: "a key that cannot sign is reported, nothing answered", status: issued(),
			facts: facts{RequestHash: "h2", Outcome: &inflight.Outcome{Err: invalidSpec(errors.New("spec.credentialsSecretRef.privateKeyKey: not a PEM key"))}},
			now:   time.Minute, want: actionReport, why: whyProblem, ready: tokenatorv1.ReasonInvalidSpec,
			check: func(t *testing.T, p plan) {
				if p.RecordRequest || !p.SetSource {
					t.Fatalf("nothing is answered, and the source is set: %+v", p)
				}
			}},

		{name: "a shared token the client holds is kept until the shared refresh", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true, Shared: shared(&sharedFacts{Token: tokenAt(30*time.Minute, 22*time.Minute)})},
			now:   time.Minute, want: actionReport, why: whySharedValid, at: 22 * time.Minute, ready: tokenatorv1.ReasonTokenIssued,
			check: func(t *testing.T, p plan) {
				if p.Source != tokenatorv1.TokenSourceShared || p.RefreshAt == nil || !p.RefreshAt.Equal(t0.Add(22*time.Minute)) {
					t.Fatalf("source %q, refreshAt %v", p.Source, p.RefreshAt)
				}
			}},
		{name: "a new shared token is delivered and announced", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true, Shared: shared(&sharedFacts{Token: tokenAt(50*time.Minute, 40*time.Minute)})},
			now:   21 * time.Minute, want: actionDeliver, why: whySharedValid, at: 40 * time.Minute,
			check: func(t *testing.T, p plan) {
				if !p.Issued || p.Announce || !p.RecordRequest {
					t.Fatalf("want issued, recorded, not announced (Ready was True, the request the same): %+v", p)
				}
			}},
		{name: "a shared token held in an outdated layout is written again, not issued", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, Shared: shared(&sharedFacts{Token: tokenAt(30*time.Minute, 22*time.Minute)})},
			now:   time.Minute, want: actionDeliver, why: whySharedValid, at: 22 * time.Minute,
			check: func(t *testing.T, p plan) {
				if p.Issued {
					t.Fatal("the same token is not issued again")
				}
			}},
		{name: "a refresh request copies the shared token again", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, SecretUpToDate: true, RefreshRequest: "now", Shared: shared(&sharedFacts{Token: tokenAt(30*time.Minute, 22*time.Minute)})},
			now:   time.Minute, want: actionDeliver, why: whySharedValid, at: 22 * time.Minute},
		{name: "no usable shared token: it is requested", status: issued(), facts: facts{RequestHash: "h1", Shared: shared(&sharedFacts{})},
			now: 22 * time.Minute, want: actionRequest, why: whyFirst},
		{name: "a shared token's failure is waited out together", status: issued(),
			facts: facts{RequestHash: "h1", Shared: shared(&sharedFacts{Failure: &sharedtoken.Failure{RequestHash: "h1", Message: "503", Attempts: 3,
				At: t0.Add(21 * time.Minute), RetryAt: t0.Add(23 * time.Minute)}})},
			now: 22 * time.Minute, want: actionReport, why: whySharedBackingOff, at: 23 * time.Minute, ready: tokenatorv1.ReasonTokenRequestFailed,
			message: "token request failed: 503; the Secret keeps the previous token",
			check: func(t *testing.T, p plan) {
				if p.Failed == nil || p.Failed.attempts != 3 || p.RecordRequest {
					t.Fatalf("failed %+v, record %v", p.Failed, p.RecordRequest)
				}
			}},
		{name: "a failure of another request is not waited out", status: issued(),
			facts: facts{RequestHash: "h2", Shared: shared(&sharedFacts{Failure: &sharedtoken.Failure{RequestHash: "h1", RetryAt: t0.Add(23 * time.Minute)}})},
			now:   22 * time.Minute, want: actionRequest, why: whyFirst},
		{name: "a shared token obtained is stored", status: issued(),
			facts: facts{RequestHash: "h1", Shared: shared(&sharedFacts{}), Outcome: &inflight.Outcome{Token: &oauth.Token{}}},
			now:   22 * time.Minute, want: actionStoreShared, why: whyAnswered,
			check: func(t *testing.T, p plan) {
				if p.RecordRequest {
					t.Fatal("the request is answered by the delivery, which compares it with the status")
				}
			}},
		{name: "a shared token's failure counts on, honours Retry-After and tells no description", status: issued(),
			facts: facts{RequestHash: "h1", Shared: shared(&sharedFacts{Failure: &sharedtoken.Failure{RequestHash: "h1", Attempts: 2}}),
				Outcome: &inflight.Outcome{Err: unavailable}},
			now: 22 * time.Minute, want: actionFail, why: whyAnswered, at: 32 * time.Minute, ready: tokenatorv1.ReasonTokenRequestFailed,
			check: func(t *testing.T, p plan) {
				if p.Failed.shared == nil || p.Failed.attempts != 3 || strings.Contains(p.Ready.message, "c-42") {
					t.Fatalf("failed %+v, message %q", p.Failed, p.Ready.message)
				}
			}},
		{name: "a shared request in flight is waited for", status: issued(), facts: facts{RequestHash: "h1", InFlight: true, Shared: shared(&sharedFacts{})},
			now: 22 * time.Minute, want: actionDefer, why: whyInFlight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.status
			f := tt.facts
			f.Status, f.Now = &st, t0.Add(tt.now)
			p := decide(f, planOptions{MinInterval: 5 * time.Second, RetryBase: 5 * time.Second, RetryMax: time.Hour})
			if p.Action != tt.want || p.Why != tt.why {
				t.Fatalf("decide = %s (%s), want %s (%s)", p.Action, p.Why, tt.want, tt.why)
			}
			if want := comeBackAt(t0, tt.at); !p.At.Equal(want) {
				t.Fatalf("come back at %v, want %v", p.At, want)
			}
			if got := readyReason(p); got != tt.ready {
				t.Fatalf("Ready reason %q, want %q", got, tt.ready)
			}
			if tt.message != "" && !strings.Contains(p.Ready.message, tt.message) {
				t.Fatalf("Ready message %q, want it to contain %q", p.Ready.message, tt.message)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func comeBackAt(t0 time.Time, d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return t0.Add(d)
}
