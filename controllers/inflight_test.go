package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

func TestTokenRequests(t *testing.T) {
	var reqs tokenRequests
	answer := make(chan struct{})
	woken := make(chan struct{}, 1)
	reqs.start(context.Background(), "ns/a", "h1", func(ctx context.Context) (*oauth.Token, error) {
		<-answer
		return &oauth.Token{AccessToken: "t"}, nil
	}, func() { woken <- struct{}{} })

	if out := reqs.take("ns/a"); out == nil || !out.pending {
		t.Fatalf("take of a request in flight = %+v, want pending", out)
	}
	if out := reqs.take("ns/a"); out == nil || !out.pending {
		t.Fatal("a request in flight stays")
	}
	close(answer)
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken when the request ended")
	}
	out := reqs.take("ns/a")
	now := time.Now()
	if out == nil || out.pending || out.tok.AccessToken != "t" || !out.usable("h1", now) {
		t.Fatalf("outcome %+v, want the token, usable for h1", out)
	}
	if out.usable("h2", now) {
		t.Fatal("an outcome answers only its own request")
	}
	if out.usable("h1", now.Add(maxOutcomeAge+time.Second)) {
		t.Fatal("an old outcome is not used")
	}
	if again := reqs.take("ns/a"); again != nil {
		t.Fatal("an outcome is taken once")
	}

	// A forgotten request ends unseen.
	failed := make(chan struct{})
	reqs.start(context.Background(), "ns/b", "h", func(ctx context.Context) (*oauth.Token, error) {
		return nil, errors.New("refused")
	}, func() { close(failed) })
	<-failed
	reqs.forget("ns/b")
	if reqs.take("ns/b") != nil || len(reqs.m) != 0 {
		t.Fatal("forget drops the outcome")
	}
}
