package render

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/template"
	"unicode/utf8"
)

// The functions of extraData templates.
//
// A template sees only templateData (four strings) and calls only the
// functions below and text/template's own and, or, not, len, index, slice, eq,
// ne, lt, le, gt and ge, none of which builds a value larger than its
// arguments. No function reads cluster state, files, the environment, the
// network or DNS, and none may be added that does: a template is written by a
// tenant and runs in the manager. What text/template prints itself ({{ . }},
// {{ .AccessToken }}) is at most the token response, and the first write past
// MaxRenderedBytes ends the render.
//
// Every function that builds a string charges its result, or a bound on it,
// to the render's budget before it allocates; a call that would go past it
// fails with errRenderWork. Their results are those of text/template's
// builtins, but printf takes only %s, %q, %v, %d and %%, one argument a verb.

// renderBudget is what the functions of one render may still build, in bytes.
// One render runs in one goroutine: a budget is never shared.
type renderBudget struct{ left int }

// charge takes n bytes from the budget, or fails when fewer are left.
func (b *renderBudget) charge(n int) error {
	if n < 0 || n > b.left {
		b.left = 0
		return errRenderWork
	}
	b.left -= n
	return nil
}

// build charges bound, then builds a value of at most bound bytes with f and
// gives back what it did not use.
func (b *renderBudget) build(bound int, f func() (string, error)) (string, error) {
	if err := b.charge(bound); err != nil {
		return "", err
	}
	s, err := f()
	b.left += max(bound-len(s), 0)
	return s, err
}

// templateFuncs are the functions of a template bound to budget b.
func templateFuncs(b *renderBudget) template.FuncMap {
	return template.FuncMap{
		"print":    func(args ...any) (string, error) { return b.sprint(args, fmt.Sprint) },
		"println":  func(args ...any) (string, error) { return b.sprint(args, fmt.Sprintln) },
		"printf":   b.sprintf,
		"html":     func(args ...any) (string, error) { return b.escape(args, template.HTMLEscape) },
		"js":       func(args ...any) (string, error) { return b.escape(args, template.JSEscape) },
		"urlquery": b.urlquery,
		"call":     func(any, ...any) (any, error) { return nil, errors.New("call is not available") },
	}
}

// argCost is charged for each argument besides its bytes: it covers what fmt
// prints for a value that is not a string (at most 67 bytes: %d of a
// complex128), the %!d(string=) around a string printed with %d, and the
// spaces print puts between values.
const argCost = 80

// argsBound is the bytes of args, each byte of a string counted perByte
// times, and argCost for each; it refuses the types a template does not make.
func argsBound(args []any, perByte int) (int, error) {
	n := 0
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += perByte * len(a)
		case templateData: // {a b c d}: its fields formatted as strings
			n += perByte * (len(a.AccessToken) + len(a.TokenType) + len(a.ExpiresAt) + len(a.Scope))
		case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
			float32, float64, complex64, complex128:
		default:
			return 0, fmt.Errorf("a template function got a value of type %T", a)
		}
		if n += argCost; n > MaxRenderWork {
			return 0, errRenderWork
		}
	}
	return n, nil
}

// sprintf is fmt.Sprintf with the verbs %s, %q, %v and %d, one argument each.
// A verb prints its argument once: a string as itself, or quoted by
// strconv.Quote with at most 4 bytes for each byte (\x00 for a control or
// invalid byte, \u0085 for 2, \U000e0001 for 4) and quotes that the verb's 2
// bytes in the format pay for. So the result is at most the format, 4 times
// the bytes of the arguments, and argCost for each.
func (b *renderBudget) sprintf(format string, args ...any) (string, error) {
	n, err := argsBound(args, 4)
	if err != nil {
		return "", err
	}
	// Charged before the format is read: it can be the token.
	return b.build(len(format)+n, func() (string, error) {
		verbs, err := countVerbs(format)
		if err == nil && verbs != len(args) {
			err = fmt.Errorf("the format has %d verbs for %d arguments", verbs, len(args))
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf(format, args...), nil
	})
}

// countVerbs is the number of verbs of format, each taking an argument; it
// refuses any verb but %s, %q, %v, %d and %%.
func countVerbs(format string) (int, error) {
	verbs := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		switch i++; {
		case i < len(format) && format[i] == '%':
		case i < len(format) && strings.IndexByte("sqvd", format[i]) >= 0:
			verbs++
		default:
			return 0, fmt.Errorf("only %%s, %%q, %%v, %%d and %%%% are supported, without flags, widths or indexes: %q",
				verbAt(format[i-1:]))
		}
	}
	return verbs, nil
}

// verbAt is the verb f starts with as fmt reads it: %, flags, width,
// precision and index, and the verb.
func verbAt(f string) string {
	i := len(f) - len(strings.TrimLeft(f[1:], "#0+- 123456789.[]*"))
	_, size := utf8.DecodeRuneInString(f[i:])
	return f[:i+size]
}

// sprint is fmt.Sprint or fmt.Sprintln within the budget.
func (b *renderBudget) sprint(args []any, print func(...any) string) (string, error) {
	n, err := argsBound(args, 1)
	if err != nil {
		return "", err
	}
	return b.build(n+1, func() (string, error) { return print(args...), nil }) // +1: println's newline
}

// escaped is the string html, js and urlquery escape, as text/template's
// evalArgs: their one string argument, else their arguments printed, a
// missing value as <no value>.
func (b *renderBudget) escaped(args []any) (string, error) {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return s, nil
		}
	}
	for i, a := range args {
		if a == nil {
			args[i] = "<no value>"
		}
	}
	return b.sprint(args, fmt.Sprint)
}

// escape is text/template's html or js within the budget: the copy of the
// argument it reads is charged, then the result as it is written.
func (b *renderBudget) escape(args []any, escape func(io.Writer, []byte)) (string, error) {
	s, err := b.escaped(args)
	if err == nil {
		err = b.charge(len(s))
	}
	if err != nil {
		return "", err
	}
	w := budgetWriter{budget: b}
	w.Grow(len(s)) // the result is at least s
	if escape(&w, []byte(s)); w.err != nil {
		return "", w.err
	}
	return w.String(), nil
}

// budgetWriter keeps what is written to it while the budget lasts.
type budgetWriter struct {
	strings.Builder
	budget *renderBudget
	err    error
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if w.err == nil {
		w.err = w.budget.charge(len(p))
	}
	if w.err != nil {
		return 0, w.err
	}
	w.Grow(len(p)) // doubles, where Write would grow by a quarter
	return w.Builder.Write(p)
}

// urlquery is text/template's urlquery within the budget: at most %XX for
// each byte, and url.QueryEscape sizes its result before it allocates it.
func (b *renderBudget) urlquery(args ...any) (string, error) {
	s, err := b.escaped(args)
	if err != nil {
		return "", err
	}
	return b.build(3*len(s), func() (string, error) { return url.QueryEscape(s), nil })
}
