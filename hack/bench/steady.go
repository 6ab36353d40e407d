package main

import (
	"context"
	"fmt"
	"time"
)

// steadyPhase counts the idle manager's API writes and token requests.
func (b *bench) steadyPhase(ctx context.Context) error {
	say("steady: counting the idle manager's API requests for %s", b.o.steady)
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.mgr.done:
		return fmt.Errorf("steady: the manager exited: %v (see %s)", b.mgr.exitErr, b.mgr.logs.path())
	case <-time.After(b.o.steady):
	}
	diff := b.proxy.snapshot().sub(before)
	b.res.SteadyWrites = diff.writes(managerAgent)
	b.res.SteadyReads = diff.reads(managerAgent)
	b.res.SteadyTokenRequests = b.idp.Requests() - tokensBefore
	b.res.SteadyAPIRequests = diff.byVerbResource(managerAgent)
	mem, err := b.mgr.memory()
	if err != nil {
		return err
	}
	b.res.RSSMiBCold = mib(mem.HWM)
	say("steady: %d writes, %d token requests; manager peak RSS %.1f MiB", b.res.SteadyWrites, b.res.SteadyTokenRequests, b.res.RSSMiBCold)
	return nil
}
