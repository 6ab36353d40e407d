package oauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

func TestNewHTTPClientSettings(t *testing.T) {
	hc, err := NewHTTPClient(HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", hc.Transport)
	}
	if hc.Timeout != DefaultTimeout || tr.ResponseHeaderTimeout != DefaultTimeout {
		t.Errorf("timeouts %v %v", hc.Timeout, tr.ResponseHeaderTimeout)
	}
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.RootCAs == nil || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLS config %+v", tr.TLSClientConfig)
	}
	if tr.MaxResponseHeaderBytes != 64<<10 || tr.MaxIdleConnsPerHost != 16 || tr.TLSHandshakeTimeout <= 0 || tr.IdleConnTimeout <= 0 || tr.Proxy == nil {
		t.Errorf("transport limits %+v", tr)
	}
	if err := hc.CheckRedirect(nil, nil); !errors.Is(err, http.ErrUseLastResponse) {
		t.Errorf("CheckRedirect = %v", err)
	}
	hc, _ = NewHTTPClient(HTTPOptions{Timeout: 5 * time.Second})
	if hc.Timeout != 5*time.Second {
		t.Errorf("Timeout = %v", hc.Timeout)
	}
}

func TestDialContextIsUsed(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	defer srv.Close()
	var dials atomic.Int32
	var dialer net.Dialer
	hc, err := NewHTTPClient(HTTPOptions{CABundle: srv.CAPEM(), DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	c := &Client{HTTPClient: hc}
	for i := 0; i < 3; i++ {
		if _, err := c.RequestToken(context.Background(), Request{TokenURL: srv.URL(), ClientID: "id", ClientSecret: "pw"}); err != nil {
			t.Fatal(err)
		}
	}
	// One connection, reused for the three requests.
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for 3 sequential requests, want 1", n)
	}

	refused := errors.New("blocked by policy")
	hc, _ = NewHTTPClient(HTTPOptions{DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, refused }})
	_, err = (&Client{HTTPClient: hc}).RequestToken(context.Background(), Request{TokenURL: srv.URL(), ClientID: "id", ClientSecret: "pw"})
	if !errors.Is(err, refused) {
		t.Errorf("error = %v, want the dialer's", err)
	}
}

// bundle returns a distinct bundle (a different comment before the PEM) of
// the same certificate.
func bundle(caPEM []byte, i int) []byte {
	return append([]byte(fmt.Sprintf("# bundle %d\n", i)), caPEM...)
}

func TestHTTPClientsCache(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749})
	defer srv.Close()
	ca := srv.CAPEM()
	cache := NewHTTPClients(HTTPOptions{Timeout: 7 * time.Second, CABundle: []byte("ignored")})

	a1, err := cache.Get(ca)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := cache.Get(append([]byte("\n"), ca...))
	none1, _ := cache.Get(nil)
	none2, _ := cache.Get([]byte("  "))
	b, _ := cache.Get(bundle(ca, 1))
	if a1 != a2 || none1 != none2 || a1 == none1 || a1 == b || a1.Timeout != 7*time.Second {
		t.Errorf("cache identity: a1==a2 %v, none1==none2 %v, a1!=none %v, a1!=b %v, timeout %v",
			a1 == a2, none1 == none2, a1 != none1, a1 != b, a1.Timeout)
	}
	if _, err := cache.Get([]byte("garbage")); !errors.Is(err, ErrInvalidCABundle) {
		t.Errorf("garbage bundle: %v", err)
	}
	if n := cachedClients(cache); n != 3 {
		t.Errorf("Len = %d, want 3 (errors are not cached)", n)
	}

	// Fill the cache past its bound while keeping a1 recently used.
	for i := 2; i < 2+MaxCachedHTTPClients; i++ {
		if _, err := cache.Get(bundle(ca, i)); err != nil {
			t.Fatal(err)
		}
		if got, _ := cache.Get(ca); got != a1 {
			t.Fatal("a recently used client was evicted")
		}
	}
	if n := cachedClients(cache); n != MaxCachedHTTPClients {
		t.Errorf("Len = %d, want %d", n, MaxCachedHTTPClients)
	}
	if got, _ := cache.Get(bundle(ca, 1)); got == b {
		t.Error("the least recently used client was not evicted")
	}
}

