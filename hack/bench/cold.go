package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// coldPhase: the manager runs, idle; N OAuthClients are created; time until all
// are Ready.
func (b *bench) coldPhase(ctx context.Context, cold clientSet) error {
	tracker, err := b.coldSetup(ctx, cold)
	if err != nil {
		return err
	}
	say("cold: creating %d OAuthClients", b.o.n)
	prof, err := b.startProfiles(ctx, "cold", b.mgr.profileAddr)
	if err != nil {
		return err
	}
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	t0 := time.Now()
	allAt, err := b.coldMeasure(ctx, cold, tracker, t0, tokensBefore)
	if err != nil {
		return err
	}
	if err := prof.stop(b.mgr.profileAddr); err != nil {
		return err
	}
	b.coldTimes(tracker, t0, allAt)

	// Events are sent asynchronously: wait until the manager has been quiet
	// for 3s, so that its trailing requests are not counted as steady ones.
	settled := time.Now()
	if err := b.settle(ctx, 3*time.Second, 2*time.Minute+time.Duration(b.o.n)*60*time.Millisecond); err != nil {
		return err
	}
	b.res.ColdSettleSeconds = round3(time.Since(settled).Seconds())
	b.coldCounts(before, tokensBefore)
	return b.refreshPlan(ctx, cold)
}

// coldSetup creates the namespaces and credentials Secrets of cold, starts
// tracking its OAuthClients, then starts the manager and waits for its
// workers.
func (b *bench) coldSetup(ctx context.Context, cold clientSet) (*readyTracker, error) {
	o := b.o
	say("cold: creating %d namespaces and %d credentials Secrets", o.namespaces, o.n)
	if err := createNamespaces(ctx, b.c, cold.namespaces); err != nil {
		return nil, err
	}
	if err := parallel(ctx, o.n, 16, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, cold.credentialsSecret(i))
	}); err != nil {
		return nil, fmt.Errorf("cold: creating credentials Secrets: %w", err)
	}
	tracker, err := b.trackPhase(ctx, cold.phase, o.n)
	if err != nil {
		return nil, err
	}
	say("cold: starting the manager")
	if b.mgr, err = startManager(b.managerOptions("cold", false)); err != nil {
		return nil, err
	}
	workersAt, err := b.mgr.waitWorkers(ctx, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	b.res.ManagerStartSeconds = round3(workersAt.Sub(b.mgr.started).Seconds())
	return tracker, nil
}

// coldMeasure creates the OAuthClients from t0 on and returns when the last
// of them became Ready.
func (b *bench) coldMeasure(ctx context.Context, cold clientSet, tracker *readyTracker, t0 time.Time, tokensBefore int) (time.Time, error) {
	o, res := b.o, b.res
	if err := parallel(ctx, o.n, 16, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, cold.oauthClient(i, b.idp.URL()))
	}); err != nil {
		return time.Time{}, fmt.Errorf("cold: creating OAuthClients: %w", err)
	}
	res.ColdCreateSeconds = round3(time.Since(t0).Seconds())
	allAt, err := tracker.wait(ctx, time.Minute+time.Duration(o.n)*150*time.Millisecond)
	if err != nil {
		res.TokenRequests = b.idp.Requests() - tokensBefore
		return allAt, fmt.Errorf("cold: %w", err)
	}
	res.ColdSeconds = round3(allAt.Sub(t0).Seconds())
	return allAt, nil
}

// coldTimes records the pace of the cold phase: its request rates, when the
// OAuthClients became Ready, and its ratio to the floor.
func (b *bench) coldTimes(tracker *readyTracker, t0, allAt time.Time) {
	res := b.res
	res.ColdRates = b.proxy.rates(managerAgent, t0, allAt)
	q := tracker.quantiles(t0, 0.1, 0.5, 0.9, 1)
	res.ColdReadyAt = map[string]float64{"p10": q[0], "p50": q[1], "p90": q[2], "p100": q[3]}
	if res.FloorSeconds > 0 {
		res.ColdRatio = round3(res.ColdSeconds / res.FloorSeconds)
	}
	say("cold: all %d Ready after %.2fs (floor %.2fs)", b.o.n, res.ColdSeconds, res.FloorSeconds)
}

// coldCounts records the token requests and the manager's API requests of
// the cold phase.
func (b *bench) coldCounts(before counts, tokensBefore int) {
	res := b.res
	diff := b.proxy.snapshot().sub(before)
	res.TokenRequests = b.idp.Requests() - tokensBefore
	res.ColdTokensLogged = int(b.mgr.logs.issued.Load())
	res.ColdAPIRequests = diff.byVerbResource(managerAgent)
	res.ColdWrites = diff.writes(managerAgent)
	res.ColdReads = diff.reads(managerAgent)
	if res.TokenRequests > 0 {
		res.RequestsPerNewToken = round3(float64(diff.requests(managerAgent)) / float64(res.TokenRequests))
	}
}

// refreshPlan records how the first refreshes the cold phase's OAuthClients
// planned spread over time.
func (b *bench) refreshPlan(ctx context.Context, cold clientSet) error {
	res := b.res
	var list tokenatorv1.OAuthClientList
	if err := b.c.List(ctx, &list, client.MatchingLabels{phaseLabel: cold.phase}); err != nil {
		return err
	}
	var refreshes []time.Time
	var firstIssued time.Time
	for i := range list.Items {
		st := list.Items[i].Status
		if st.RefreshAt == nil || st.LastRefreshTime == nil {
			continue
		}
		refreshes = append(refreshes, st.RefreshAt.Time)
		if res.earliestRefresh.IsZero() || st.RefreshAt.Time.Before(res.earliestRefresh) {
			res.earliestRefresh = st.RefreshAt.Time
		}
		if firstIssued.IsZero() || st.LastRefreshTime.Time.Before(firstIssued) {
			firstIssued = st.LastRefreshTime.Time
		}
	}
	share, peak, seconds := peakShare(refreshes)
	res.RefreshPeakShare = round3(share)
	res.RefreshPeak, res.RefreshDistinctSeconds, res.RefreshPlanned = peak, seconds, len(refreshes)
	if len(refreshes) > 0 {
		lo, hi := slices.MinFunc(refreshes, time.Time.Compare), slices.MaxFunc(refreshes, time.Time.Compare)
		res.RefreshSpanSeconds = hi.Sub(lo).Seconds()
		res.RefreshEarliestAfterIssueSeconds = lo.Sub(firstIssued).Seconds()
	}
	return nil
}
