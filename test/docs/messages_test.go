package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// verb matches a fmt verb of a message format, where the variable parts go.
var verb = regexp.MustCompile(`%[-+# 0-9.*]*[a-zA-Z%]`)

// fragments splits a message format at its verbs and returns the parts a
// reader would search the docs for: the text between the verbs, without the
// separators around it, and only when it says something (8 bytes or more).
func fragments(format string) []string {
	var out []string
	for _, part := range verb.Split(format, -1) {
		part = strings.Trim(part, " ;:,()[]=\"'")
		if len(part) >= 8 {
			out = append(out, part)
		}
	}
	return out
}

// constantStrings returns the value of every string constant of a Go file.
func constantStrings(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[vs.Names[i].Name] = s
				}
			}
		}
	}
	return out
}

// errorFormats returns the string literals passed to the functions of a Go
// file that build error messages (fmt.Errorf, errors.New, and the names given
// in builders), keyed by file:line.
func errorFormats(t *testing.T, file string, builders ...string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"Errorf": true, "New": true}
	for _, b := range builders {
		names[b] = true
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var name string
		switch fn := call.Fun.(type) {
		case *ast.Ident:
			name = fn.Name
		case *ast.SelectorExpr:
			name = fn.Sel.Name
		}
		if !names[name] {
			return true
		}
		for _, arg := range call.Args {
			if lit, ok := arg.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				p := fset.Position(lit.Pos())
				out[filepath.Base(p.Filename)+":"+strconv.Itoa(p.Line)] = s
			}
		}
		return true
	})
	return out
}
