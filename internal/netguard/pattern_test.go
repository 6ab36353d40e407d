package netguard

import "testing"

func TestPattern(t *testing.T) {
	g := &Guard{AllowedHosts: []string{"accounts.world.luccasoftware.com", "*.Example.com", "10.1.2.3"}}
	for host, want := range map[string]string{
		"accounts.world.luccasoftware.com": "accounts.world.luccasoftware.com",
		"idp.example.com":                  "*.Example.com",
		"IDP.EXAMPLE.COM.":                 "*.Example.com",
		"a.b.example.com":                  "",
		"10.1.2.3":                         "10.1.2.3",
		"evil.test":                        "",
	} {
		if got := g.Pattern(host); got != want {
			t.Errorf("Pattern(%q) = %q, want %q", host, got, want)
		}
	}
	if got := (&Guard{}).Pattern("idp.example.com"); got != "" {
		t.Errorf("no patterns: got %q", got)
	}
}
