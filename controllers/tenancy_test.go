package controllers_test

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// sideEnv is a second namespace served by the manager of another testEnv,
// with its own token endpoint, credentials ("creds") and CA ("idp-ca").
func sideEnv(t *testing.T, ns string, cfg oauthtest.Config) *testEnv {
	t.Helper()
	e := &testEnv{t: t, g: NewWithT(t), ctx: t.Context(), ns: ns, kind: cfg.Kind,
		clientID: randomString("client-"), clientSecret: randomString("secret-"), stopManager: func() {}}
	cfg.Clients = map[string]string{e.clientID: e.clientSecret}
	e.idp = oauthtest.NewServer(cfg)
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, e.clientSecret)
	endpoints = append(endpoints, e.idp)
	secretsMu.Unlock()
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "idp-ca"}, Data: map[string][]byte{"ca.crt": e.idp.CAPEM()}})
	e.create(e.credentials("creds", e.clientID, e.clientSecret))
	return e
}

// newNamespace creates an empty namespace for a sideEnv.
func newNamespace(t *testing.T) string {
	t.Helper()
	requireControlPlane(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	NewWithT(t).Expect(k8s.Create(t.Context(), ns)).To(Succeed())
	return ns.Name
}

// twoNamespaces starts a manager with the defaults' 16 workers and 8 requests
// per host, serving the namespace of the returned testEnv and a second one,
// whose endpoint is configured by side.
func twoNamespaces(t *testing.T, side oauthtest.Config) (*testEnv, *testEnv) {
	t.Helper()
	nsB := newNamespace(t)
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.Reconciler.MaxConcurrentReconciles = 16
		c.Reconciler.MaxRequestsPerHost = 8
		c.Reconciler.Namespaces = append(c.Reconciler.Namespaces, nsB)
		c.TokenRequestTimeout = time.Minute
	})
	return e, sideEnv(t, nsB, side)
}

// 24 OAuthClients whose endpoint accepts requests and never answers hold the
// 8 request slots of that host, and nothing else: the other workers stay free,
// so a new client of another endpoint gets its token at once.
func TestHangingEndpointHoldsNoOtherWorker(t *testing.T) {
	t.Parallel()
	e, other := twoNamespaces(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.idp.SetFault(oauthtest.Fault{Delay: 10 * time.Minute})
	for i := range 24 {
		e.create(e.oauthClient(fmt.Sprintf("hang-%d", i)))
	}
	e.g.Eventually(e.idp.Active).WithTimeout(timeout).Should(Equal(8), "requests held by the hanging endpoint")

	// Another client of the same namespace, and one of another namespace.
	sameNS := e.oauthClient("fast")
	sameNS.Spec.TokenURL = other.idp.URL()
	sameNS.Spec.CredentialsSecretRef.Name = "creds-other"
	sameNS.Spec.TLS.CASecretRef.Name = "other-ca"
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other-ca"}, Data: map[string][]byte{"ca.crt": other.idp.CAPEM()}})
	e.create(e.credentials("creds-other", other.clientID, other.clientSecret))
	for _, c := range []struct {
		env  *testEnv
		name string
		oc   *tokenatorv1.OAuthClient
	}{{e, "fast", sameNS}, {other, "fast", other.oauthClient("fast")}} {
		start := time.Now()
		c.env.create(c.oc)
		c.env.waitReady(c.name)
		elapsed := time.Since(start)
		t.Logf("namespace %s: a client of another endpoint was Ready %v after its creation", c.env.ns, elapsed.Round(time.Millisecond))
		e.g.Expect(elapsed).To(BeNumerically("<", 2*time.Second))
	}
	e.g.Consistently(e.idp.Active).WithTimeout(time.Second).Should(Equal(8), "the host's bound")
	// Waiting for a slot is not a failure.
	for i := range 24 {
		e.g.Expect(e.get(fmt.Sprintf("hang-%d", i)).Status.FailedAttempts).To(BeZero())
	}
}

// 500 OAuthClients of one namespace (TOKENATOR_BUSY_CLIENTS sets another
// number, 2000 for the figure of docs/security.md) on an endpoint that takes
// 5 s to answer do not delay another namespace's refreshes by more than 2 s:
// their requests hold slots and goroutines, not the workers.
func TestBusyNamespaceDoesNotDelayOthers(t *testing.T) {
	busy := 500
	if v := os.Getenv("TOKENATOR_BUSY_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TOKENATOR_BUSY_CLIENTS=%q: want a positive number", v)
		}
		busy = n
	}
	if testing.Short() {
		t.Skipf("creates %d OAuthClients", busy)
	}
	t.Parallel()
	e, quiet := twoNamespaces(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 6 * time.Second})
	nsB := quiet.ns
	e.idp.SetFault(oauthtest.Fault{Delay: 5 * time.Second})

	var wg sync.WaitGroup
	names := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				e.create(e.oauthClient(name))
			}
		}()
	}
	for i := range busy {
		names <- fmt.Sprintf("busy-%d", i)
	}
	close(names)
	wg.Wait()
	e.g.Eventually(e.idp.Active).WithTimeout(timeout).Should(Equal(8))

	quiet.create(quiet.oauthClient("quiet"))
	quiet.waitReady("quiet")
	// Follow three refreshes: each happens within 5 s of the planned time.
	var planned, done time.Time
	refreshes := 0
	deadline := time.Now().Add(time.Minute)
	for refreshes < 3 && time.Now().Before(deadline) {
		oc := &tokenatorv1.OAuthClient{}
		e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: nsB, Name: "quiet"}, oc)).To(Succeed())
		st := oc.Status
		if st.LastRefreshTime != nil && st.RefreshAt != nil {
			if !done.IsZero() && st.LastRefreshTime.After(done) {
				late := st.LastRefreshTime.Sub(planned)
				t.Logf("refresh planned at %s happened at %s (%v late)", planned.Format(time.TimeOnly), st.LastRefreshTime.Format(time.TimeOnly), late)
				e.g.Expect(late).To(BeNumerically("<=", 2*time.Second))
				refreshes++
			}
			done, planned = st.LastRefreshTime.Time, st.RefreshAt.Time
		}
		time.Sleep(poll)
	}
	e.g.Expect(refreshes).To(Equal(3), "refreshes seen in a minute")
	e.g.Expect(e.idp.Active()).To(BeNumerically("<=", 8))
}

