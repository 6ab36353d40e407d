package slots

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestHostBound(t *testing.T) {
	l := &Limiter{PerHost: 2}
	r1, b1 := l.TryAcquire("idp:443", "a", "")
	r2, b2 := l.TryAcquire("idp:443", "b", "")
	if b1 != nil || b2 != nil {
		t.Fatalf("the first two slots were refused: %v %v", b1, b2)
	}
	if _, b := l.TryAcquire("idp:443", "c", ""); b == nil || b.Kind != "host" || b.Limit != 2 {
		t.Fatalf("a third request to the host got %v, want a host bound of 2", b)
	}
	other, b := l.TryAcquire("other:443", "c", "")
	if b != nil {
		t.Fatalf("another host was refused: %v", b)
	}
	r1()
	r1() // a second release frees nothing more
	r3, b := l.TryAcquire("idp:443", "c", "")
	if b != nil {
		t.Fatalf("a freed slot was refused: %v", b)
	}
	if _, b := l.TryAcquire("idp:443", "d", ""); b == nil {
		t.Fatal("the double release freed two slots")
	}
	r2()
	r3()
	other()
	if h, tn, hosts, tenants := l.InFlight("idp:443", "a"); h != 0 || tn != 0 || hosts != 0 || tenants != 0 {
		t.Fatalf("after every release: %d %d %d %d in flight, want the maps empty", h, tn, hosts, tenants)
	}
}

func TestTenantBound(t *testing.T) {
	l := &Limiter{PerHost: 8, PerTenant: 3}
	for i, host := range []string{"a:443", "b:443", "c:443"} {
		if _, b := l.TryAcquire(host, "greedy", ""); b != nil {
			t.Fatalf("slot %d refused: %v", i, b)
		}
	}
	if _, b := l.TryAcquire("d:443", "greedy", ""); b == nil || b.Kind != "namespace" || b.Key != "greedy" {
		t.Fatalf("a fourth request of the tenant got %v, want the namespace bound", b)
	}
	if _, b := l.TryAcquire("d:443", "other", ""); b != nil {
		t.Fatalf("another tenant was refused: %v", b)
	}
	if msg := (&Busy{Kind: "namespace", Key: "greedy", Limit: 3}).Error(); msg != "3 token requests already in flight for namespace greedy" {
		t.Fatalf("message %q", msg)
	}
}

func TestNoBound(t *testing.T) {
	var nilLimiter *Limiter
	for _, l := range []*Limiter{nilLimiter, {}} {
		for range 100 {
			if _, b := l.TryAcquire("h", "t", ""); b != nil {
				t.Fatalf("an unbounded limiter refused: %v", b)
			}
		}
	}
}

// Many goroutines never hold more slots than the bounds, and every slot is
// given back.
func TestConcurrentBounds(t *testing.T) {
	l := &Limiter{PerHost: 3, PerTenant: 5}
	var inHost, peakHost atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				release, b := l.TryAcquire("h", []string{"t1", "t2"}[i%2], "")
				if b != nil {
					continue
				}
				n := inHost.Add(1)
				for p := peakHost.Load(); n > p && !peakHost.CompareAndSwap(p, n); p = peakHost.Load() {
				}
				inHost.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	if p := peakHost.Load(); p > 3 {
		t.Fatalf("%d requests in flight to one host, bound 3", p)
	}
	if h, _, hosts, tenants := l.InFlight("h", "t1"); h != 0 || hosts != 0 || tenants != 0 {
		t.Fatalf("slots left taken: %d, maps %d %d", h, hosts, tenants)
	}
}

// A freed slot wakes the first in line for its host, then for its tenant, in
// order, once each.
func TestWaitAndWake(t *testing.T) {
	var woken []string
	l := &Limiter{PerHost: 1, PerTenant: 2, Wake: func(key string) { woken = append(woken, key) }}
	release, _ := l.TryAcquire("idp", "a", "")
	for _, key := range []string{"a/1", "b/1", "a/1", "c/1"} {
		_, busy := l.TryAcquire("idp", key[:1], key)
		if busy == nil || busy.Kind != "host" {
			t.Fatalf("%s: got %v, want the host bound", key, busy)
		}
	}
	if n := l.Waiting(); n != 3 {
		t.Fatalf("%d in line, want 3 (a key keeps one place)", n)
	}
	release()
	if len(woken) != 1 || woken[0] != "a/1" {
		t.Fatalf("woken %v, want [a/1]", woken)
	}
	r2, _ := l.TryAcquire("idp", "b", "")
	r2()
	r3, _ := l.TryAcquire("idp", "c", "")
	r3()
	if want := []string{"a/1", "b/1", "c/1"}; len(woken) != 3 || woken[1] != want[1] || woken[2] != want[2] {
		t.Fatalf("woken %v, want %v", woken, want)
	}
	if n := l.Waiting(); n != 0 {
		t.Fatalf("%d left in line", n)
	}
	// The tenant's line.
	woken = nil
	l2 := &Limiter{PerHost: 5, PerTenant: 1, Wake: func(key string) { woken = append(woken, key) }}
	rel, _ := l2.TryAcquire("h1", "ns", "")
	if _, busy := l2.TryAcquire("h2", "ns", "ns/x"); busy == nil || busy.Kind != "namespace" {
		t.Fatalf("got %v, want the namespace bound", busy)
	}
	rel()
	if len(woken) != 1 || woken[0] != "ns/x" {
		t.Fatalf("woken %v, want [ns/x]", woken)
	}
}
