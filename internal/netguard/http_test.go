package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/netguard/netguardtest"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// The guard plugged into the token client: a loopback endpoint receives
// nothing by default, and works once loopback is no longer denied.
func TestGuardedTokenRequest(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "guarded-secret"}})
	defer srv.Close()
	req := oauth.Request{TokenURL: srv.URL(), ClientID: "id", ClientSecret: "guarded-secret"}
	allowLoopback := netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)

	for _, tt := range []struct {
		name    string
		denied  []netip.Prefix
		hosts   []string
		refusal string // "" when the request succeeds
	}{
		{"loopback denied by default", netguard.DefaultDeniedNetworks, nil, "dial tcp 127.0.0.1:"},
		{"loopback allowed", allowLoopback, nil, ""},
		{"host allowed by address", allowLoopback, []string{"*.example.com", "127.0.0.1"}, ""},
		{"host not allowed", allowLoopback, []string{"*.example.com"}, `host "127.0.0.1" is not in the operator's --allowed-token-hosts (*.example.com)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := netguard.New(tt.hosts, tt.denied)
			if err != nil {
				t.Fatal(err)
			}
			g.Dialer = oauth.NewDialer()
			hc, err := oauth.NewHTTPClient(oauth.HTTPOptions{CABundle: srv.CAPEM(), DialContext: g.DialContext,
				Proxy: g.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil })})
			if err != nil {
				t.Fatal(err)
			}
			before := srv.Requests()
			tok, err := (&oauth.Client{HTTPClient: hc}).RequestToken(context.Background(), req)
			if tt.refusal == "" {
				if err != nil || tok.AccessToken == "" {
					t.Fatalf("request failed: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.refusal) || !errors.Is(err, netguard.ErrRefused) {
				t.Fatalf("error %v, want a refusal containing %q", err, tt.refusal)
			}
			if strings.Contains(err.Error(), "guarded-secret") {
				t.Fatal("the refusal contains the client secret")
			}
			if srv.Requests() != before {
				t.Fatal("the refused endpoint received a request")
			}
		})
	}
}

// connectProxy is an HTTP proxy on loopback that records the CONNECT targets
// it is asked for and tunnels only to "localhost:PORT", on 127.0.0.1.
type connectProxy struct {
	*httptest.Server
	mu      sync.Mutex
	targets []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.targets = append(p.targets, r.Method+" "+r.Host)
		p.mu.Unlock()
		host, port, err := net.SplitHostPort(r.Host)
		if r.Method != http.MethodConnect || err != nil || host != "localhost" {
			http.Error(w, "this proxy only tunnels to localhost", http.StatusForbidden)
			return
		}
		upstream, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = upstream.Close()
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() {
			_, _ = io.Copy(upstream, buf)
			_ = upstream.Close()
		}()
		_, _ = io.Copy(conn, upstream)
		_ = conn.Close()
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *connectProxy) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// Through a proxy, the connection goes to the proxy (on loopback, which the
// default list denies) and the CONNECT target is checked first: a refused
// target never reaches the proxy.
func TestGuardedTokenRequestThroughProxy(t *testing.T) {
	srv := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"id": "proxied-secret"}})
	defer srv.Close()
	proxy := newConnectProxy(t)
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	g, err := netguard.New([]string{"localhost", "127.0.0.1", "64:ff9b::7f00:1"}, netguard.DefaultDeniedNetworks)
	if err != nil {
		t.Fatal(err)
	}
	g.Dialer = oauth.NewDialer()
	hc, err := oauth.NewHTTPClient(oauth.HTTPOptions{CABundle: srv.CAPEM(), DialContext: g.DialContext, Proxy: g.Proxy(http.ProxyURL(proxyURL))})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	at := func(host string) string { v := *u; v.Host = net.JoinHostPort(host, port); return v.String() }

	tok, err := (&oauth.Client{HTTPClient: hc}).RequestToken(context.Background(),
		oauth.Request{TokenURL: at("localhost"), ClientID: "id", ClientSecret: "proxied-secret"})
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("request through the proxy failed: %v", err)
	}
	if got := strings.Join(proxy.asked(), ","); got != "CONNECT localhost:"+port {
		t.Fatalf("the proxy was asked for %s", got)
	}

	for host, refusal := range map[string]string{
		"127.0.0.1":       "address 127.0.0.1 is in the denied network 127.0.0.0/8",
		"64:ff9b::7f00:1": "embeds 127.0.0.1 (NAT64)",
		"idp.localhost":   `host "idp.localhost" is not in the operator's --allowed-token-hosts`,
	} {
		before := srv.Requests()
		_, err := (&oauth.Client{HTTPClient: hc}).RequestToken(context.Background(),
			oauth.Request{TokenURL: at(host), ClientID: "id", ClientSecret: "proxied-secret"})
		if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), refusal) {
			t.Errorf("%s: error %v, want a refusal containing %q", host, err, refusal)
		}
		if srv.Requests() != before {
			t.Errorf("%s: the endpoint received a request", host)
		}
	}
	if got := strings.Join(proxy.asked(), ","); got != "CONNECT localhost:"+port {
		t.Fatalf("refused targets reached the proxy: %s", got)
	}
}

