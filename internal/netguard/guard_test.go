package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tokenator-dev/tokenator/internal/netguard/netguardtest"
)

var errStub = netguardtest.ErrNotConnecting

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// stubGuard returns a guard whose dialer resolves names with table and
// records, without connecting, what passes the guard.
func stubGuard(denied []netip.Prefix, table map[string][]netip.Addr) (*Guard, *netguardtest.Recorder, *netguardtest.DNS) {
	dns := netguardtest.Table(table)
	rec := &netguardtest.Recorder{}
	return &Guard{DeniedNetworks: denied, Dialer: netguardtest.Dialer(dns, rec)}, rec, dns
}

func TestDialRefusesDeniedAddresses(t *testing.T) {
	table := map[string][]netip.Addr{
		"metadata.test":   addrs("169.254.169.254"),
		"mixed.test":      addrs("169.254.169.254", "203.0.113.10"),
		"v6meta.test":     addrs("fd00:ec2::254"),
		"linklocal6.test": addrs("fe80::a9fe:a9fe"),
		"mapped.test":     addrs("::ffff:169.254.169.254"),
		"nat64meta.test":  addrs("64:ff9b::a9fe:a9fe"),
		"loopback.test":   addrs("127.0.0.1", "::1"),
		"private.test":    addrs("10.1.2.3"),
		"idp.example.com": addrs("203.0.113.7"),
	}
	withPrivate := append(DefaultDeniedNetworks, netip.MustParsePrefix("10.0.0.0/8"))
	tests := []struct {
		name       string
		denied     []netip.Prefix
		addr       string
		wantDialed []string // addresses that passed the guard
		wantRefuse string   // substring of the refusal, "" when the dial goes ahead
	}{
		{"metadata IP literal", DefaultDeniedNetworks, "169.254.169.254:443", nil, "169.254.169.254 is in the denied network 169.254.0.0/16"},
		{"host resolving to metadata", DefaultDeniedNetworks, "metadata.test:443", nil, "denied network 169.254.0.0/16"},
		{"only the allowed address of a mixed answer is dialed", DefaultDeniedNetworks, "mixed.test:443", []string{"203.0.113.10:443"}, ""},
		{"AWS IPv6 metadata", DefaultDeniedNetworks, "v6meta.test:443", nil, "fd00:ec2::/32"},
		{"IPv6 link-local", DefaultDeniedNetworks, "linklocal6.test:443", nil, "fe80::/10"},
		{"IPv6 link-local literal with a zone", DefaultDeniedNetworks, "[fe80::1%25lo]:443", nil, "fe80::/10"},
		{"IPv4-mapped IPv6 metadata", DefaultDeniedNetworks, "mapped.test:443", nil, "169.254.0.0/16"},
		{"NAT64 of the metadata address", DefaultDeniedNetworks, "nat64meta.test:443", nil, "embeds 169.254.169.254 (NAT64), which is in the denied network 169.254.0.0/16"},
		{"IPv6 metadata literal", DefaultDeniedNetworks, "[fd00:ec2::254]:443", nil, "fd00:ec2::/32"},
		{"loopback by name", DefaultDeniedNetworks, "loopback.test:8443", nil, "in the denied network"},
		{"loopback literal", DefaultDeniedNetworks, "127.0.0.1:8443", nil, "127.0.0.1 is in the denied network 127.0.0.0/8"},
		{"IPv6 loopback literal", DefaultDeniedNetworks, "[::1]:8443", nil, "::1 is in the denied network ::1/128"},
		{"unspecified", DefaultDeniedNetworks, "0.0.0.0:8443", nil, "0.0.0.0 is in the denied network 0.0.0.0/8"},
		{"IPv6 unspecified", DefaultDeniedNetworks, "[::]:8443", nil, ":: is in the denied network ::/128"},
		{"Alibaba metadata", DefaultDeniedNetworks, "100.100.100.200:80", nil, "100.100.100.200/32"},
		{"loopback allowed when not denied", Without(DefaultDeniedNetworks, LoopbackNetworks...), "loopback.test:8443", []string{"127.0.0.1:8443", "[::1]:8443"}, ""},
		{"private range not in the denied list", DefaultDeniedNetworks, "private.test:443", []string{"10.1.2.3:443"}, ""},
		{"private range refused when denied", withPrivate, "private.test:443", nil, "10.0.0.0/8"},
		{"NAT64 of a private address refused when the private range is denied", withPrivate, "[64:ff9b::a01:203]:443", nil, "embeds 10.1.2.3 (NAT64)"},
		{"public host dialed at its resolved address", DefaultDeniedNetworks, "idp.example.com:443", []string{"203.0.113.7:443"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, rec, _ := stubGuard(tt.denied, table)
			_, err := g.DialContext(context.Background(), "tcp", tt.addr)
			if tt.wantRefuse != "" {
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantRefuse) {
					t.Fatalf("error %v, want a refusal containing %q", err, tt.wantRefuse)
				}
			} else if !errors.Is(err, errStub) {
				t.Fatalf("error %v, want the dial to go ahead", err)
			}
			got := rec.Dialed()
			if len(got) > 1 { // Happy Eyeballs may try IPv4 or IPv6 first
				if got[0] > got[1] {
					got[0], got[1] = got[1], got[0]
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantDialed, ",") {
				t.Fatalf("dialed %v, want %v", got, tt.wantDialed)
			}
		})
	}
}

