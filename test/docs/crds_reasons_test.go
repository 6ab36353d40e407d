package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// crd is what the docs name of a CRD: its kind, name and served version.
type crd struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// generatedCRDs reads the CRDs controller-gen writes into config/crd/bases.
func generatedCRDs(t *testing.T) []crd {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crds []crd
	for _, f := range files {
		var c struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(readRepo(t, f), &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range c.Spec.Versions {
			if v.Served {
				crds = append(crds, crd{Kind: c.Spec.Names.Kind, Name: c.Metadata.Name, Version: v.Name})
			}
		}
	}
	if len(crds) < 2 {
		t.Fatalf("config/crd/bases holds %v", crds)
	}
	return crds
}

// readRepo reads a file, given relative to the repository root or as a path
// that already starts with it.
func readRepo(t *testing.T, path string) []byte {
	t.Helper()
	if !strings.HasPrefix(path, repoRoot) {
		path = filepath.Join(repoRoot, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crdCommand is a kubectl command on CRDs by name: get, delete, label, ...
var crdCommand = regexp.MustCompile(`kubectl\s+\w+\s+(?:crds?|customresourcedefinitions?)\s+([^|;&#\n]*)`)

// The pages that tell what the chart installs, upgrades and leaves behind
// name every CRD of config/crd/bases (kind, and name where they give
// names), the chart's Artifact Hub annotation lists each, and every kubectl
// command on CRDs by name, in README.md, docs/ and the chart's README, names
// all of them: an uninstall that deletes one CRD leaves the other behind.
func TestDocsNameEveryCRD(t *testing.T) {
	t.Parallel()
	crds := generatedCRDs(t)
	for page, withNames := range map[string]bool{
		"docs/installation.md":                 true,
		"charts/tokenator/README.md":           true,
		"charts/tokenator/values.yaml":         false,
		"charts/tokenator/templates/NOTES.txt": false,
		"docs/getting-started.md":              false,
	} {
		text := string(readRepo(t, page))
		for _, c := range crds {
			if !regexp.MustCompile(`\b` + c.Kind + `\b`).MatchString(text) {
				t.Errorf("%s does not name the CRD kind %s", page, c.Kind)
			}
			if withNames && !strings.Contains(text, c.Name) {
				t.Errorf("%s does not name the CRD %s", page, c.Name)
			}
		}
	}

	var chart struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.Unmarshal(readRepo(t, "charts/tokenator/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	var listed []crd
	if err := yaml.Unmarshal([]byte(chart.Annotations["artifacthub.io/crds"]), &listed); err != nil {
		t.Fatalf("Chart.yaml artifacthub.io/crds: %v", err)
	}
	if !sameElements(listed, crds) {
		t.Errorf("Chart.yaml artifacthub.io/crds lists %v, config/crd/bases has %v", listed, crds)
	}

	names := make([]string, len(crds))
	for i, c := range crds {
		names[i] = c.Name
	}
	pages := append(docPages(t), filepath.Join(repoRoot, "charts", "tokenator", "README.md"))
	commands := 0
	for _, page := range pages {
		rel, _ := filepath.Rel(repoRoot, page)
		for _, block := range testutil.FencedBlocks(t, string(readRepo(t, page)), "sh") {
			for _, m := range crdCommand.FindAllStringSubmatch(strings.ReplaceAll(block, "\\\n", " "), -1) {
				commands++
				var named []string
				for _, f := range strings.Fields(m[1]) {
					if strings.HasSuffix(f, "."+tokenatorv1.GroupVersion.Group) {
						named = append(named, f)
					}
				}
				if !sameElements(named, names) {
					t.Errorf("%s: `%s` names %v, not every CRD %v", rel, strings.TrimSpace(m[0]), named, names)
				}
			}
		}
	}
	if commands < 3 {
		t.Errorf("found %d kubectl commands on CRDs in the docs: the pattern no longer matches how they are written", commands)
	}
}

// notOAuthClientReasons are the Reason constants of api/v1alpha1 that are not
// reasons of an OAuthClient's Ready condition, with what they are.
var notOAuthClientReasons = map[string]string{
	tokenatorv1.ReasonProviderReady:     "the Ready reason of a ClusterOAuthProvider",
	tokenatorv1.ReasonTokenExpiringSoon: "the reason of a Warning Event",
}

// oauthClientReasons returns the values of the Reason constants of
// api/v1alpha1, but notOAuthClientReasons.
func oauthClientReasons(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "api", "v1alpha1", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	var reasons []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range spec.Names {
				if !strings.HasPrefix(name.Name, "Reason") || i >= len(spec.Values) {
					continue
				}
				lit, ok := spec.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				found[v] = true
				if _, not := notOAuthClientReasons[v]; !not {
					reasons = append(reasons, v)
				}
			}
			return true
		})
	}
	for v, what := range notOAuthClientReasons {
		if !found[v] {
			t.Errorf("notOAuthClientReasons lists %s (%s), which api/v1alpha1 no longer has", v, what)
		}
	}
	if len(reasons) < 6 {
		t.Fatalf("found only the Ready reasons %v in api/v1alpha1", reasons)
	}
	slices.Sort(reasons)
	return reasons
}

// The Ready reason tables of README.md and docs/troubleshooting.md list every
// reason of an OAuthClient's Ready condition that api/v1alpha1 has, and no
// other; the README's says Ready is True for TokenIssued only; and
// docs/getting-started.md lists the reasons of Ready=False.
func TestDocsListEveryReadyReason(t *testing.T) {
	t.Parallel()
	reasons := oauthClientReasons(t)
	var notReady []string
	for _, r := range reasons {
		if r != tokenatorv1.ReasonTokenIssued {
			notReady = append(notReady, r)
		}
	}
	for page, header := range map[string]string{
		"README.md":               "| reason | Ready | when |",
		"docs/troubleshooting.md": "| reason | the operator | you |",
	} {
		rows := tableRows(t, page, header)
		var listed []string
		for _, row := range rows {
			listed = append(listed, strings.Trim(row[0], "`"))
			if page == "README.md" {
				want := "False"
				if strings.Trim(row[0], "`") == tokenatorv1.ReasonTokenIssued {
					want = "True"
				}
				if row[1] != want {
					t.Errorf("%s: reason %s has Ready %s, want %s", page, row[0], row[1], want)
				}
			}
		}
		if !sameElements(listed, reasons) {
			t.Errorf("%s: the table %q lists %v; api/v1alpha1 has the Ready reasons %v", page, header, listed, reasons)
		}
	}

	doc := string(readRepo(t, "docs/getting-started.md"))
	_, after, ok := strings.Cut(doc, "message say why (")
	list, _, closed := strings.Cut(after, ")")
	if !ok || !closed {
		t.Fatal("docs/getting-started.md no longer lists the reasons of Ready=False after \"message say why (\"")
	}
	var listed []string
	for _, f := range strings.Split(list, ",") {
		listed = append(listed, strings.Trim(strings.TrimSpace(f), "`"))
	}
	if !sameElements(listed, notReady) {
		t.Errorf("docs/getting-started.md lists the reasons of Ready=False %v; api/v1alpha1 has %v", listed, notReady)
	}
}

// tableRows returns the cells of the rows of the Markdown table of a page
// whose header line is header.
func tableRows(t *testing.T, page, header string) [][]string {
	t.Helper()
	_, table, ok := strings.Cut(string(readRepo(t, page)), "\n"+header+"\n")
	if !ok {
		t.Fatalf("%s has no table %q", page, header)
	}
	var rows [][]string
	for i, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		if i == 0 {
			continue // |---|---|
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

// sameElements reports whether a and b hold the same elements, in any order.
func sameElements[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[T]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}