// A routine refresh reads nothing from the API server: the credentials Secret
// and the CA bundle are read once per version, and at the version the
// metadata cache shows (answered from the API server's watch cache, not
// etcd). A rotated client secret is read again, at once.
func TestRefreshReadsCredentialsOncePerVersion(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	reads := map[string]int{}
	unversioned := 0
	e := newEnvWrapped(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 6 * time.Second}, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/secrets/") && req.URL.Query().Get("watch") == "" {
				mu.Lock()
				reads[path.Base(req.URL.Path)]++
				if req.URL.Query().Get("resourceVersion") == "" {
					unversioned++
				}
				mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return reads[name]
	}
	e.create(e.oauthClient("api"))
	tok := e.waitNewToken("api-token", "")
	for range 3 {
		tok = e.waitNewToken("api-token", tok)
	}
	e.g.Expect(e.idp.Requests()).To(BeNumerically(">=", 4))
	e.g.Expect(count("creds")).To(Equal(1), "reads of the credentials over 4 tokens")
	e.g.Expect(count("idp-ca")).To(Equal(1), "reads of the CA bundle over 4 tokens")

	rotated := e.rotateClientSecret()
	e.waitNewToken("api-token", tok)
	e.g.Expect(e.idp.LastRequest().Params).To(HaveKeyWithValue("client_secret", rotated))
	e.g.Expect(count("creds")).To(Equal(2))
	mu.Lock()
	defer mu.Unlock()
	e.g.Expect(unversioned).To(BeZero(), "reads without a resourceVersion")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Token requests run off the workers: two namespaces with 18 clients each on
// three endpoints that never answer hold more requests in flight than the 16
// workers, and a new client of a third namespace still gets its token within
// a second.
func TestHangingRequestsHoldNoWorker(t *testing.T) {
	t.Parallel()
	nsB, nsC := newNamespace(t), newNamespace(t)
	a := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.Reconciler.MaxConcurrentReconciles = 16
		c.Reconciler.MaxRequestsPerHost = 8
		c.Reconciler.Namespaces = append(c.Reconciler.Namespaces, nsB, nsC)
		c.TokenRequestTimeout = time.Minute
	})
	b, c := sideEnv(t, nsB, oauthtest.Config{Kind: oauthtest.RFC6749}), sideEnv(t, nsC, oauthtest.Config{Kind: oauthtest.RFC6749})
	hanging := make([]*oauthtest.Server, 3)
	for i := range hanging {
		hanging[i] = oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749})
		hanging[i].SetFault(oauthtest.Fault{Delay: 10 * time.Minute})
		t.Cleanup(hanging[i].Close)
	}
	active := func() int {
		n := 0
		for _, s := range hanging {
			n += s.Active()
		}
		return n
	}
	for _, env := range []*testEnv{a, b} {
		for i, s := range hanging {
			env.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("hang-ca-%d", i)}, Data: map[string][]byte{"ca.crt": s.CAPEM()}})
			for j := range 6 {
				oc := env.oauthClient(fmt.Sprintf("hang-%d-%d", i, j))
				oc.Spec.TokenURL = s.URL()
				oc.Spec.TLS.CASecretRef.Name = fmt.Sprintf("hang-ca-%d", i)
				env.create(oc)
			}
		}
	}
	// 12 per namespace (three quarters of the workers) and 8 per host: 22 to
	// 24 in flight, as the clients happen to take the slots; either way more
	// than the 16 workers, which a request held until it ended.
	a.g.Eventually(active).WithTimeout(timeout).Should(BeNumerically(">=", 22), "requests in flight")
	a.g.Consistently(active).WithTimeout(time.Second).Should(BeNumerically(">", 16))
	held := active()

	start := time.Now()
	c.create(c.oauthClient("fast"))
	a.g.Eventually(c.idp.Requests).WithTimeout(timeout).WithPolling(10 * time.Millisecond).Should(Equal(1))
	issued := time.Since(start)
	c.waitReady("fast")
	ready := time.Since(start)
	t.Logf("with %d requests hanging, a new client of a third namespace got its token %v after its creation, and was Ready after %v",
		active(), issued.Round(time.Millisecond), ready.Round(time.Millisecond))
	a.g.Expect(issued).To(BeNumerically("<", time.Second))
	a.g.Expect(active()).To(Equal(held), "the hanging requests are still in flight")
}
