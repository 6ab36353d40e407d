package controllers

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"text/template"
	"text/template/parse"
	"time"
)

// MaxRenderedBytes bounds what one extraData template may render: a tenant's
// template must not be a way to make the operator allocate without limit.
const MaxRenderedBytes = 64 << 10

var errRenderedTooLarge = fmt.Errorf("the rendered value is over %d bytes", MaxRenderedBytes)

// templateData are the fields an extraData template can use.
type templateData struct {
	AccessToken string
	TokenType   string
	ExpiresAt   string
	Scope       string
}

// extraDataTemplates are the parsed spec.secret.extraData templates.
type extraDataTemplates map[string]*template.Template

// wideVerb matches a printf verb with a width or precision of 1000 or more, or
// one taken from an argument (*).
var wideVerb = regexp.MustCompile(`%[-+# 0]*([1-9]\d{3,}|\*)|%[-+# 0]*\d*\.(0*[1-9]\d{3,}|\*)`)

// templateFuncs replaces printf by one that refuses huge widths: fmt would
// build the whole string before any bound on the output could apply.
var templateFuncs = template.FuncMap{
	"printf": func(format string, args ...any) (string, error) {
		if wideVerb.MatchString(format) {
			return "", fmt.Errorf("printf widths and precisions are limited to 999")
		}
		return fmt.Sprintf(format, args...), nil
	},
}

// parseExtraData parses every extraData template, refuses the actions that
// could make rendering unbounded (range, template, define and block), and
// renders each once with placeholder values, so that a broken template is
// reported before a token is requested.
func parseExtraData(extra map[string]string) (extraDataTemplates, error) {
	tpls := make(extraDataTemplates, len(extra))
	for _, key := range slices.Sorted(maps.Keys(extra)) {
		t, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs).Parse(extra[key])
		if err != nil {
			return nil, fmt.Errorf("spec.secret.extraData[%s]: %w", key, err)
		}
		if len(t.Templates()) > 1 {
			return nil, fmt.Errorf("spec.secret.extraData[%s]: define and block are not allowed", key)
		}
		if err := checkNodes(t.Root); err != nil {
			return nil, fmt.Errorf("spec.secret.extraData[%s]: %w", key, err)
		}
		probe := templateData{AccessToken: "probe", TokenType: "Bearer", ExpiresAt: time.Unix(0, 0).UTC().Format(time.RFC3339)}
		if _, err := render(t, probe); err != nil {
			return nil, fmt.Errorf("spec.secret.extraData[%s]: %w", key, err)
		}
		tpls[key] = t
	}
	return tpls, nil
}

// checkNodes refuses range and template actions anywhere in a template.
func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return errors.New("range actions are not allowed")
	case *parse.TemplateNode:
		return errors.New("template actions are not allowed")
	case *parse.IfNode:
		return errors.Join(checkNodes(n.List), checkNodes(n.ElseList))
	case *parse.WithNode:
		return errors.Join(checkNodes(n.List), checkNodes(n.ElseList))
	}
	return nil
}

// render executes t into a buffer of at most MaxRenderedBytes.
func render(t *template.Template, data templateData) ([]byte, error) {
	w := &cappedBuffer{limit: MaxRenderedBytes}
	if err := t.Execute(w, data); err != nil {
		if errors.Is(err, errRenderedTooLarge) {
			return nil, errRenderedTooLarge
		}
		return nil, err
	}
	return w.Bytes(), nil
}

// cappedBuffer fails a write past its limit.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.limit {
		return 0, errRenderedTooLarge
	}
	return c.Buffer.Write(p)
}
