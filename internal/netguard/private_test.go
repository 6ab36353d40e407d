package netguard

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// privateCases are addresses of each private network, directly and in the
// IPv6 forms that embed an IPv4 address, with the network a refusal names.
var privateCases = []struct {
	name, addr, network, embeds string
}{
	{"10/8", "10.0.0.5", "10.0.0.0/8", ""},
	{"10/8 last", "10.255.255.255", "10.0.0.0/8", ""},
	{"172.16/12", "172.16.0.1", "172.16.0.0/12", ""},
	{"172.16/12 last", "172.31.255.254", "172.16.0.0/12", ""},
	{"192.168/16", "192.168.1.10", "192.168.0.0/16", ""},
	{"100.64/10", "100.64.0.1", "100.64.0.0/10", ""},
	{"100.64/10 last", "100.127.255.254", "100.64.0.0/10", ""},
	{"fc00::/7", "fc00::1", "fc00::/7", ""},
	{"fd00::/8 (unique local)", "fd12:3456:789a::1", "fc00::/7", ""},
	{"IPv4-mapped", "::ffff:10.0.0.5", "10.0.0.0/8", ""},
	{"NAT64", "64:ff9b::a00:5", "10.0.0.0/8", "embeds 10.0.0.5 (NAT64)"},
	{"NAT64 local use", "64:ff9b:1::c0a8:10a", "192.168.0.0/16", "embeds 192.168.1.10 (NAT64)"},
	{"6to4", "2002:ac10:1::1", "172.16.0.0/12", "embeds 172.16.0.1 (6to4)"},
	{"Teredo", "2001:0:4136:e378:8000:0:9bbf:fffe", "100.64.0.0/10", "embeds 100.64.0.1 (Teredo)"},
}

// An OAuthClient's own endpoint is refused every private network at connect
// time, after resolution, and nothing is dialed; a ClusterOAuthProvider's
// endpoint (no Private) is dialed at the same address.
func TestDialRefusesPrivateNetworks(t *testing.T) {
	for _, tc := range privateCases {
		t.Run(tc.name, func(t *testing.T) {
			addr := netip.MustParseAddr(tc.addr)
			table := map[string][]netip.Addr{"idp.internal.test": {addr}}
			if addr.Is4In6() {
				// A DNS answer cannot carry a mapped address: dial the literal.
				table = nil
			}
			target := "idp.internal.test:443"
			if table == nil {
				target = "[" + tc.addr + "]:443"
			}

			own, rec, _ := stubGuard(DefaultDeniedNetworks, table)
			own.Private = PrivateNetworks
			_, err := own.DialContext(context.Background(), "tcp", target)
			shown := addr.Unmap().String()
			want := "token endpoint address " + shown + " "
			if tc.embeds != "" {
				want += tc.embeds + ", which is in a private network (" + tc.network + ")"
			} else {
				want += "is in a private network (" + tc.network + ")"
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), "use a ClusterOAuthProvider for an in-cluster IdP, or start the manager with --allow-private-token-networks") {
				t.Fatalf("own endpoint: error %v, want a refusal containing %q and both ways out", err, want)
			}
			if got := rec.Dialed(); len(got) != 0 {
				t.Fatalf("own endpoint: dialed %v, want nothing", got)
			}

			provider, rec, _ := stubGuard(DefaultDeniedNetworks, table)
			if _, err := provider.DialContext(context.Background(), "tcp", target); !errors.Is(err, errStub) {
				t.Fatalf("provider endpoint: error %v, want the dial to go ahead", err)
			}
			wantDialed := netip.AddrPortFrom(addr.Unmap(), 443).String() // the dialer unmaps
			if got := rec.Dialed(); strings.Join(got, ",") != wantDialed {
				t.Fatalf("provider endpoint: dialed %v, want %s", got, wantDialed)
			}
		})
	}
}

// The whole refusal, as it reaches an OAuthClient's condition.
func TestPrivateRefusalMessage(t *testing.T) {
	g, _, _ := stubGuard(DefaultDeniedNetworks, map[string][]netip.Addr{"idp.team-b.svc": addrs("10.0.0.5")})
	g.Private = PrivateNetworks
	_, err := g.DialContext(context.Background(), "tcp", "idp.team-b.svc:443")
	want := "dial tcp 10.0.0.5:443: token endpoint address 10.0.0.5 is in a private network (10.0.0.0/8): " +
		"an OAuthClient's own tokenURL may not reach private networks; use a ClusterOAuthProvider for an in-cluster IdP, " +
		"or start the manager with --allow-private-token-networks: refused by the operator's network policy"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// The edges of the private networks, and what the denied list refuses first.
func TestCheckAddrPrivate(t *testing.T) {
	g := &Guard{DeniedNetworks: DefaultDeniedNetworks, Private: PrivateNetworks}
	checkAddrs(t, g, map[string]string{
		"9.255.255.255":      "",
		"11.0.0.0":           "",
		"172.15.255.255":     "",
		"172.32.0.0":         "",
		"192.167.255.255":    "",
		"192.169.0.0":        "",
		"100.63.255.255":     "",
		"100.128.0.0":        "",
		"fbff:ffff::1":       "",
		"fe00::1":            "",
		"203.0.113.7":        "",
		"2001:db8::1":        "",
		"64:ff9b::cb00:7107": "",
		"100.100.100.200":    "in the denied network 100.100.100.200/32", // in 100.64.0.0/10, denied first
		"fd00:ec2::254":      "in the denied network fd00:ec2::/32",      // in fc00::/7, denied first
		"64:ff9b::a9fe:a9fe": "in the denied network 169.254.0.0/16",
		"fd20:ce::254":       "in the denied network fd20:ce::254/128",
		"fd20:ce::253":       "in a private network (fc00::/7)",
		"100.100.100.201":    "in a private network (100.64.0.0/10)",
	})
}

// Through a proxy, a CONNECT target that is a private IP literal is refused
// to an OAuthClient's own endpoint before the proxy is used, and let through
// to a ClusterOAuthProvider's; a host name target is the proxy's to resolve.
func TestProxyChecksPrivateTargets(t *testing.T) {
	proxyURL, _ := url.Parse("http://10.0.0.3:3128")
	own := &Guard{DeniedNetworks: DefaultDeniedNetworks, Private: PrivateNetworks}
	provider := &Guard{DeniedNetworks: DefaultDeniedNetworks}
	for target, refusal := range map[string]string{
		"https://10.0.0.5/token":            "token endpoint address 10.0.0.5 is in a private network (10.0.0.0/8)",
		"https://[fd12::5]/token":           "token endpoint address fd12::5 is in a private network (fc00::/7)",
		"https://[64:ff9b::c0a8:105]/token": "embeds 192.168.1.5 (NAT64), which is in a private network (192.168.0.0/16)",
		"https://idp.team-b.svc/token":      "",
	} {
		req, _ := http.NewRequest(http.MethodPost, target, nil)
		u, err := own.Proxy(http.ProxyURL(proxyURL))(req)
		if refusal == "" {
			if err != nil || u != proxyURL {
				t.Errorf("own: proxy(%s) = %v, %v; want the proxy", target, u, err)
			}
		} else if u != nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), refusal) {
			t.Errorf("own: proxy(%s) = %v, %v; want a refusal containing %q", target, u, err, refusal)
		}
		if u, err := provider.Proxy(http.ProxyURL(proxyURL))(req); err != nil || u != proxyURL {
			t.Errorf("provider: proxy(%s) = %v, %v; want the proxy", target, u, err)
		}
	}
}
