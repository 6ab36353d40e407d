// Package slots bounds the token requests in flight, per endpoint host and per
// tenant (namespace), without ever making a caller wait: a caller that finds no
// free slot is told so at once and comes back later. A worker of the controller
// is therefore never held by another client's slow endpoint, and no tenant can
// hold more than its share of the workers.
package slots

import (
	"fmt"
	"sync"
)

// Limiter counts the requests in flight by host and by tenant. The zero value,
// and a nil *Limiter, allow everything. It is safe for concurrent use. Its maps
// hold only the hosts and tenants with requests in flight: an entry goes as
// soon as its count returns to zero, so tenants' host names do not accumulate.
type Limiter struct {
	// PerHost bounds the requests in flight to one host; < 1 means no bound.
	PerHost int
	// PerTenant bounds the requests in flight of one tenant; < 1 means no bound.
	PerTenant int

	mu      sync.Mutex
	hosts   map[string]int
	tenants map[string]int
}

// Busy says which bound refused a slot.
type Busy struct {
	// Kind is "host" or "namespace".
	Kind string
	// Key is the host or the tenant.
	Key string
	// Limit is the bound reached.
	Limit int
}

func (b *Busy) Error() string {
	return fmt.Sprintf("%d token requests already in flight for %s %s", b.Limit, b.Kind, b.Key)
}

// TryAcquire takes a slot for one request to host on behalf of tenant, or
// returns a *Busy when either bound is reached. It never waits. The release
// function frees the slot; calling it again does nothing.
func (l *Limiter) TryAcquire(host, tenant string) (release func(), busy *Busy) {
	if l == nil || (l.PerHost < 1 && l.PerTenant < 1) {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hosts == nil {
		l.hosts, l.tenants = map[string]int{}, map[string]int{}
	}
	if l.PerHost > 0 && l.hosts[host] >= l.PerHost {
		return nil, &Busy{Kind: "host", Key: host, Limit: l.PerHost}
	}
	if l.PerTenant > 0 && l.tenants[tenant] >= l.PerTenant {
		return nil, &Busy{Kind: "namespace", Key: tenant, Limit: l.PerTenant}
	}
	l.hosts[host]++
	l.tenants[tenant]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			decrement(l.hosts, host)
			decrement(l.tenants, tenant)
		})
	}, nil
}

// InFlight reports the requests in flight to host and of tenant, and how many
// hosts and tenants have requests in flight (the size of the maps).
func (l *Limiter) InFlight(host, tenant string) (byHost, byTenant, hosts, tenants int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hosts[host], l.tenants[tenant], len(l.hosts), len(l.tenants)
}

func decrement(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}