// The refusal of a name's address reads as the resolver's and dialer's other
// errors do: "dial tcp ADDRESS: address ... refused ...".
func TestDialRefusalMessage(t *testing.T) {
	g, _, _ := stubGuard(DefaultDeniedNetworks, map[string][]netip.Addr{"metadata.test": addrs("169.254.169.254")})
	_, err := g.DialContext(context.Background(), "tcp", "metadata.test:443")
	want := "dial tcp 169.254.169.254:443: address 169.254.169.254 is in the denied network 169.254.0.0/16 (see the operator's --denied-token-networks): refused by the operator's network policy"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	_, err = g.DialContext(context.Background(), "tcp", "unknown.test:443")
	if err == nil || !strings.HasPrefix(err.Error(), "dial tcp: lookup unknown.test") || !strings.HasSuffix(err.Error(), "no such host") {
		t.Fatalf("error %q, want dial tcp: lookup unknown.test ...: no such host", err)
	}
}

// DNS rebinding: a name that first resolves to a public address and then to the
// metadata address is checked on each connection, on the address connected to.
func TestDNSRebinding(t *testing.T) {
	var mu sync.Mutex
	rebound := false
	dns := &netguardtest.DNS{Answer: func(name string) []netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		if name != "rebind.test" {
			return nil
		}
		if rebound {
			return addrs("169.254.169.254")
		}
		return addrs("203.0.113.50")
	}}
	rec := &netguardtest.Recorder{}
	g := &Guard{DeniedNetworks: DefaultDeniedNetworks, Dialer: &net.Dialer{Resolver: dns.Resolver(), Control: func(n, a string, c syscall.RawConn) error {
		mu.Lock()
		rebound = true // the next answer is the metadata address
		mu.Unlock()
		return rec.Control(n, a, c)
	}}}
	if _, err := g.DialContext(context.Background(), "tcp", "rebind.test:443"); !errors.Is(err, errStub) {
		t.Fatalf("first dial: %v", err)
	}
	if _, err := g.DialContext(context.Background(), "tcp", "rebind.test:443"); !errors.Is(err, ErrRefused) {
		t.Fatalf("second dial after rebinding: %v, want a refusal", err)
	}
	if got := rec.Dialed(); strings.Join(got, ",") != "203.0.113.50:443" {
		t.Fatalf("dialed %v, want only the checked public address", got)
	}
	if dns.Queries() < 2 {
		t.Fatalf("%d DNS queries, want the name resolved for each connection", dns.Queries())
	}
}

