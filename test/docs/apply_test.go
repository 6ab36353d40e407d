package docs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// notApplied is the start of the HTML comment that marks a ```yaml block as
// not meant to be applied, followed by the reason: a values file, a part of a
// container, a kustomization, a status to expect.
const notApplied = "not applied:"

// docPages are the pages whose ```yaml blocks are applied.
func docPages(t *testing.T) []string {
	t.Helper()
	pages := []string{filepath.Join(repoRoot, "README.md")}
	for _, glob := range []string{"docs/*.md", "docs/providers/*.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, glob))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, m...)
	}
	return pages
}

// Every ```yaml block of README.md and docs/ is applied to the API server as
// written (server-side dry run, in namespaces created for it), unless an
// HTML comment <!-- not applied: reason --> right before it says why not.
// A block of whole objects is applied as is; a block holding only spec: is an
// OAuthClient's spec and is applied as one. The test logs every block it
// applied and every block it left out.
func TestDocYAMLBlocksApply(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	snippets := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "doc-snippets-"}}
	if err := k8s.Create(ctx, snippets); err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, page := range docPages(t) {
		rel, _ := filepath.Rel(repoRoot, page)
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := testutil.MarkdownBlocks(string(raw))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, b := range blocks {
			if b.Lang != "yaml" {
				continue
			}
			where := fmt.Sprintf("%s:%d", rel, b.Line)
			if reason, ok := strings.CutPrefix(b.Marker, notApplied); ok {
				if strings.TrimSpace(reason) == "" {
					t.Errorf("%s: <!-- %s --> gives no reason", where, notApplied)
				}
				t.Logf("%s: not applied:%s", where, reason)
				continue
			}
			for i, doc := range testutil.YAMLDocuments(b.Text) {
				u := docObject(t, where, doc, snippets.Name, i)
				if u == nil {
					continue
				}
				if ns := u.GetNamespace(); ns != "" {
					err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
					if client.IgnoreAlreadyExists(err) != nil {
						t.Fatal(err)
					}
				}
				err := k8s.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))
				if err != nil {
					t.Errorf("%s: %s %s does not apply: %v", where, u.GetKind(), u.GetName(), err)
					continue
				}
				applied++
				t.Logf("%s: applied %s %s/%s (dry run)", where, u.GetKind(), u.GetNamespace(), u.GetName())
			}
		}
	}
	// README's reference, the four provider pages' examples and snippets,
	// getting-started's OAuthClient and workloads.
	if applied < 20 {
		t.Errorf("only %d objects applied from the docs", applied)
	}
}

// docObject is the object a YAML document of the docs stands for: the
// document itself when it has apiVersion and kind, an OAuthClient in
// namespace ns when it holds only spec:. It fails t for anything else.
func docObject(t *testing.T, where, doc, ns string, i int) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Errorf("%s: the YAML does not parse: %v", where, err)
		return nil
	}
	u := &unstructured.Unstructured{Object: m}
	switch keys := mapKeys(m); {
	case m["apiVersion"] != nil && m["kind"] != nil:
		return u
	case slices.Equal(keys, []string{"spec"}):
		u.SetAPIVersion(tokenatorv1.GroupVersion.String())
		u.SetKind("OAuthClient")
		u.SetNamespace(ns)
		u.SetName(fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", ".", "-", ":", "-", "_", "-").Replace(strings.ToLower(where)), i))
		return u
	default:
		t.Errorf("%s: a ```yaml document that is neither an object (apiVersion, kind) nor an OAuthClient's spec: (top-level keys %q); "+
			"mark the block with <!-- %s reason --> if it is not meant to be applied", where, keys, notApplied)
		return nil
	}
}

func mapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