// The two reaches of the token clients, as the manager wires them: a private
// address is refused to an OAuthClient's own endpoint before anything is
// dialed, and dialed for a ClusterOAuthProvider's. The base dialer's Control
// records each address that passed its guard and stops the connection, so
// nothing leaves the process.
func TestTokenClientsByReach(t *testing.T) {
	var rec *netguardtest.Recorder // of the request under test
	record := func(network, address string, c syscall.RawConn) error { return rec.Control(network, address, c) }
	guarded := func(private []netip.Prefix) oauth.HTTPOptions {
		g, err := netguard.New(nil, netguard.DefaultDeniedNetworks)
		if err != nil {
			t.Fatal(err)
		}
		g.Private = private
		g.Dialer = &net.Dialer{Control: record}
		return oauth.HTTPOptions{DialContext: g.DialContext, Proxy: g.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil })}
	}
	clients := oauth.NewHTTPClientsByReach(guarded(netguard.PrivateNetworks), guarded(nil))

	for _, tt := range []struct {
		reach   oauth.Reach
		url     string
		refusal string // "" when the address is dialed
		dialed  string
	}{
		{oauth.ReachOwn, "https://10.0.0.5/token", "token endpoint address 10.0.0.5 is in a private network (10.0.0.0/8)", ""},
		{oauth.ReachOwn, "https://[fd00::5]/token", "token endpoint address fd00::5 is in a private network (fc00::/7)", ""},
		{oauth.ReachOwn, "https://172.20.0.9:8443/token", "token endpoint address 172.20.0.9 is in a private network (172.16.0.0/12)", ""},
		{oauth.ReachProvider, "https://10.0.0.5/token", "", "10.0.0.5:443"},
		{oauth.ReachProvider, "https://[fd00::5]/token", "", "[fd00::5]:443"},
		{oauth.ReachProvider, "https://169.254.169.254/token", "address 169.254.169.254 is in the denied network 169.254.0.0/16", ""},
		{oauth.ReachOwn, "https://203.0.113.7/token", "", "203.0.113.7:443"},
	} {
		rec = &netguardtest.Recorder{}
		hc, err := clients.GetFor(tt.reach, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&oauth.Client{HTTPClient: hc}).RequestToken(context.Background(),
			oauth.Request{TokenURL: tt.url, ClientID: "id", ClientSecret: "reach-secret"})
		if tt.refusal != "" {
			if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), tt.refusal) {
				t.Errorf("reach %d, %s: error %v, want a refusal containing %q", tt.reach, tt.url, err, tt.refusal)
			}
		} else if !errors.Is(err, netguardtest.ErrNotConnecting) {
			t.Errorf("reach %d, %s: error %v, want the dial to go ahead", tt.reach, tt.url, err)
		}
		if err != nil && strings.Contains(err.Error(), "reach-secret") {
			t.Errorf("reach %d, %s: the error contains the client secret", tt.reach, tt.url)
		}
		if got := strings.Join(rec.Dialed(), ","); got != tt.dialed {
			t.Errorf("reach %d, %s: dialed %q, want %q", tt.reach, tt.url, got, tt.dialed)
		}
	}
}
