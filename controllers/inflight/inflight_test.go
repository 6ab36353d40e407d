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
