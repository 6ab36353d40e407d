package controllers_test

import (
	"fmt"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// With 8 workers and --max-requests-per-host=2, a slow endpoint never holds
// more than 2 requests at once, and does hold 2.
func TestRequestsPerHostLimit(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.Reconciler.MaxConcurrentReconciles = 8
		c.Reconciler.MaxRequestsPerHost = 2
	})
	e.idp.SetFault(oauthtest.Fault{Delay: 300 * time.Millisecond})
	var peak atomic.Int32
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if n := int32(e.idp.Active()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	const n = 12
	for i := range n {
		e.create(e.oauthClient(fmt.Sprintf("c%d", i)))
	}
	for i := range n {
		e.waitReady(fmt.Sprintf("c%d", i))
	}
	close(stop)
	e.g.Expect(e.idp.Requests()).To(Equal(n))
	e.g.Expect(peak.Load()).To(Equal(int32(2)), "requests in flight at the endpoint")
}

// A client in line for a request slot writes nothing: its status is written
// once, with its token.
func TestDeferredClientWritesNoStatus(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.Reconciler.MaxRequestsPerHost = 1
		c.TokenRequestTimeout = time.Minute
	})
	e.idp.SetFault(oauthtest.Fault{Delay: 3 * time.Second, Count: 1})
	e.create(e.oauthClient("first"))
	e.g.Eventually(e.idp.Active).WithTimeout(timeout).WithPolling(5 * time.Millisecond).Should(Equal(1))
	e.create(e.oauthClient("second"))
	// "second" is reconciled, finds the one slot taken, and waits in line.
	e.g.Consistently(func() int64 { return e.get("second").Status.ObservedGeneration }).
		WithTimeout(time.Second).WithPolling(50 * time.Millisecond).Should(BeZero())
	e.waitReady("first")
	e.waitReady("second")
	e.g.Expect(e.idp.Requests()).To(Equal(2))
}

// A request slot covers the token request alone: a client whose credentials
// read is slow holds no slot meanwhile, and another client of the same host
// gets its token.
func TestSlotNotHeldWhileReading(t *testing.T) {
	t.Parallel()
	reading, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e := newEnvWrapped(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.Reconciler.MaxRequestsPerHost = 1
	}, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && path.Base(req.URL.Path) == "creds-slow" && req.URL.Query().Get("watch") == "" {
				once.Do(func() { close(reading) })
				select {
				case <-release:
				case <-req.Context().Done():
				}
			}
			return rt.RoundTrip(req)
		})
	})
	defer close(release)
	e.create(e.credentials("creds-slow", e.clientID, e.clientSecret))
	slow := e.oauthClient("slow")
	slow.Spec.CredentialsSecretRef.Name = "creds-slow"
	e.create(slow)
	select {
	case <-reading:
	case <-time.After(timeout):
		t.Fatal("the credentials of slow were not read")
	}
	e.create(e.oauthClient("fast"))
	e.waitReady("fast")
	e.g.Expect(e.get("slow").Status.Conditions).To(BeEmpty(), "slow is still reading its credentials")
}
