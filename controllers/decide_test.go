package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// One row for each rule of the contract's "Refresh and failures" section.
func TestDecide(t *testing.T) {
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
	tests := []struct {
		name   string
		status tokenatorv1.OAuthClientStatus
		facts  facts
		now    time.Duration
		want   action
		why    string
		at     time.Duration // for wait and keep
	}{
		{name: "a new OAuthClient gets a token", facts: facts{RequestHash: "h1"},
			want: actionRequest, why: whyFirst},
		{name: "a valid token is kept until the planned refresh", status: issued(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: 10 * time.Minute, want: actionKeep, why: whyValid, at: 20 * time.Minute},
		{name: "a restarted operator keeps a valid token", status: issued(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: time.Minute, want: actionKeep, why: whyValid, at: 20 * time.Minute},
		{name: "the planned refresh is due", status: issued(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: 20 * time.Minute, want: actionRequest, why: whyRefreshDue},
		{name: "a spec or credentials change asks for a new token at once", status: issued(), facts: facts{RequestHash: "h2", TokenHeld: true},
			now: time.Minute, want: actionRequest, why: whyInputsChanged},
		{name: "a new refresh-requested-at value asks for a new token at once", status: issued(),
			facts: facts{RequestHash: "h1", TokenHeld: true, RefreshRequest: "2026-11-23T14:01:00Z"},
			now:   time.Minute, want: actionRequest, why: whyRefreshRequested},
		{name: "a refresh request already handled asks for nothing", status: func() tokenatorv1.OAuthClientStatus {
			st := issued()
			st.LastHandledRefreshRequest = "2026-11-23T14:01:00Z"
			return st
		}(), facts: facts{RequestHash: "h1", TokenHeld: true, RefreshRequest: "2026-11-23T14:01:00Z"},
			now: 2 * time.Minute, want: actionKeep, why: whyValid, at: 20 * time.Minute},
		{name: "a deleted or edited derived Secret gets a new token", status: issued(), facts: facts{RequestHash: "h1"},
			now: time.Minute, want: actionRequest, why: whyTokenNotHeld},
		{name: "two requests of one client are never less than the minimum interval apart", status: issued(),
			facts: facts{RequestHash: "h2", TokenHeld: true}, now: 2 * time.Second,
			want: actionWait, why: whyMinInterval + " (" + whyInputsChanged + ")", at: minInterval},
		{name: "after a failure, the token held is kept until the retry", status: failing(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: 20*time.Minute + 40*time.Second, want: actionKeep, why: whyValid, at: 21 * time.Minute},
		{name: "after a failure with no token held, nothing is done until the retry", status: func() tokenatorv1.OAuthClientStatus {
			return tokenatorv1.OAuthClientStatus{TokenRequestHash: "h1", FailedAttempts: 1, LastFailureTime: at(0), RefreshAt: at(5 * time.Second)}
		}(), facts: facts{RequestHash: "h1"}, now: 3 * time.Second, want: actionWait, why: whyBackingOff, at: 5 * time.Second},
		{name: "the retry is due", status: failing(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: 21 * time.Minute, want: actionRequest, why: whyRetry},
		{name: "a spec change during the backoff is tried at once", status: failing(), facts: facts{RequestHash: "h2", TokenHeld: true},
			now: 20*time.Minute + 40*time.Second, want: actionRequest, why: whyInputsChanged},
		{name: "a spec change right after a failure waits for the minimum interval", status: failing(), facts: facts{RequestHash: "h2", TokenHeld: true},
			now: 20*time.Minute + 32*time.Second, want: actionWait, why: whyMinInterval + " (" + whyInputsChanged + ")", at: 20*time.Minute + 35*time.Second},
		{name: "suspended: nothing is requested", status: issued(), facts: facts{Suspended: true, RequestHash: "h2"},
			now: 25 * time.Minute, want: actionSuspend, why: whySuspended},
		{name: "an expired token held is replaced", status: issued(), facts: facts{RequestHash: "h1", TokenHeld: true},
			now: 31 * time.Minute, want: actionRequest, why: whyRefreshDue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.status
			f := tt.facts
			f.Status = &st
			d := decide(f, minInterval, t0.Add(tt.now))
			if d.Action != tt.want || d.Why != tt.why {
				t.Fatalf("decide = %s (%s), want %s (%s)", d.Action, d.Why, tt.want, tt.why)
			}
			if (tt.want == actionWait || tt.want == actionKeep) && !d.At.Equal(t0.Add(tt.at)) {
				t.Fatalf("come back at %s, want %s", d.At.Sub(t0), tt.at)
			}
			wantChanged := f.RequestHash != st.TokenRequestHash || f.RefreshRequest != st.LastHandledRefreshRequest
			if tt.want == actionRequest && d.InputsChanged != wantChanged {
				t.Fatalf("InputsChanged = %v, want %v", d.InputsChanged, wantChanged)
			}
		})
	}
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
