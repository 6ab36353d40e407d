// Package netguard keeps token requests away from hosts and networks the
// cluster admin has not allowed: a namespace tenant writes the tokenURL, but the
// operator holds the network reach, so a tokenURL must not be a way into the
// cloud metadata service, the operator's own loopback or any other address the
// admin denies.
//
// An OAuthClient's own tokenURL is the tenant's to write, and with its own CA
// bundle and extra headers it would reach the TLS services of other namespaces
// from the operator's network position: a guard of those endpoints refuses the
// private networks too (Private, usually PrivateNetworks). A
// ClusterOAuthProvider's endpoint, which the platform team chose, goes through
// a guard without them.
//
// Three checks make the guard:
//   - the host name of the token URL is checked against the allowed host
//     patterns before anything is resolved or dialed (CheckHost);
//   - on a direct connection, the dialer's Control function checks the address
//     actually being connected to, after name resolution (Control), so a second
//     DNS answer (DNS rebinding) cannot slip past it, and the dialer keeps its
//     timeout, keep-alive and Happy Eyeballs;
//   - through a proxy (HTTPS_PROXY), the connection goes to the proxy, which the
//     admin configured and which is not checked; the CONNECT target is checked
//     instead (Proxy): its host against the allowed host patterns and, when it is
//     an IP literal, its address against the denied networks. A host name target
//     is resolved by the proxy, so what it resolves to is the proxy's (or an
//     egress policy's) to enforce.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// The networks DefaultDeniedNetworks is made of.
var (
	// LoopbackNetworks hold the operator's own pod: its metrics and health
	// endpoints, and any sidecar.
	LoopbackNetworks = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	}
	// UnspecifiedNetworks: connecting to 0.0.0.0 or :: reaches the local host.
	UnspecifiedNetworks = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("::/128"),
	}
	// LinkLocalNetworks hold the node-local services of most clouds, the
	// metadata service at 169.254.169.254 and fe80::a9fe:a9fe among them.
	LinkLocalNetworks = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("fe80::/10"),
	}
	// MetadataNetworks are the cloud metadata and platform services outside
	// the link-local ranges.
	MetadataNetworks = []netip.Prefix{
		netip.MustParsePrefix("fd00:ec2::/32"),      // AWS: IPv6 instance metadata (fd00:ec2::254) and its other services
		netip.MustParsePrefix("fd20:ce::254/128"),   // Google Cloud: IPv6 metadata server
		netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud: metadata service
		netip.MustParsePrefix("168.63.129.16/32"),   // Azure: WireServer and host agent
		netip.MustParsePrefix("192.0.0.192/32"),     // Oracle Cloud: legacy metadata service
	}
)

// PrivateNetworks are the private and shared address spaces an OAuthClient's
// own tokenURL may not reach unless the admin allows it
// (--allow-private-token-networks): RFC 1918, the carrier-grade NAT space
// (RFC 6598, which some clusters use for pods or services) and IPv6 unique
// local addresses (RFC 4193). A ClusterOAuthProvider's endpoint may.
var PrivateNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// DefaultDeniedNetworks are refused unless the admin says otherwise: loopback,
// unspecified, link-local and the cloud metadata addresses. An address that
// embeds an IPv4 address of a denied network (NAT64, 6to4, Teredo) is refused
// as well: see CheckAddr.
var DefaultDeniedNetworks = slices.Clip(slices.Concat(LoopbackNetworks, UnspecifiedNetworks, LinkLocalNetworks, MetadataNetworks))

// Without returns networks without the prefixes of remove, in a new slice: for
// example DefaultDeniedNetworks without LoopbackNetworks, for a token endpoint
// that listens on loopback (the demo and the tests).
func Without(networks []netip.Prefix, remove ...netip.Prefix) []netip.Prefix {
	return slices.DeleteFunc(slices.Clone(networks), func(p netip.Prefix) bool { return slices.Contains(remove, p) })
}

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("refused by the operator's network policy")

