package netguard

import "strings"

// Pattern returns the first allowed host pattern that host (a name or IP
// literal, without port) matches, or "" when none does or no pattern is
// configured. CheckHost allows what it matches; the metrics use it as the host
// label, so that the label's values are the admin's patterns, never a tenant's
// host.
func (g *Guard) Pattern(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range g.AllowedHosts {
		if matchHost(p, h) {
			return p
		}
	}
	return ""
}
