package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// stubResolver answers from a table, one answer per call in turn.
type stubResolver struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr
	calls   int
}

func (s *stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	a := s.answers[host]
	if len(a) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	first := a[0]
	if len(a) > 1 {
		s.answers[host] = a[1:]
	}
	return first, nil
}

var errStub = errors.New("stub dialer: not connecting")

// stubDial records the addresses it is asked to connect to, and never connects.
type stubDial struct {
	mu    sync.Mutex
	addrs []string
}

func (s *stubDial) dial(_ context.Context, _, addr string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs = append(s.addrs, addr)
	return nil, errStub
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestDialRefusesDeniedAddresses(t *testing.T) {
	resolver := &stubResolver{answers: map[string][][]netip.Addr{
		"metadata.test":   {addrs("169.254.169.254")},
		"mixed.test":      {addrs("169.254.169.254", "203.0.113.10")},
		"v6meta.test":     {addrs("fd00:ec2::254")},
		"linklocal6.test": {addrs("fe80::a9fe:a9fe")},
		"mapped.test":     {addrs("::ffff:169.254.169.254")},
		"private.test":    {addrs("10.1.2.3")},
		"idp.example.com": {addrs("203.0.113.7")},
	}}
	tests := []struct {
		name       string
		denied     []netip.Prefix
		addr       string
		wantDialed []string // addresses the dialer is asked for
		wantRefuse string   // substring of the refusal, "" when the dial goes ahead
	}{
		{"metadata IP literal", DefaultDeniedNetworks, "169.254.169.254:443", nil, "169.254.169.254 is in the denied network 169.254.0.0/16"},
		{"host resolving to metadata", DefaultDeniedNetworks, "metadata.test:443", nil, "denied network 169.254.0.0/16"},
		{"only the allowed address of a mixed answer is dialed", DefaultDeniedNetworks, "mixed.test:443", []string{"203.0.113.10:443"}, ""},
		{"AWS IPv6 metadata", DefaultDeniedNetworks, "v6meta.test:443", nil, "fd00:ec2::/32"},
		{"IPv6 link-local", DefaultDeniedNetworks, "linklocal6.test:443", nil, "fe80::/10"},
		{"IPv4-mapped IPv6 metadata", DefaultDeniedNetworks, "mapped.test:443", nil, "169.254.0.0/16"},
		{"IPv6 metadata literal", DefaultDeniedNetworks, "[fd00:ec2::254]:443", nil, "fd00:ec2::/32"},
		{"private range allowed by default", DefaultDeniedNetworks, "private.test:443", []string{"10.1.2.3:443"}, ""},
		{"private range refused when denied", append(DefaultDeniedNetworks, netip.MustParsePrefix("10.0.0.0/8")), "private.test:443", nil, "10.0.0.0/8"},
		{"loopback refused when denied", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "127.0.0.1:8443", nil, "127.0.0.0/8"},
		{"public host dialed at its resolved address", DefaultDeniedNetworks, "idp.example.com:443", []string{"203.0.113.7:443"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &stubDial{}
			g := &Guard{DeniedNetworks: tt.denied, Resolver: resolver, Dial: d.dial}
			_, err := g.DialContext(context.Background(), "tcp", tt.addr)
			if tt.wantRefuse != "" {
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantRefuse) {
					t.Fatalf("error %v, want a refusal containing %q", err, tt.wantRefuse)
				}
			} else if !errors.Is(err, errStub) {
				t.Fatalf("error %v, want the dial to go ahead", err)
			}
			if strings.Join(d.addrs, ",") != strings.Join(tt.wantDialed, ",") {
				t.Fatalf("dialed %v, want %v", d.addrs, tt.wantDialed)
			}
		})
	}
}

// DNS rebinding: a name that first resolves to a public address and then to the
// metadata address is checked on each connection, and the connection always
// goes to the address that was checked.
func TestDNSRebinding(t *testing.T) {
	resolver := &stubResolver{answers: map[string][][]netip.Addr{
		"rebind.test": {addrs("203.0.113.50"), addrs("169.254.169.254")},
	}}
	d := &stubDial{}
	g := &Guard{DeniedNetworks: DefaultDeniedNetworks, Resolver: resolver, Dial: d.dial}
	if _, err := g.DialContext(context.Background(), "tcp", "rebind.test:443"); !errors.Is(err, errStub) {
		t.Fatalf("first dial: %v", err)
	}
	if _, err := g.DialContext(context.Background(), "tcp", "rebind.test:443"); !errors.Is(err, ErrRefused) {
		t.Fatalf("second dial after rebinding: %v, want a refusal", err)
	}
	if strings.Join(d.addrs, ",") != "203.0.113.50:443" {
		t.Fatalf("dialed %v, want only the checked public address", d.addrs)
	}
	if resolver.calls != 2 {
		t.Fatalf("resolver called %d times, want once per connection", resolver.calls)
	}
}

func TestAllowedHosts(t *testing.T) {
	g, err := New([]string{"*.example.com", "accounts.world.luccasoftware.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for host, ok := range map[string]bool{
		"idp.example.com":                  true,
		"IDP.Example.COM":                  true,
		"idp.example.com.":                 true,
		"accounts.world.luccasoftware.com": true,
		"example.com":                      false,
		"evil.com":                         false,
		"idp.example.com.evil.com":         false,
		// path.Match's * matches any run of characters but '/', dots included.
		"a.b.example.com": true,
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
	resolver := &stubResolver{answers: map[string][][]netip.Addr{"evil.com": {addrs("203.0.113.9")}}}
	d := &stubDial{}
	g.Resolver, g.Dial = resolver, d.dial
	if _, err := g.DialContext(context.Background(), "tcp", "evil.com:443"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial evil.com: %v", err)
	}
	if resolver.calls != 0 || len(d.addrs) != 0 {
		t.Fatalf("refused host was resolved %d times and dialed %v", resolver.calls, d.addrs)
	}
	if _, err := New([]string{"[bad"}, nil); err == nil {
		t.Fatal("a malformed glob was accepted")
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
}
