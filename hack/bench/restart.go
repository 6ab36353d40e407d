package main

import (
	"context"
	"fmt"
	"time"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// restartPhases restarts the manager three times, stopped in between: on the
// cold phase's OAuthClients alone, with unrelated Secrets in other namespaces
// too, and with large Secrets labelled as tokenator's that no OAuthClient
// controls.
func (b *bench) restartPhases(ctx context.Context) (err error) {
	o, res := b.o, b.res
	if res.Restart, err = b.restartPhase(ctx, "restart"); err != nil {
		return err
	}

	say("creating %d unrelated Secrets of %d bytes in %d other namespaces, the manager stopped", o.secrets, o.secretSize, o.namespaces)
	start := time.Now()
	noise := newClientSet("unrelated", 0, o.namespaces)
	if err := createNoiseSecrets(ctx, b.c, o.secrets, o.secretSize, noise.namespaces, 16); err != nil {
		return fmt.Errorf("creating the unrelated Secrets: %w", err)
	}
	res.SecretsCreateSeconds = round3(time.Since(start).Seconds())
	if res.RestartWithSecrets, err = b.restartPhase(ctx, "restart-with-secrets"); err != nil {
		return err
	}

	say("creating %d Secrets of %d MiB labelled %s=%s that no OAuthClient controls, the manager stopped",
		o.labelled, o.labelledMiB, tokenatorv1.LabelManagedBy, tokenatorv1.ManagedByValue)
	if err := createLabelledSecrets(ctx, b.c, o.labelled, o.labelledMiB<<20, noise.namespaces, 4); err != nil {
		return fmt.Errorf("creating the labelled Secrets: %w", err)
	}
	res.RestartWithLabelled, err = b.restartPhase(ctx, "restart-with-labelled-secrets")
	return err
}

// restartPhase starts the manager on OAuthClients that all hold a valid token
// and measures the time until it has reconciled every one of them: from exec
// until its metrics show at least N reconciles, an empty workqueue and no
// active worker. It then keeps it running -hold more.
func (b *bench) restartPhase(ctx context.Context, name string) (*restartResult, error) {
	say("%s: starting the manager", name)
	r := &restartResult{}
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	m, stop, err := b.phaseManager(name, true)
	if err != nil {
		return r, err
	}
	defer stop()
	workersAt, err := m.waitWorkers(ctx, 2*time.Minute)
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	r.WorkersSeconds = round3(workersAt.Sub(m.started).Seconds())
	doneAt, err := b.waitReconciled(ctx, m, name)
	if err != nil {
		return r, err
	}
	r.Seconds = round3(doneAt.Sub(m.started).Seconds())
	say("%s: all %d reconciled %.2fs after exec; holding %s", name, b.o.n, r.Seconds, b.o.hold)
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(b.o.hold):
	}
	return r, b.restartCounts(ctx, r, m, name, before, tokensBefore)
}

// waitReconciled returns when m's metrics show at least N reconciles, an
// empty workqueue and no active worker.
func (b *bench) waitReconciled(ctx context.Context, m *managerProc, name string) (time.Time, error) {
	n := b.o.n
	deadline := time.Now().Add(time.Minute + time.Duration(n)*50*time.Millisecond)
	for {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: the manager had not reconciled all %d OAuthClients by %s", name, n, deadline.Format(time.TimeOnly))
		}
		s, err := m.scrape(ctx)
		if err == nil {
			total := s.sum("controller_runtime_reconcile_total", `controller="oauthclient"`)
			depth := s.sum("workqueue_depth", `name="oauthclient"`)
			active := s.sum("controller_runtime_active_workers", `controller="oauthclient"`)
			if total >= float64(n) && depth == 0 && active == 0 {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-m.done:
			return time.Time{}, fmt.Errorf("%s: the manager exited: %v (see %s)", name, m.exitErr, m.logs.path())
		case <-time.After(pollInterval(time.Since(m.started))):
		}
	}
}

// restartCounts records the restarted manager's reconciles, memory, token
// requests and API requests.
func (b *bench) restartCounts(ctx context.Context, r *restartResult, m *managerProc, name string, before counts, tokensBefore int) error {
	if s, err := m.scrape(ctx); err == nil {
		r.Reconciles = int(s.sum("controller_runtime_reconcile_total", `controller="oauthclient"`))
		r.HeapInuseMiB = round3(s.sum("go_memstats_heap_inuse_bytes") / (1 << 20))
		r.GoSysMiB = round3(s.sum("go_memstats_sys_bytes") / (1 << 20))
	}
	if b.o.profile != "" {
		if err := saveHeap(ctx, b.o.profile, name, m.profileAddr); err != nil {
			return err
		}
	}
	mem, err := m.memory()
	if err != nil {
		return err
	}
	r.RSSMiB, r.RSSNowMiB = mib(mem.HWM), mib(mem.RSS)
	diff := b.proxy.snapshot().sub(before)
	r.TokenRequests = b.idp.Requests() - tokensBefore
	r.TokensLogged = int(m.logs.issued.Load())
	r.Writes = diff.writes(managerAgent)
	r.Reads = diff.reads(managerAgent)
	r.APIRequests = diff.byVerbResource(managerAgent)
	say("%s: %d token requests, %d writes, peak RSS %.1f MiB", name, r.TokenRequests, r.Writes, r.RSSMiB)
	return nil
}

// pollInterval is the wait between two reads of the manager's metrics while
// waiting for a restart to end, elapsed after exec: a twentieth of elapsed,
// from 100 ms to 1 s, so that restart_seconds is known to 5 % or 100 ms. Each
// read builds every series of the manager, four per OAuthClient: read every
// 100 ms at N=50,000, that is two million series a second, 300 times what a
// Prometheus scraping every 30 s reads, and the peak RSS the restart phase
// reports grew with it.
func pollInterval(elapsed time.Duration) time.Duration {
	return min(time.Second, max(100*time.Millisecond, elapsed/20))
}
