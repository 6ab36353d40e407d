package render

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// MaxRenderedBytes bounds what one extraData template may render: a tenant's
// template must not be a way to make the operator allocate without limit.
const MaxRenderedBytes = 64 << 10

// MaxRenderWork bounds the bytes the functions of one render may build, all
// intermediate values together (a value passed from one function to the next
// counts each time it is built). With MaxRenderedBytes on the output, it bounds
// what one render allocates whatever the template and the token.
const MaxRenderWork = 4 * MaxRenderedBytes

var (
	errRenderedTooLarge = fmt.Errorf("the rendered value is over %d bytes", MaxRenderedBytes)
	errRenderWork       = fmt.Errorf("the template's functions would build over %d bytes", MaxRenderWork)
)

// templateData are the fields an extraData template can use.
type templateData struct {
	AccessToken string
	TokenType   string
	ExpiresAt   string
	Scope       string
}

// Templates are the parsed spec.secret.extraData templates. They are
// executed only through render, which gives each render its own budget.
type Templates map[string]*template.Template

// hostileProbe has a short token made of the characters the escaping
// functions expand most: a template that amplifies it past the bounds would
// do the same with any real token, and is refused before a token is requested.
var hostileProbe = templateData{
	AccessToken: strings.Repeat("\\<\"é\x01", 11),
	TokenType:   "Bearer",
	ExpiresAt:   time.Unix(0, 0).UTC().Format(time.RFC3339),
	Scope:       strings.Repeat("<&'\\", 4),
}

// Parse parses every extraData template, refuses the actions that
// could make rendering unbounded (range, template, define and block), and
// renders each with placeholder values, so that a broken template is reported
// before a token is requested: once with plain values (any error refuses it),
// once with values that escape badly (going past a bound refuses it).
func Parse(extra map[string]string) (Templates, error) {
	tpls := make(Templates, len(extra))
	for _, key := range slices.Sorted(maps.Keys(extra)) {
		t, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs(&renderBudget{})).Parse(extra[key])
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
		if _, err := render(t, hostileProbe); overBound(err) {
			return nil, fmt.Errorf("spec.secret.extraData[%s]: %w with a %d-byte token", key, boundError(err), len(hostileProbe.AccessToken))
		}
		tpls[key] = t
	}
	return tpls, nil
}

// overBound reports whether a render failed on one of the bounds.
func overBound(err error) bool {
	return errors.Is(err, errRenderedTooLarge) || errors.Is(err, errRenderWork)
}

// boundError is the bound a render went past, without the template's context.
func boundError(err error) error {
	if errors.Is(err, errRenderWork) {
		return errRenderWork
	}
	return errRenderedTooLarge
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

// render executes t with a budget of its own: its functions may build at most
// MaxRenderWork bytes, and the output is at most MaxRenderedBytes. Renders run
// concurrently: the budget lives in a clone of t, never in t.
func render(t *template.Template, data templateData) ([]byte, error) {
	c, err := t.Clone()
	if err != nil {
		return nil, err
	}
	c.Funcs(templateFuncs(&renderBudget{left: MaxRenderWork}))
	w := &cappedBuffer{limit: MaxRenderedBytes}
	if err := c.Execute(w, data); err != nil {
		if overBound(err) {
			return nil, boundError(err)
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