// Guard checks token hosts and the addresses connected to.
type Guard struct {
	// AllowedHosts are host patterns (see ValidateHostPattern); empty allows
	// every host. New validates them.
	AllowedHosts []string
	// DeniedNetworks are never connected to.
	DeniedNetworks []netip.Prefix
	// Private are never connected to either, with a refusal that says the
	// endpoint is an OAuthClient's own and names the ways to an in-cluster
	// token endpoint: PrivateNetworks for the guard of the endpoints
	// OAuthClients name themselves, nil for ClusterOAuthProviders' and when
	// the admin allows private networks. DeniedNetworks are checked first.
	Private []netip.Prefix
	// Dialer is the base of the dialers DialContext uses (timeouts, keep-alive,
	// resolver); nil means a zero net.Dialer. Its Control, if any, runs after
	// the guard's check, on the addresses the guard let through.
	Dialer *net.Dialer

	// proxies are the addresses (host:port) of the proxies Proxy returned:
	// DialContext connects to them without checking them.
	proxies sync.Map
}

// New returns a Guard with the given allowed host patterns and denied
// networks. It fails on a malformed pattern.
func New(allowedHosts []string, denied []netip.Prefix) (*Guard, error) {
	for _, p := range allowedHosts {
		if err := ValidateHostPattern(p); err != nil {
			return nil, err
		}
	}
	return &Guard{AllowedHosts: allowedHosts, DeniedNetworks: denied}, nil
}

// ValidateHostPattern tells whether p is a valid --allowed-token-hosts pattern:
// a host name (idp.example.com), an IP address (203.0.113.7, 2001:db8::1), or
// "*." followed by a host name (*.example.com), where "*" stands for exactly one
// DNS label, as in a TLS wildcard certificate: *.example.com matches
// a.example.com, not a.b.example.com nor example.com. "*" is valid only as that
// whole leftmost label. Patterns are case-insensitive; a trailing dot is ignored.
func ValidateHostPattern(p string) error {
	name := strings.TrimSuffix(strings.ToLower(p), ".")
	if _, err := netip.ParseAddr(name); err == nil {
		return nil
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name = rest
	}
	if err := checkHostName(name); err != nil {
		return fmt.Errorf("allowed token host %q is not a valid pattern: %s; use a host name (idp.example.com), an IP address, or *. and a host name (*.example.com: one label of any name)", p, err)
	}
	return nil
}

// checkHostName refuses what is not a DNS host name: empty labels, labels over
// 63 characters, characters other than letters, digits, '-' and '_'.
func checkHostName(name string) error {
	if name == "" {
		return errors.New("it is empty")
	}
	if len(name) > 253 {
		return errors.New("it is longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return errors.New("it has an empty label")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				if c == '*' {
					return errors.New(`"*" may only be the whole leftmost label`)
				}
				return fmt.Errorf("%q is not allowed in a host name", c)
			}
		}
	}
	return nil
}

// matchHost tells whether host (lower case, no trailing dot) matches pattern.
func matchHost(pattern, host string) bool {
	pattern = strings.TrimSuffix(strings.ToLower(pattern), ".")
	if a, err := netip.ParseAddr(pattern); err == nil {
		b, err := netip.ParseAddr(host)
		return err == nil && a.Unmap() == b.Unmap()
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		first, parent, ok := strings.Cut(host, ".")
		return ok && first != "" && parent == rest
	}
	return pattern == host
}

// CheckHost refuses a host (name or IP literal, without port) that no allowed
// pattern matches.
func (g *Guard) CheckHost(host string) error {
	if len(g.AllowedHosts) == 0 {
		return nil
	}
	if g.Pattern(host) != "" {
		return nil
	}
	return fmt.Errorf("host %q is not in the operator's --allowed-token-hosts (%s): %w",
		host, strings.Join(g.AllowedHosts, ","), ErrRefused)
}

// Networks that embed an IPv4 address in an IPv6 one.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")      // RFC 4380
)

// embeddedIPv4 returns the IPv4 address a connection to the IPv6 address a
// may reach, with the name of the embedding: the last 32 bits of a NAT64
// address (the RFC 6052 layout of a /96 NAT64 prefix, the one in use with the
// well-known prefix and the usual one with the local-use prefix), the 6to4
// gateway, or the Teredo client (its bits inverted).
func embeddedIPv4(a netip.Addr) (v4 netip.Addr, how string, ok bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a), nat64LocalUse.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64", true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4", true
	case teredo.Contains(a):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), "Teredo", true
	}
	return netip.Addr{}, "", false
}

