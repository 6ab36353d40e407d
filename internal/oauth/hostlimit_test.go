package oauth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostLimiter(t *testing.T) {
	l := NewHostLimiter(3)
	var inFlight, peak atomic.Int32
	var otherHostRan atomic.Bool
	var wg sync.WaitGroup
	block := make(chan struct{})
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := l.Acquire(context.Background(), "idp.example.com:443")
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-block
			inFlight.Add(-1)
		}()
	}
	// Wait until three hold their slot; the others wait.
	for peak.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	// Another host is not held back by the busy one.
	release, err := l.Acquire(context.Background(), "other.example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	otherHostRan.Store(true)
	release()
	// A waiter gives up with its context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx, "idp.example.com:443"); err == nil {
		t.Fatal("Acquire on a full host with a cancelled context succeeded")
	}
	close(block)
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak in flight %d, want 3", p)
	}
	if !otherHostRan.Load() {
		t.Fatal("the other host was held back")
	}
	// Releasing twice frees one slot only.
	one := NewHostLimiter(1)
	r1, _ := one.Acquire(context.Background(), "h")
	r1()
	r1()
	r2, _ := one.Acquire(context.Background(), "h")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := one.Acquire(ctx2, "h"); err == nil {
		t.Fatal("a double release freed two slots")
	}
	r2()
	if release, err := NewHostLimiter(0).Acquire(ctx, "x"); err != nil {
		t.Fatalf("no limit: %v", err)
	} else {
		release()
	}
}
