package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/operator"
)

// The manager's defaults (the bench does not set them): the longest delay
// between retries, and the most token requests in flight to one host.
var (
	retryMaxDelay      = operator.DefaultConfig().Reconciler.RetryMaxDelay
	maxRequestsPerHost = operator.DefaultConfig().Reconciler.MaxRequestsPerHost
)

// refreshAfter is when the refresh phase's OAuthClients plan their first
// refresh: spec.refreshBefore is the token's lifetime minus this, and the
// contract's jitter makes it up to 10% earlier. It leaves time to issue every
// first token before the first refresh is due: 30 s, plus 50 ms per client
// (the pace of a loaded 2-core machine).
func refreshAfter(clients int) time.Duration {
	return 30*time.Second + time.Duration(clients)*50*time.Millisecond
}

// refreshResult: the refresh phase.
type refreshResult struct {
	Clients       int            `json:"clients"`
	TokenRequests int            `json:"token_requests"`
	APIRequests   map[string]int `json:"api_requests"`
	// PerRefresh: the manager's API requests (watches aside) per routine
	// refresh.
	PerRefresh float64 `json:"api_requests_per_routine_refresh"`
	Seconds    float64 `json:"seconds"` // from the first refresh due to the last one done
}

// outageResult: the outage phase.
type outageResult struct {
	Clients        int     `json:"clients"`
	OutageSeconds  float64 `json:"outage_seconds"`
	RetryMaxDelay  string  `json:"retry_max_delay"`
	MaxPerHost     int     `json:"max_requests_per_host"`
	ReadySeconds   float64 `json:"ready_after_back_seconds"` // from the endpoint's return until every client is Ready
	PeakConcurrent int     `json:"peak_concurrent_requests"` // at the endpoint, from its return on
	TokenRequests  int     `json:"token_requests"`           // from its return on
}

// createSet creates the namespaces, credentials Secrets and OAuthClients of cs
// (mutate, when set, changes each OAuthClient first).
func (b *bench) createSet(ctx context.Context, cs clientSet, mutate func(*tokenatorv1.OAuthClient)) error {
	if err := createNamespaces(ctx, b.c, cs.namespaces); err != nil {
		return err
	}
	if err := parallel(ctx, cs.n, 16, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, cs.credentialsSecret(i))
	}); err != nil {
		return fmt.Errorf("%s: creating credentials Secrets: %w", cs.phase, err)
	}
	return parallel(ctx, cs.n, 16, func(ctx context.Context, i int) error {
		oc := cs.oauthClient(i, b.idp.URL())
		if mutate != nil {
			mutate(oc)
		}
		return b.c.Create(ctx, oc)
	})
}

// deleteSet deletes the OAuthClients and Secrets of cs's namespaces (there is
// no garbage collector in the bench's control plane).
func (b *bench) deleteSet(ctx context.Context, cs clientSet) error {
	for _, ns := range cs.namespaces {
		if err := b.c.DeleteAllOf(ctx, &tokenatorv1.OAuthClient{}, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := b.c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
			return err
		}
	}
	return nil
}

