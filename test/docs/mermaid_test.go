package docs_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// Every Mermaid diagram of the README, the docs and the chart's README is of
// a form the docs use and passes its syntax check, and the pages where
// people would rather look than read have theirs: the token flow (README),
// the refresh timeline (lifecycle), shared tokens (multi-tenancy) and the
// packages (architecture).
func TestMermaidDiagrams(t *testing.T) {
	pages := []string{filepath.Join(repoRoot, "README.md"), filepath.Join(repoRoot, "charts", "tokenator", "README.md")}
	err := filepath.WalkDir(filepath.Join(repoRoot, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	diagrams := map[string]int{}
	for _, page := range pages {
		md, err := os.ReadFile(page)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := testutil.MarkdownBlocks(string(md))
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		rel, _ := filepath.Rel(repoRoot, page)
		for _, b := range blocks {
			if b.Lang != "mermaid" {
				continue
			}
			diagrams[rel]++
			if err := testutil.CheckMermaid(b.Text); err != nil {
				t.Errorf("%s: the diagram of line %d: %v", rel, b.Line, err)
			}
		}
	}
	for _, page := range []string{"README.md", "docs/lifecycle.md", "docs/multi-tenancy.md", "docs/architecture.md"} {
		if diagrams[filepath.FromSlash(page)] == 0 {
			t.Errorf("%s has no Mermaid diagram", page)
		}
	}
}
