package netguard

// Pattern returns the first allowed host glob that host matches, or "" when
// none does or no glob is configured. The metrics use it as the host label, so
// that the label's values are the admin's patterns, never a tenant's host.
func (g *Guard) Pattern(host string) string {
	for _, glob := range g.AllowedHosts {
		one := Guard{AllowedHosts: []string{glob}}
		if one.CheckHost(host) == nil {
			return glob
		}
	}
	return ""
}