// CheckAddr refuses an address in a denied or private network, an
// IPv4-mapped IPv6 address whose IPv4 address is in one, and an IPv6 address
// that embeds such an IPv4 address for NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
// 6to4 (2002::/16) or Teredo (2001::/32): 64:ff9b::a9fe:a9fe is refused when
// 169.254.0.0/16 is denied.
func (g *Guard) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	v4, how, embeds := embeddedIPv4(addr)
	if p, ok := in(g.DeniedNetworks, addr); ok {
		return fmt.Errorf("address %s is in the denied network %s (see the operator's --denied-token-networks): %w", addr, p, ErrRefused)
	}
	if p, ok := in(g.DeniedNetworks, v4); embeds && ok {
		return fmt.Errorf("address %s embeds %s (%s), which is in the denied network %s (see the operator's --denied-token-networks): %w", addr, v4, how, p, ErrRefused)
	}
	if p, ok := in(g.Private, addr); ok {
		return privateRefusal(addr.String(), p)
	}
	if p, ok := in(g.Private, v4); embeds && ok {
		return privateRefusal(fmt.Sprintf("%s embeds %s (%s), which", addr, v4, how), p)
	}
	return nil
}

// privateRefusal refuses what (an address, or what embeds one) in the private
// network p, and names the two ways to an in-cluster token endpoint.
func privateRefusal(what string, p netip.Prefix) error {
	return fmt.Errorf("token endpoint address %s is in a private network (%s): an OAuthClient's own tokenURL may not reach private networks; use a ClusterOAuthProvider for an in-cluster IdP, or start the manager with --allow-private-token-networks: %w", what, p, ErrRefused)
}

// in returns the first of networks that holds addr.
func in(networks []netip.Prefix, addr netip.Addr) (netip.Prefix, bool) {
	for _, p := range networks {
		if p.Contains(addr) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Control is a net.Dialer Control function: it refuses to connect to a denied
// address. address is the IP address and port being connected to, after name
// resolution.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connecting to %q: not an IP address and port: %w", address, ErrRefused)
	}
	return g.CheckAddr(ap.Addr())
}

// DialContext connects to addr: to a proxy that Proxy chose as is, and to any
// other address only when its host passes CheckHost and, once resolved, the
// address connected to passes CheckAddr (checked by Control). It uses a copy
// of Dialer, so its timeouts, keep-alive and Happy Eyeballs apply.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	base := g.Dialer
	if base == nil {
		base = &net.Dialer{}
	}
	if _, ok := g.proxies.Load(addr); ok {
		return base.DialContext(ctx, network, addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := g.CheckHost(host); err != nil {
		return nil, err
	}
	d := *base
	if next := base.ControlContext; next != nil {
		d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			if err := g.Control(network, address, c); err != nil {
				return err
			}
			return next(ctx, network, address, c)
		}
	} else {
		next := base.Control
		d.Control = func(network, address string, c syscall.RawConn) error {
			if err := g.Control(network, address, c); err != nil {
				return err
			}
			if next != nil {
				return next(network, address, c)
			}
			return nil
		}
	}
	return d.DialContext(ctx, network, addr)
}

// Proxy wraps a Transport's Proxy function (such as http.ProxyFromEnvironment):
// when next sends a request through a proxy, the request's host is checked
// first, against the allowed host patterns and, for an IP literal, against the
// denied networks, and a refused request never reaches the proxy. The proxy
// itself is the admin's choice, and DialContext connects to it unchecked, even
// on loopback or in a denied network.
func (g *Guard) Proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		u, err := next(req)
		if err != nil || u == nil {
			return u, err
		}
		host := req.URL.Hostname()
		if err := g.CheckHost(host); err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			if err := g.CheckAddr(ip); err != nil {
				return nil, err
			}
		}
		g.proxies.Store(proxyAddr(u), struct{}{})
		return u, nil
	}
}

// proxyAddr is the address http.Transport dials for the proxy u.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// ParseNetworks parses comma-separated CIDRs or addresses.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// FormatNetworks is the inverse of ParseNetworks.
func FormatNetworks(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
