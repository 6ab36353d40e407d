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
	root := filepath.Join("..", "..")
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
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