// checkAddrs checks g.CheckAddr on each address: refused with a message
// containing its refusal, or allowed when that is "".
func checkAddrs(t *testing.T, g *Guard, refusals map[string]string) {
	t.Helper()
	for addr, refusal := range refusals {
		err := g.CheckAddr(netip.MustParseAddr(addr))
		if refusal == "" {
			if err != nil {
				t.Errorf("CheckAddr(%s) = %v, want allowed", addr, err)
			}
			continue
		}
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), refusal) {
			t.Errorf("CheckAddr(%s) = %v, want a refusal containing %q", addr, err, refusal)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	g := &Guard{DeniedNetworks: DefaultDeniedNetworks}
	checkAddrs(t, g, map[string]string{
		"169.254.169.254":                   "in the denied network 169.254.0.0/16",
		"169.254.170.2":                     "169.254.0.0/16", // ECS task metadata
		"fe80::a9fe:a9fe":                   "fe80::/10",
		"fe80::1%eth0":                      "fe80::/10",
		"fd00:ec2::254":                     "fd00:ec2::/32",
		"fd20:ce::254":                      "fd20:ce::254/128",
		"100.100.100.200":                   "100.100.100.200/32",
		"168.63.129.16":                     "168.63.129.16/32",
		"192.0.0.192":                       "192.0.0.192/32",
		"127.0.0.1":                         "127.0.0.0/8",
		"127.1.2.3":                         "127.0.0.0/8",
		"::1":                               "::1/128",
		"0.0.0.0":                           "0.0.0.0/8",
		"::":                                "::/128",
		"::ffff:127.0.0.1":                  "127.0.0.0/8",
		"64:ff9b::a9fe:a9fe":                "embeds 169.254.169.254 (NAT64)",
		"64:ff9b::7f00:1":                   "embeds 127.0.0.1 (NAT64)",
		"64:ff9b::":                         "embeds 0.0.0.0 (NAT64)",
		"64:ff9b:1::a9fe:a9fe":              "embeds 169.254.169.254 (NAT64)", // local-use prefix
		"64:ff9b:1:2:3:4:a9fe:a9fe":         "embeds 169.254.169.254 (NAT64)",
		"2002:a9fe:a9fe::1":                 "embeds 169.254.169.254 (6to4)",
		"2001:0:4136:e378:8000:0:80ff:fffe": "embeds 127.0.0.1 (Teredo)",
		"203.0.113.7":                       "",
		"10.0.0.1":                          "",
		"2001:db8::1":                       "",
		"64:ff9b::cb00:7107":                "", // NAT64 of 203.0.113.7
		"2002:cb00:7107::1":                 "",
		"fd00:ec3::1":                       "",
		"100.100.100.201":                   "",
	})

	// The embedding rules follow the denied list: with only 10.0.0.0/8 denied,
	// NAT64 of the metadata address passes and NAT64 of 10.1.2.3 does not.
	g = &Guard{DeniedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if err := g.CheckAddr(netip.MustParseAddr("64:ff9b::a9fe:a9fe")); err != nil {
		t.Errorf("NAT64 metadata with a replaced list: %v", err)
	}
	if err := g.CheckAddr(netip.MustParseAddr("64:ff9b::a01:203")); !errors.Is(err, ErrRefused) {
		t.Errorf("NAT64 of 10.1.2.3: %v, want a refusal", err)
	}
}

func TestControl(t *testing.T) {
	g := &Guard{DeniedNetworks: DefaultDeniedNetworks}
	for address, ok := range map[string]bool{
		"203.0.113.7:443":         true,
		"[2001:db8::1]:443":       true,
		"169.254.169.254:80":      false,
		"[64:ff9b::a9fe:a9fe]:80": false,
		"[fe80::1%eth0]:443":      false,
		"not-an-address:443":      false,
	} {
		err := g.Control("tcp", address, nil)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrRefused)) {
			t.Errorf("Control(%s) = %v, want allowed=%v", address, err, ok)
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	g, err := New([]string{"*.example.com", "accounts.world.luccasoftware.com", "Localhost.", "203.0.113.7", "2001:db8::1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for host, ok := range map[string]bool{
		"idp.example.com":                  true,
		"IDP.Example.COM":                  true,
		"idp.example.com.":                 true,
		"accounts.world.luccasoftware.com": true,
		"localhost":                        true,
		"203.0.113.7":                      true,
		"2001:db8::1":                      true,
		"2001:db8:0::1":                    true,
		"example.com":                      false,
		".example.com":                     false,
		"evil.com":                         false,
		"idp.example.com.evil.com":         false,
		"evilexample.com":                  false,
		// "*" is one label, as in a TLS wildcard certificate.
		"a.b.example.com":                     false,
		"world.luccasoftware.com":             false,
		"eu.accounts.world.luccasoftware.com": false,
		"203.0.113.8":                         false,
		"sub.localhost":                       false,
	} {
		err := g.CheckHost(host)
		if (err == nil) != ok {
			t.Errorf("CheckHost(%q) = %v, want allowed=%v", host, err, ok)
		}
		if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--allowed-token-hosts")) {
			t.Errorf("refusal %q does not name the flag", err)
		}
	}
	// A host that is not allowed is refused before any DNS look-up or dial.
	g.Dialer = nil
	g2, rec, dns := stubGuard(nil, map[string][]netip.Addr{"evil.com": addrs("203.0.113.9")})
	g2.AllowedHosts = g.AllowedHosts
	if _, err := g2.DialContext(context.Background(), "tcp", "evil.com:443"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial evil.com: %v", err)
	}
	if _, err := g2.DialContext(context.Background(), "tcp", "203.0.113.9:443"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial 203.0.113.9: %v", err)
	}
	if dns.Queries() != 0 || len(rec.Dialed()) != 0 {
		t.Fatalf("refused host was resolved %d times and dialed %v", dns.Queries(), rec.Dialed())
	}
}

func TestHostPatternValidation(t *testing.T) {
	for _, p := range []string{"idp.example.com", "*.example.com", "*.svc", "localhost", "IDP.Example.com.", "my_host.example.com", "10.0.0.1", "2001:db8::1"} {
		if _, err := New([]string{p}, nil); err != nil {
			t.Errorf("New(%q): %v", p, err)
		}
	}
	for p, why := range map[string]string{
		"":                        "it is empty",
		"*":                       `"*" may only be the whole leftmost label`,
		"*.":                      `"*" may only be the whole leftmost label`,
		"a.*.example.com":         `"*" may only be the whole leftmost label`,
		"idp*.example.com":        `"*" may only be the whole leftmost label`,
		"*.*.example.com":         `"*" may only be the whole leftmost label`,
		"[a-z].example.com":       `'[' is not allowed in a host name`,
		"idp?.example.com":        `'?' is not allowed in a host name`,
		"idp..example.com":        "it has an empty label",
		"https://idp.example.com": `':' is not allowed in a host name`,
		"idp.example.com:443":     `':' is not allowed in a host name`,
	} {
		_, err := New([]string{"ok.example.com", p}, nil)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "allowed token host") {
			t.Errorf("New(%q) = %v, want an error containing %q", p, err, why)
		}
	}
}

