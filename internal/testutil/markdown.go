package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Block is a fenced code block of a Markdown page.
type Block struct {
	Lang string // the fence's info string: ```yaml gives "yaml"
	Text string // the contents, the fence's indentation removed
	Line int    // the line of the opening fence, from 1
	// Marker is the HTML comment on the last non-empty line before the
	// fence, without <!-- and -->, such as "not applied: a values file".
	Marker string
}

// MarkdownBlocks returns the fenced code blocks of a Markdown page, fences
// indented in lists included.
func MarkdownBlocks(md string) ([]Block, error) {
	var blocks []Block
	var cur []string
	var b Block
	in := false
	indent, lastText := "", ""
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in, cur = true, nil
			b = Block{Lang: strings.TrimPrefix(trimmed, "```"), Line: i + 1}
			if c, ok := strings.CutPrefix(lastText, "<!--"); ok {
				if c, ok = strings.CutSuffix(c, "-->"); ok {
					b.Marker = strings.TrimSpace(c)
				}
			}
			indent = line[:len(line)-len(strings.TrimLeft(line, " "))]
		case in && trimmed == "```":
			in = false
			b.Text = strings.Join(cur, "\n")
			blocks = append(blocks, b)
			lastText = ""
		case in:
			cur = append(cur, strings.TrimPrefix(line, indent))
		case trimmed != "":
			lastText = trimmed
		}
	}
	if in {
		return nil, fmt.Errorf("the ``` block of line %d is not closed", b.Line)
	}
	return blocks, nil
}

// FencedBlocks returns the contents of the ```lang blocks of a Markdown page.
func FencedBlocks(t testing.TB, md, lang string) []string {
	t.Helper()
	all, err := MarkdownBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, b := range all {
		if b.Lang == lang {
			blocks = append(blocks, b.Text)
		}
	}
	return blocks
}

// YAMLDocuments splits a YAML stream at its --- lines, dropping empty documents.
func YAMLDocuments(stream string) []string {
	var docs []string
	var cur []string
	flush := func() {
		if doc := strings.Join(cur, "\n"); strings.TrimSpace(doc) != "" {
			docs = append(docs, doc)
		}
		cur = nil
	}
	for _, line := range strings.Split(stream, "\n") {
		if strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// KustomizeBuild renders the kustomization in dir (relative to the repository
// root root) with the kustomize binary that `make test` installs into bin/ and
// names in $KUSTOMIZE.
func KustomizeBuild(t testing.TB, root, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		t.Fatal("KUSTOMIZE is not set: run the tests with `make test`, which installs kustomize into bin/")
	}
	out, err := exec.Command(bin, "build", filepath.Join(root, dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, out)
	}
	objs, err := DecodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
