package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// warningInterval is the shortest time between two Warning Events of one
// OAuthClient for the same reason: a failure whose message changes on every
// attempt (an endpoint that varies its error_description, a Retry-After that
// counts down) would otherwise write an Event per retry.
const warningInterval = 10 * time.Minute

// warnings is this process's memory of the last Warning Event of each failing
// OAuthClient: its reason and when it was emitted. An entry lives while the
// client fails; success and deletion forget it, so it holds at most one small
// entry per failing OAuthClient.
type warnings struct {
	mu sync.Mutex
	m  map[types.NamespacedName]warned
}

type warned struct {
	reason string
	at     time.Time
}

// due reports whether a Warning Event for reason is to be emitted for key at
// now, and if so remembers it: when the reason differs from the last Event's,
// or warningInterval has passed since it. messageChanged is whether the
// condition's status, reason or message changed: an unchanged condition never
// warns again.
func (w *warnings) due(key types.NamespacedName, reason string, messageChanged bool, now time.Time) bool {
	if !messageChanged {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if last, ok := w.m[key]; ok && last.reason == reason && now.Sub(last.at) < warningInterval {
		return false
	}
	if w.m == nil {
		w.m = map[types.NamespacedName]warned{}
	}
	w.m[key] = warned{reason: reason, at: now}
	return true
}

// forget drops the memory of key, after a success or a deletion.
func (w *warnings) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
