package oauth

import (
	"context"
	"sync"
)

// HostLimiter bounds the token requests in flight to each host, so that a cold
// start of thousands of clients does not flood one provider.
type HostLimiter struct {
	limit int
	mu    sync.Mutex
	slots map[string]chan struct{}
}

// NewHostLimiter allows limit requests in flight per host; limit < 1 means no limit.
func NewHostLimiter(limit int) *HostLimiter {
	return &HostLimiter{limit: limit, slots: map[string]chan struct{}{}}
}

// Acquire waits for a slot for host and returns the function that frees it;
// calling that function again does nothing.
func (l *HostLimiter) Acquire(ctx context.Context, host string) (release func(), err error) {
	if l == nil || l.limit < 1 {
		return func() {}, nil
	}
	l.mu.Lock()
	slot, ok := l.slots[host]
	if !ok {
		slot = make(chan struct{}, l.limit)
		l.slots[host] = slot
	}
	l.mu.Unlock()
	select {
	case slot <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-slot }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
