package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// statusWrites is this process's memory of its own status writes, in the
// manner of kube-controller-manager's expectations: the status is the
// controller's only record of what it did (the token's expiry, the request's
// inputs), and a reconcile that read, from a cache not yet past a write, the
// status that write replaced would act again on what was already done (a new
// OAuthClient would get two tokens). After a write, the resourceVersion it
// replaced is remembered; a reconcile that still reads that version waits for
// the cache instead of acting. Nothing polls, and no worker is held.
type statusWrites struct {
	mu       sync.Mutex
	replaced map[types.NamespacedName]string
}

// wrote records that the status of key was written over resourceVersion old.
func (w *statusWrites) wrote(key types.NamespacedName, old string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.replaced == nil {
		w.replaced = map[types.NamespacedName]string{}
	}
	w.replaced[key] = old
}

// seen reports whether resourceVersion rv, read from the cache, is past the
// last write of key's status; once it is, the write is forgotten.
func (w *statusWrites) seen(key types.NamespacedName, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, ok := w.replaced[key]
	if !ok {
		return true
	}
	if rv == old {
		return false
	}
	delete(w.replaced, key)
	return true
}

// forget drops what is remembered of key (the OAuthClient is gone).
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.replaced, key)
}

// pending is how many writes the cache has not shown yet.
func (w *statusWrites) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.replaced)
}