func TestHTTPClientsConcurrent(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	defer srv.Close()
	cache := NewHTTPClients(HTTPOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			hc, err := cache.Get(bundle(srv.CAPEM(), i%4))
			if err == nil {
				_, err = (&Client{HTTPClient: hc}).RequestToken(context.Background(),
					Request{TokenURL: srv.URL(), ClientID: "id", ClientSecret: "pw"})
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := cachedClients(cache); n != 4 {
		t.Errorf("Len = %d, want 4", n)
	}
	if n := len(srv.Issued()); n != 32 {
		t.Errorf("%d tokens issued, want 32", n)
	}
}

// cachedClients is the number of clients c holds.
func cachedClients(c *HTTPClients) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cache.Len()
}

// An evicted client's idle connections are closed: its next request opens a
// new connection instead of reusing the idle one.
func TestHTTPClientsEvictionClosesIdleConnections(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "pw"}})
	defer srv.Close()
	cache := NewHTTPClients(HTTPOptions{})
	request := func(hc *http.Client) {
		t.Helper()
		if _, err := (&Client{HTTPClient: hc}).RequestToken(context.Background(),
			Request{TokenURL: srv.URL(), ClientID: "id", ClientSecret: "pw"}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cache.Get(bundle(srv.CAPEM(), 0))
	if err != nil {
		t.Fatal(err)
	}
	request(first)
	request(first)
	if n := srv.Connections(); n != 1 {
		t.Fatalf("%d connections before eviction, want 1 (reused)", n)
	}
	for i := 1; i <= MaxCachedHTTPClients; i++ {
		if _, err := cache.Get(bundle(srv.CAPEM(), i)); err != nil {
			t.Fatal(err)
		}
	}
	request(first)
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections after eviction, want 2: the idle connection was not closed", n)
	}
}

// reachDialer records the addresses one reach's clients dial, and connects to
// none of them.
type reachDialer struct {
	mu     sync.Mutex
	dialed []string
}

var errNotConnecting = errors.New("test dialer: not connecting")

func (d *reachDialer) dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dialed = append(d.dialed, addr)
	return nil, errNotConnecting
}

func (d *reachDialer) addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dialed...)
}

// The clients of each reach are built with that reach's options (its dialer
// and proxy guard), are cached apart, and share one bound.
func TestHTTPClientsByReach(t *testing.T) {
	ca := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749})
	defer ca.Close()
	var own, provider reachDialer
	noProxy := func(*http.Request) (*url.URL, error) { return nil, nil }
	cache := NewHTTPClientsByReach(
		HTTPOptions{Timeout: 3 * time.Second, DialContext: own.dial, Proxy: noProxy},
		HTTPOptions{Timeout: 4 * time.Second, DialContext: provider.dial, Proxy: noProxy})

	ownClient, err := cache.GetFor(ReachOwn, ca.CAPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	providerClient, err := cache.GetFor(ReachProvider, ca.CAPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := cache.GetFor(ReachProvider, ca.CAPEM(), nil)
	viaGet, _ := cache.Get(ca.CAPEM())
	viaCert, _ := cache.GetWithCertificate(ca.CAPEM(), nil)
	if ownClient == providerClient || again != providerClient || viaGet != ownClient || viaCert != ownClient {
		t.Fatalf("identity: own!=provider %v, provider cached %v, Get is own %v, GetWithCertificate is own %v",
			ownClient != providerClient, again == providerClient, viaGet == ownClient, viaCert == ownClient)
	}
	if ownClient.Timeout != 3*time.Second || providerClient.Timeout != 4*time.Second {
		t.Errorf("timeouts %v, %v: want each reach's options", ownClient.Timeout, providerClient.Timeout)
	}

	for _, tc := range []struct {
		client *http.Client
		url    string
	}{{ownClient, "https://10.0.0.5/token"}, {providerClient, "https://[fd00::5]:8443/token"}} {
		_, err := (&Client{HTTPClient: tc.client}).RequestToken(context.Background(),
			Request{TokenURL: tc.url, ClientID: "id", ClientSecret: "reach-secret"})
		if !errors.Is(err, errNotConnecting) {
			t.Fatalf("%s: error %v, want the test dialer's", tc.url, err)
		}
	}
	if got, want := fmt.Sprint(own.addrs(), provider.addrs()), "[10.0.0.5:443] [[fd00::5]:8443]"; got != want {
		t.Errorf("dialed %s, want %s: each reach's client dials with its own dialer", got, want)
	}

	// The bound counts the clients of both reaches.
	for i := 0; i < MaxCachedHTTPClients; i++ {
		reach := ReachOwn
		if i%2 == 1 {
			reach = ReachProvider
		}
		if _, err := cache.GetFor(reach, bundle(ca.CAPEM(), i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := cachedClients(cache); n != MaxCachedHTTPClients {
		t.Errorf("Len = %d, want %d", n, MaxCachedHTTPClients)
	}
	fresh, _ := cache.GetFor(ReachOwn, ca.CAPEM(), nil)
	if fresh == ownClient {
		t.Error("the least recently used client was not evicted")
	}
	// An unknown reach is the tenant's own.
	if got, _ := cache.GetFor(Reach(7), ca.CAPEM(), nil); got != fresh {
		t.Error("an unknown reach does not get the own reach's client")
	}
}
