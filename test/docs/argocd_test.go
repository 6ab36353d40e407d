package docs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/operations.md shows the Argo CD health check of config/argocd as it is
// (controllers runs the script on every status the operator writes).
func TestOperationsShowsArgoCDHealthCheck(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile(filepath.Join(repoRoot, "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), string(script)) {
		t.Fatal("docs/operations.md does not show config/argocd/health.lua as it is")
	}
}
