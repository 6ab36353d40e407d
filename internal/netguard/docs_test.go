package netguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's flag table, docs/security.md and the chart's values.yaml name
// the default denied networks as the code has them.
func TestDocsNameTheDefaultDeniedNetworks(t *testing.T) {
	read := func(name string) string { t.Helper(); return readRepoFile(t, name) }
	list := FormatNetworks(DefaultDeniedNetworks)
	readme := read("README.md")
	if !strings.Contains(readme, "| `--denied-token-networks` | `"+list+"` |") {
		t.Errorf("README.md's flag table does not give the default %s", list)
	}
	security := read(filepath.Join("docs", "security.md"))
	if !strings.Contains(security, "The list is `"+list+"`") {
		t.Errorf("docs/security.md does not give the default list %s", list)
	}
	values := read(filepath.Join("charts", "tokenator", "values.yaml"))
	for _, p := range DefaultDeniedNetworks {
		if !strings.Contains(security, "`"+p.String()+"`") {
			t.Errorf("docs/security.md's table does not explain %s", p)
		}
		if !strings.Contains(values, " "+p.String()) {
			t.Errorf("charts/tokenator/values.yaml does not name the default %s", p)
		}
	}
}

// The README's flag table, docs/security.md, docs/multi-tenancy.md and the
// chart's values.yaml name the private networks as the code has them, and the
// flag that opens them.
func TestDocsNameThePrivateNetworks(t *testing.T) {
	read := func(name string) string { t.Helper(); return readRepoFile(t, name) }
	readme := read("README.md")
	if !strings.Contains(readme, "| `--allow-private-token-networks` | `false` | let the `tokenURL` an OAuthClient names itself reach the private networks `"+FormatNetworks(PrivateNetworks)+"`") {
		t.Errorf("README.md's flag table does not give --allow-private-token-networks with the networks %s", FormatNetworks(PrivateNetworks))
	}
	security := read(filepath.Join("docs", "security.md"))
	tenancy := read(filepath.Join("docs", "multi-tenancy.md"))
	values := read(filepath.Join("charts", "tokenator", "values.yaml"))
	for _, p := range PrivateNetworks {
		for name, page := range map[string]string{"docs/security.md": security, "docs/multi-tenancy.md": tenancy} {
			if !strings.Contains(page, "`"+p.String()+"`") {
				t.Errorf("%s does not name the private network %s", name, p)
			}
		}
		if !strings.Contains(values, " "+p.String()) {
			t.Errorf("charts/tokenator/values.yaml does not name the private network %s", p)
		}
	}
	for name, page := range map[string]string{"docs/security.md": security, "docs/multi-tenancy.md": tenancy, "charts/tokenator/values.yaml": values} {
		if !strings.Contains(page, "allowPrivateTokenNetworks") {
			t.Errorf("%s does not name the chart value allowPrivateTokenNetworks", name)
		}
	}
}

// readRepoFile reads a file of the repository, name relative to its root.
func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