// Through a proxy, the CONNECT target is checked before the proxy is used.
func TestProxyChecksTheTarget(t *testing.T) {
	proxyURL, _ := url.Parse("http://10.0.0.3:3128")
	g := &Guard{AllowedHosts: []string{"*.example.com", "203.0.113.7", "169.254.169.254", "64:ff9b::a9fe:a9fe"}, DeniedNetworks: DefaultDeniedNetworks}
	proxy := g.Proxy(http.ProxyURL(proxyURL))
	for target, refusal := range map[string]string{
		"https://idp.example.com/token":      "",
		"https://203.0.113.7/token":          "",
		"https://a.b.example.com/token":      "--allowed-token-hosts",
		"https://169.254.169.254/token":      "denied network 169.254.0.0/16",
		"https://[64:ff9b::a9fe:a9fe]/":      "embeds 169.254.169.254 (NAT64)",
		"https://evil.test:8443/oauth/token": "--allowed-token-hosts",
	} {
		req, _ := http.NewRequest(http.MethodPost, target, nil)
		u, err := proxy(req)
		if refusal == "" {
			if err != nil || u != proxyURL {
				t.Errorf("proxy(%s) = %v, %v; want the proxy", target, u, err)
			}
			continue
		}
		if u != nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), refusal) {
			t.Errorf("proxy(%s) = %v, %v; want a refusal containing %q", target, u, err, refusal)
		}
	}
	// No proxy for the request (NO_PROXY): nothing to check here, DialContext
	// checks the direct connection.
	direct := g.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil })
	req, _ := http.NewRequest(http.MethodPost, "https://evil.test/", nil)
	if u, err := direct(req); u != nil || err != nil {
		t.Errorf("direct: %v, %v", u, err)
	}

	// The proxy's own address is connected to unchecked, though it is in a
	// denied network; the same address is checked when no proxy chose it.
	g2, rec, _ := stubGuard([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, nil)
	if _, err := g2.DialContext(context.Background(), "tcp", "10.0.0.3:3128"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial before the proxy was chosen: %v, want a refusal", err)
	}
	req, _ = http.NewRequest(http.MethodPost, "https://idp.example.com/token", nil)
	if _, err := g2.Proxy(http.ProxyURL(proxyURL))(req); err != nil {
		t.Fatal(err)
	}
	if _, err := g2.DialContext(context.Background(), "tcp", "10.0.0.3:3128"); !errors.Is(err, errStub) {
		t.Fatalf("dial to the proxy: %v, want it to go ahead", err)
	}
	if got := rec.Dialed(); strings.Join(got, ",") != "10.0.0.3:3128" {
		t.Fatalf("dialed %v", got)
	}
}

func TestParseNetworks(t *testing.T) {
	ps, err := ParseNetworks(" 169.254.0.0/16, fd00:ec2::/32,10.1.2.3 ,")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatNetworks(ps); got != "169.254.0.0/16,fd00:ec2::/32,10.1.2.3/32" {
		t.Fatalf("got %s", got)
	}
	if _, err := ParseNetworks("10.0.0.0/33"); err == nil {
		t.Fatal("a bad CIDR was accepted")
	}
	if got := FormatNetworks(Without(DefaultDeniedNetworks, LoopbackNetworks...)); strings.Contains(got, "127.0.0.0/8") || strings.Contains(got, "::1/128") || !strings.Contains(got, "169.254.0.0/16") {
		t.Fatalf("Without loopback: %s", got)
	}
}
