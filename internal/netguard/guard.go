// Package netguard keeps token requests away from hosts and networks the
// cluster admin has not allowed: a namespace tenant writes the tokenURL, but the
// operator holds the network reach, so a tokenURL must not be a way into the
// cloud metadata service or any other address the admin denies.
//
// The check is made at dial time on the addresses actually connected to: a host
// name is resolved once, every address is checked, and the connection goes to a
// checked address, so a second DNS answer (DNS rebinding) cannot slip past it.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
)

// DefaultDeniedNetworks are refused unless the admin says otherwise:
// IPv4 and IPv6 link-local (which hold the cloud metadata services at
// 169.254.169.254 and fe80::a9fe:a9fe) and AWS's IPv6 metadata range.
var DefaultDeniedNetworks = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::/32"),
}

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("refused by the operator's network policy")

// Resolver resolves host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc connects to an address.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Guard checks token hosts and the addresses they resolve to.
type Guard struct {
	// AllowedHosts are host name globs (path.Match syntax, case-insensitive,
	// such as "*.example.com"); empty allows every host.
	AllowedHosts []string
	// DeniedNetworks are never connected to.
	DeniedNetworks []netip.Prefix
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Dial connects; nil means a net.Dialer.
	Dial DialFunc
}

// New returns a Guard with the given allowed host globs and denied networks.
// It fails on a malformed glob.
func New(allowedHosts []string, denied []netip.Prefix) (*Guard, error) {
	for _, g := range allowedHosts {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("allowed token host %q is not a valid glob: %w", g, err)
		}
	}
	return &Guard{AllowedHosts: allowedHosts, DeniedNetworks: denied}, nil
}

// CheckHost refuses a host name (without port) that no allowed glob matches.
func (g *Guard) CheckHost(host string) error {
	if len(g.AllowedHosts) == 0 {
		return nil
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, glob := range g.AllowedHosts {
		if ok, _ := path.Match(strings.ToLower(glob), h); ok {
			return nil
		}
	}
	return fmt.Errorf("host %q is not in the operator's --allowed-token-hosts (%s): %w",
		host, strings.Join(g.AllowedHosts, ","), ErrRefused)
}

// CheckAddr refuses an address in a denied network.
func (g *Guard) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, p := range g.DeniedNetworks {
		if p.Contains(addr) {
			return fmt.Errorf("address %s is in the denied network %s (see the operator's --denied-token-networks): %w", addr, p, ErrRefused)
		}
	}
	return nil
}

// DialContext resolves addr's host, refuses it when the host or every address
// it resolves to is refused, and otherwise connects to the first allowed address.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		if err := g.CheckHost(host); err != nil {
			return nil, err
		}
		resolver := g.Resolver
		if resolver == nil {
			resolver = net.DefaultResolver
		}
		ipNetwork := "ip"
		switch network {
		case "tcp4":
			ipNetwork = "ip4"
		case "tcp6":
			ipNetwork = "ip6"
		}
		addrs, err = resolver.LookupNetIP(ctx, ipNetwork, host)
		if err != nil {
			return nil, err
		}
	}
	dial := g.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var errs []error
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("host %q resolved to no address", host)
	}
	return nil, errors.Join(errs...)
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
