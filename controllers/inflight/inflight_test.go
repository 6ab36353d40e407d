package inflight

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

func TestTokenRequests(t *testing.T) {
	var reqs Requests
	answer := make(chan struct{})
	woken := make(chan struct{}, 1)
	reqs.Start(context.Background(), "ns/a", "h1", func(ctx context.Context) (*oauth.Token, error) {
		<-answer
		return &oauth.Token{AccessToken: "t"}, nil
	}, func() { woken <- struct{}{} })

	if out := reqs.Take("ns/a"); out == nil || !out.Pending {
		t.Fatalf("take of a request in flight = %+v, want pending", out)
	}
	if out := reqs.Take("ns/a"); out == nil || !out.Pending {
		t.Fatal("a request in flight stays")
	}
	close(answer)
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken when the request ended")
	}
	out := reqs.Take("ns/a")
	now := time.Now()
	if out == nil || out.Pending || out.Token.AccessToken != "t" || !out.Usable("h1", now) {
		t.Fatalf("outcome %+v, want the token, usable for h1", out)
	}
	if out.Usable("h2", now) {
		t.Fatal("an outcome answers only its own request")
	}
	if out.Usable("h1", now.Add(MaxOutcomeAge+time.Second)) {
		t.Fatal("an old outcome is not used")
	}
	if again := reqs.Take("ns/a"); again != nil {
		t.Fatal("an outcome is taken once")
	}

	// A forgotten request ends unseen.
	failed := make(chan struct{})
	reqs.Start(context.Background(), "ns/b", "h", func(ctx context.Context) (*oauth.Token, error) {
		return nil, errors.New("refused")
	}, func() { close(failed) })
	<-failed
	reqs.Forget("ns/b")
	if reqs.Take("ns/b") != nil || len(reqs.m) != 0 {
		t.Fatal("forget drops the outcome")
	}
}

// Answer: in flight, an outcome for the request asked, or one that answers
// another request (dropped, and told as ended).
func TestAnswer(t *testing.T) {
	var reqs Requests
	ended := func(key, id string) {
		t.Helper()
		woken := make(chan struct{})
		reqs.Start(context.Background(), key, id, func(context.Context) (*oauth.Token, error) {
			return &oauth.Token{AccessToken: "t"}, nil
		}, func() { close(woken) })
		<-woken
	}
	if out, inFlight, done := reqs.Answer("ns/none", "h1", time.Now()); out != nil || inFlight || done {
		t.Fatalf("no request: %v %v %v", out, inFlight, done)
	}
	hold := make(chan struct{})
	reqs.Start(context.Background(), "ns/a", "h1", func(context.Context) (*oauth.Token, error) {
		<-hold
		return nil, errors.New("x")
	}, func() {})
	if out, inFlight, done := reqs.Answer("ns/a", "h1", time.Now()); out != nil || !inFlight || done {
		t.Fatalf("in flight: %v %v %v", out, inFlight, done)
	}
	close(hold)
	ended("ns/b", "h1")
	if out, inFlight, done := reqs.Answer("ns/b", "h1", time.Now()); out == nil || inFlight || !done || out.Token.AccessToken != "t" {
		t.Fatalf("answered: %v %v %v", out, inFlight, done)
	}
	ended("ns/c", "h1")
	if out, inFlight, done := reqs.Answer("ns/c", "h2", time.Now()); out != nil || inFlight || !done {
		t.Fatalf("another request's outcome: %v %v %v", out, inFlight, done)
	}
	if out, _, done := reqs.Answer("ns/c", "h1", time.Now()); out != nil || done {
		t.Fatal("a dropped outcome is gone")
	}
}