// waitAll polls the OAuthClients of phase until every one of the n satisfies
// ok, and returns when that was seen.
func (b *bench) waitAll(ctx context.Context, phase string, n int, timeout time.Duration, ok func(*tokenatorv1.OAuthClient) bool) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		var list tokenatorv1.OAuthClientList
		if err := b.c.List(ctx, &list, client.MatchingLabels{phaseLabel: phase}); err != nil {
			return time.Time{}, err
		}
		done := 0
		for i := range list.Items {
			if ok(&list.Items[i]) {
				done++
			}
		}
		if done == n {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: %d of %d OAuthClients done after %s", phase, done, n, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// refreshPhase counts the API requests of routine refreshes: OAuthClients
// whose first refresh is planned refreshAfter after their first token are
// created; once every one holds its first token and the manager is quiet, the
// manager's requests are counted until every one holds its second token.
func (b *bench) refreshPhase(ctx context.Context, cs clientSet) error {
	after := refreshAfter(cs.n)
	say("refresh: creating %d OAuthClients that refresh %s after their first token", cs.n, after)
	if err := b.createSet(ctx, cs, func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.RefreshBefore = &metav1.Duration{Duration: tokenLifetime - after}
	}); err != nil {
		return err
	}
	timeout := time.Minute + time.Duration(cs.n)*50*time.Millisecond
	if _, err := b.waitAll(ctx, cs.phase, cs.n, timeout, isReady); err != nil {
		return err
	}
	if err := b.settle(ctx, 3*time.Second, time.Minute); err != nil {
		return err
	}
	var list tokenatorv1.OAuthClientList
	if err := b.c.List(ctx, &list, client.MatchingLabels{phaseLabel: cs.phase}); err != nil {
		return err
	}
	first := map[string]time.Time{}
	var firstDue time.Time
	for _, oc := range list.Items {
		first[oc.Namespace+"/"+oc.Name] = oc.Status.LastRefreshTime.Time
		if due := oc.Status.RefreshAt.Time; firstDue.IsZero() || due.Before(firstDue) {
			firstDue = due
		}
	}
	if time.Now().After(firstDue) {
		return fmt.Errorf("refresh: the first refresh was due at %s, before the first tokens were all issued and counted", firstDue.Format(time.TimeOnly))
	}
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	doneAt, err := b.waitAll(ctx, cs.phase, cs.n, after+timeout, func(oc *tokenatorv1.OAuthClient) bool {
		return isReady(oc) && oc.Status.LastRefreshTime != nil && oc.Status.LastRefreshTime.After(first[oc.Namespace+"/"+oc.Name])
	})
	if err != nil {
		return err
	}
	if err := b.settle(ctx, 3*time.Second, time.Minute); err != nil {
		return err
	}
	diff := b.proxy.snapshot().sub(before)
	r := &refreshResult{Clients: cs.n, TokenRequests: b.idp.Requests() - tokensBefore, APIRequests: diff.byVerbResource(managerAgent),
		Seconds: round3(doneAt.Sub(firstDue).Seconds())}
	if r.TokenRequests > 0 {
		r.PerRefresh = round3(float64(diff.requests(managerAgent)) / float64(r.TokenRequests))
	}
	b.res.Refresh = r
	say("refresh: %d refreshes, %.2f API requests each", r.TokenRequests, r.PerRefresh)
	return b.deleteSet(ctx, cs)
}

// outagePhase: the token endpoint stops listening, cs.n OAuthClients are
// created and fail, and after o.outage the endpoint is back. Measured from its
// return: the time until every one is Ready, and the most requests the
// endpoint handled at once. The OAuthClients of gone (the cold and shared
// phases' clients) are deleted first so that only cs needs tokens.
func (b *bench) outagePhase(ctx context.Context, cs clientSet, gone ...clientSet) error {
	o := b.o
	for _, g := range gone {
		for _, ns := range g.namespaces {
			if err := b.c.DeleteAllOf(ctx, &tokenatorv1.OAuthClient{}, client.InNamespace(ns)); err != nil {
				return err
			}
		}
	}
	say("outage: starting the manager; the token endpoint goes down for %s", o.outage)
	m, stop, err := b.phaseManager("outage", false)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := m.waitWorkers(ctx, 2*time.Minute); err != nil {
		return fmt.Errorf("outage: %w", err)
	}
	b.idp.Down()
	downAt := time.Now()
	if err := b.createSet(ctx, cs, nil); err != nil {
		b.idp.Up() //nolint:errcheck // the error is the one returned
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(downAt.Add(o.outage))):
	}
	b.idp.PeakActive()
	tokensBefore := b.idp.Requests()
	if err := b.idp.Up(); err != nil {
		return fmt.Errorf("outage: the token endpoint could not listen again: %w", err)
	}
	upAt := time.Now()
	say("outage: the token endpoint is back after %s", upAt.Sub(downAt).Round(time.Second))
	doneAt, err := b.waitAll(ctx, cs.phase, cs.n, retryMaxDelay+5*time.Minute, isReady)
	r := &outageResult{Clients: cs.n, OutageSeconds: round3(upAt.Sub(downAt).Seconds()), RetryMaxDelay: retryMaxDelay.String(),
		MaxPerHost: maxRequestsPerHost, PeakConcurrent: b.idp.PeakActive(), TokenRequests: b.idp.Requests() - tokensBefore}
	b.res.Outage = r
	if err != nil {
		return err
	}
	r.ReadySeconds = round3(doneAt.Sub(upAt).Seconds())
	say("outage: all %d Ready %.1fs after the endpoint's return; at most %d requests at once", cs.n, r.ReadySeconds, r.PeakConcurrent)
	return nil
}
