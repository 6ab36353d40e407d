package testutil

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// managerStopTimeout is how long stopping a test's manager may take.
const managerStopTimeout = 30 * time.Second

// StartManager starts mgr with ctx, whose cancel stops it, and returns the
// function that stops it: it cancels ctx and waits for Start to return,
// reporting on t an error of the manager or a stop that takes over 30 s (a
// manager whose caches never synced may not return). Calling it again does
// nothing.
func StartManager(t testing.TB, ctx context.Context, cancel context.CancelFunc, mgr manager.Manager) (stop func()) {
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the manager stopped with an error: %v", err)
			}
		case <-time.After(managerStopTimeout):
			t.Error("the manager did not stop within 30s")
		}
	}
}
