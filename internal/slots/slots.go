// Package slots bounds the token requests in flight, per endpoint host and per
// tenant (namespace), without ever making a caller wait: a caller that finds no
// free slot is told so at once and is put in line, and is woken (Wake) when a
// slot of the bound that refused it is freed. A worker of the
// controller is therefore never held by another client's slow endpoint, no
// tenant can hold more than its share of the workers, and a freed slot is
// handed to the next in line at once rather than at a polling interval.
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
	// Wake, when set, is called (without any lock held) with the key of the
	// first in line for a bound when one of its slots is freed.
	Wake func(key string)

	mu      sync.Mutex
	hosts   map[string]int
	tenants map[string]int
	lines   map[string]*Line // by bound: "host " + host, "namespace " + tenant
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
// returns a *Busy when either bound is reached and puts waiter (when not "")
// in line for that bound, in the same step, so that no slot can be freed
// between the refusal and the waiter's place in line. It never waits. The
// release function frees the slot; calling it again does nothing.
func (l *Limiter) TryAcquire(host, tenant, waiter string) (release func(), busy *Busy) {
	if l == nil || (l.PerHost < 1 && l.PerTenant < 1) {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hosts == nil {
		l.hosts, l.tenants = map[string]int{}, map[string]int{}
	}
	if l.PerHost > 0 && l.hosts[host] >= l.PerHost {
		busy = &Busy{Kind: "host", Key: host, Limit: l.PerHost}
	} else if l.PerTenant > 0 && l.tenants[tenant] >= l.PerTenant {
		busy = &Busy{Kind: "namespace", Key: tenant, Limit: l.PerTenant}
	}
	if busy != nil {
		if waiter != "" {
			l.wait(busy, waiter)
		}
		return nil, busy
	}
	l.hosts[host]++
	l.tenants[tenant]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			decrement(l.hosts, host)
			decrement(l.tenants, tenant)
			woken := []string{l.next("host " + host), l.next("namespace " + tenant)}
			wake := l.Wake
			l.mu.Unlock()
			for _, key := range woken {
				if key != "" && wake != nil {
					wake(key)
				}
			}
		})
	}, nil
}

// wait puts key in line for the bound that refused it; a key already in
// that line keeps its place. l.mu is held.
func (l *Limiter) wait(b *Busy, key string) {
	if l.lines == nil {
		l.lines = map[string]*Line{}
	}
	name := b.Kind + " " + b.Key
	q := l.lines[name]
	if q == nil {
		q = &Line{}
		l.lines[name] = q
	}
	q.Add(key)
}

// next takes the first key in line for a bound, or "". An empty line goes.
func (l *Limiter) next(name string) string {
	q := l.lines[name]
	if q == nil {
		return ""
	}
	key, _ := q.Next()
	if q.Len() == 0 {
		delete(l.lines, name)
	}
	return key
}

// Waiting is how many keys are in line, over all bounds.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, q := range l.lines {
		n += q.Len()
	}
	return n
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
