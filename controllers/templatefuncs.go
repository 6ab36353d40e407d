package controllers

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"unicode"
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
// Every function that builds a string (print, println, printf, html, js,
// urlquery) computes the size of its result, or a bound on it, before it
// allocates, and charges it to the render's budget; a call that would go past
// it fails with errRenderWork. Their results are those of text/template's
// builtins, except that printf refuses what fmt would print as an error
// (%!d(MISSING), %!(EXTRA ...), %!(BADINDEX), %!(NOVERB)), widths and
// precisions taken from arguments (*), and widths and precisions of 1000 or
// more.

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

// refund gives back what a charge took over the size actually built.
func (b *renderBudget) refund(n int) {
	if n > 0 {
		b.left += n
	}
}

// maxVerbWidth bounds printf widths and precisions.
const maxVerbWidth = 999

// templateFuncs are the functions of a template bound to budget b.
func templateFuncs(b *renderBudget) template.FuncMap {
	return template.FuncMap{
		"print":    func(args ...any) (string, error) { return b.sprint(args, false) },
		"println":  func(args ...any) (string, error) { return b.sprint(args, true) },
		"printf":   b.sprintf,
		"html":     func(args ...any) (string, error) { return b.escape(args, htmlEscaper) },
		"js":       func(args ...any) (string, error) { return b.escape(args, jsEscaper) },
		"urlquery": func(args ...any) (string, error) { return b.escape(args, queryEscaper) },
		"call": func(any, ...any) (any, error) {
			return nil, errors.New("call is not available")
		},
	}
}

// maxFormat bounds a printf format: longer than any template, it could only
// come from the token.
const maxFormat = 4096

// verbCost is charged for each verb printed, for the work and the small
// allocations of formatting it whatever its output.
const verbCost = 16

// verb is one printf verb: the part of the format that it is (from % to the
// verb), its flags, width, precision and verb, and the argument it takes.
type verb struct {
	sub     string
	indexed bool // sub holds an argument index: format it with all the arguments
	verb    rune
	flags   string
	wid     int
	prec    int
	widSet  bool
	precSet bool
	arg     int
}

func (v *verb) has(flag byte) bool { return strings.IndexByte(v.flags, flag) >= 0 }

// plain is a %s or %v without flags, width or precision: a string is copied.
func (v *verb) plain() bool {
	return (v.verb == 's' || v.verb == 'v') && v.flags == "" && !v.widSet && !v.precSet
}

// spec is the verb without argument index, to format one value.
func (v *verb) spec() string {
	if !v.indexed {
		return v.sub
	}
	var b strings.Builder
	b.WriteByte('%')
	b.WriteString(v.flags)
	if v.widSet {
		b.WriteString(strconv.Itoa(v.wid))
	}
	if v.precSet {
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(v.prec))
	}
	b.WriteRune(v.verb)
	return b.String()
}

var verbV = &verb{sub: "%v", verb: 'v'}

// formatScanner reads a printf format as fmt does, one literal text or verb
// at a time, without allocating. It refuses what fmt would print as an error,
// * widths and precisions, and widths and precisions over maxVerbWidth.
type formatScanner struct {
	format    string
	nargs     int
	i         int
	argNum    int
	reordered bool
}

var errBadIndex = errors.New("bad argument index")

// next returns the next literal text, or verb when text is empty; done at
// the end of the format.
func (s *formatScanner) next() (text string, v verb, done bool, err error) {
	f, end := s.format, len(s.format)
	if s.i >= end {
		if !s.reordered && s.argNum < s.nargs {
			return "", v, true, fmt.Errorf("%d arguments for %d verbs", s.nargs, s.argNum)
		}
		return "", v, true, nil
	}
	if f[s.i] != '%' {
		j := strings.IndexByte(f[s.i:], '%')
		if j < 0 {
			j = end - s.i
		}
		text = f[s.i : s.i+j]
		s.i += j
		return text, v, false, nil
	}
	start := s.i
	i := s.i + 1
	fstart := i
	for i < end && strings.IndexByte("#0+- ", f[i]) >= 0 {
		i++
	}
	v.flags = f[fstart:i]
	index := func() (bool, error) {
		if i >= end || f[i] != '[' {
			return false, nil
		}
		s.reordered = true
		v.indexed = true
		j := strings.IndexByte(f[i:], ']')
		if j < 2 || f[i+1] < '0' || f[i+1] > '9' {
			return false, errBadIndex
		}
		n, err := strconv.Atoi(f[i+1 : i+j])
		if err != nil || n < 1 || n > s.nargs {
			return false, errBadIndex
		}
		s.argNum = n - 1
		i += j + 1
		return true, nil
	}
	number := func() (int, bool, error) {
		nstart := i
		n := 0
		for i < end && '0' <= f[i] && f[i] <= '9' {
			n = min(n*10+int(f[i]-'0'), maxVerbWidth+1)
			i++
		}
		if i < end && f[i] == '*' {
			return 0, false, errors.New("* widths and precisions are not allowed")
		}
		if n > maxVerbWidth {
			return 0, false, fmt.Errorf("widths and precisions are limited to %d", maxVerbWidth)
		}
		return n, i > nstart, nil
	}
	afterIndex, err := index()
	if err != nil {
		return "", v, false, err
	}
	if v.wid, v.widSet, err = number(); err != nil {
		return "", v, false, err
	}
	if afterIndex && v.widSet {
		return "", v, false, errBadIndex
	}
	if i+1 < end && f[i] == '.' {
		if afterIndex {
			return "", v, false, errBadIndex
		}
		i++
		if afterIndex, err = index(); err != nil {
			return "", v, false, err
		}
		if v.prec, _, err = number(); err != nil {
			return "", v, false, err
		}
		v.precSet = true
	}
	if !afterIndex {
		if _, err := index(); err != nil {
			return "", v, false, err
		}
	}
	if i >= end {
		return "", v, false, errors.New("the format ends with a % without a verb")
	}
	r, size := utf8.DecodeRuneInString(f[i:])
	i += size
	s.i = i
	v.verb, v.sub = r, f[start:i]
	if r == '%' {
		return "%", v, false, nil
	}
	if s.argNum >= s.nargs {
		return "", v, false, errors.New("a verb has no argument")
	}
	v.arg = s.argNum
	s.argNum++
	return "", v, false, nil
}

// sprintf is fmt.Sprintf within the budget: a first pass over the format
// checks it and bounds the result, the second formats.
func (b *renderBudget) sprintf(format string, args ...any) (string, error) {
	if len(format) > maxFormat {
		return "", fmt.Errorf("the format is over %d bytes", maxFormat)
	}
	bound, guess := 0, 0
	for s := (formatScanner{format: format, nargs: len(args)}); ; {
		text, v, done, err := s.next()
		if err != nil {
			return "", err
		}
		if done {
			break
		}
		if text != "" {
			bound, guess = bound+len(text), guess+len(text)
			continue
		}
		n, g, err := argBound(args[v.arg], &v)
		if err != nil {
			return "", err
		}
		bound, guess = bound+n+verbCost, guess+g
		if bound > MaxRenderWork {
			return "", errRenderWork
		}
	}
	if err := b.charge(bound); err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(guess)
	for s := (formatScanner{format: format, nargs: len(args)}); ; {
		text, v, done, _ := s.next()
		if done {
			break
		}
		if text != "" {
			sb.WriteString(text)
			continue
		}
		appendArg(&sb, args, &v)
	}
	b.refund(bound - sb.Len())
	return sb.String(), nil
}

// sprint is fmt.Sprint, or fmt.Sprintln, within the budget.
func (b *renderBudget) sprint(args []any, ln bool) (string, error) {
	bound, guess := 1, 1
	for _, a := range args {
		n, g, err := argBound(a, verbV)
		if err != nil {
			return "", err
		}
		bound, guess = bound+n+1+verbCost, guess+g+1
		if bound > MaxRenderWork {
			return "", errRenderWork
		}
	}
	if err := b.charge(bound); err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(guess)
	prevString := false
	for i, a := range args {
		isString := a != nil && reflect.TypeOf(a).Kind() == reflect.String
		if i > 0 && (ln || !isString && !prevString) {
			sb.WriteByte(' ')
		}
		appendArg(&sb, args[i:i+1], verbV)
		prevString = isString
	}
	if ln {
		sb.WriteByte('\n')
	}
	b.refund(bound - sb.Len())
	return sb.String(), nil
}

// escape is text/template's html, js or urlquery within the budget: the size
// of the result is counted before it is built.
func (b *renderBudget) escape(args []any, e escaper) (string, error) {
	s, ok := "", false
	if len(args) == 1 {
		s, ok = args[0].(string)
	}
	if !ok {
		// As text/template's evalArgs: a missing value prints as <no value>.
		for i, a := range args {
			if a == nil {
				args[i] = "<no value>"
			}
		}
		var err error
		if s, err = b.sprint(args, false); err != nil {
			return "", err
		}
	}
	// The result is at least as long as s: charge that before reading s.
	if err := b.charge(len(s) + verbCost); err != nil {
		return "", err
	}
	if !e.changes(s) {
		return s, nil
	}
	n := e.size(s)
	if err := b.charge(n); err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(n)
	e.write(&sb, s)
	return sb.String(), nil
}

// argBound is the most bytes verb v can print for arg, and a guess of the
// bytes it prints, to size the result; it refuses the types a template does
// not produce.
func argBound(arg any, v *verb) (bound, guess int, err error) {
	pad, prec := v.wid, v.prec
	switch a := arg.(type) {
	case string:
		guess = len(a) + pad
		switch {
		case v.verb == 's', v.verb == 'v' && !v.has('#'):
			return len(a) + pad, guess, nil
		case v.verb == 'q', v.verb == 'v':
			return 4*len(a) + 2 + pad, guess + 2, nil // \xff at most for each byte
		case v.verb == 'x', v.verb == 'X':
			return 5*len(a) + 2 + pad, 2*len(a) + pad, nil // "0xff " at most for each byte
		default:
			return len(a) + pad + 32, guess + 16, nil // %!d(string=...)
		}
	case templateData:
		switch v.verb {
		case 'T':
			return 64 + pad, 32 + pad, nil
		case 'p', 'w':
			return 0, 0, errors.New("the template data cannot be printed with %p or %w")
		}
		bound, guess = 64, 64
		for _, f := range a.fields() {
			n, g, err := argBound(f, v)
			if err != nil {
				return 0, 0, err
			}
			bound, guess = bound+n+16, guess+g+16
		}
		return bound, guess, nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		// 64 binary digits, or the precision, a sign, a prefix, or an error
		// such as %!s(int64=...), and the padding.
		return pad + max(prec, 64) + 32, max(pad, prec, 20), nil
	case float32, float64:
		// 309 digits for the largest float64 with %f, and the precision.
		return pad + prec + 350, max(pad, prec+24), nil
	case complex64, complex128:
		return 2*(pad+prec+350) + 3, 2 * max(pad, prec+24), nil
	case nil, bool:
		return pad + 32, max(pad, 8), nil
	default:
		return 0, 0, fmt.Errorf("a template function got a value of type %T", arg)
	}
}

// fields are the values of d in the order of its fields.
func (d templateData) fields() [4]string {
	return [4]string{d.AccessToken, d.TokenType, d.ExpiresAt, d.Scope}
}

var templateDataType = reflect.TypeOf(templateData{})

// appendArg formats args[v.arg] with verb v into sb as fmt does; argBound
// has accepted it. A struct is formatted field by field, as fmt does, so that
// fmt only ever formats a string or a number.
func appendArg(sb *strings.Builder, args []any, v *verb) {
	switch a := args[v.arg].(type) {
	case string:
		if v.plain() {
			sb.WriteString(a)
			return
		}
	case templateData:
		if v.verb == 'T' {
			break
		}
		spec := v.spec()
		sharpV := v.verb == 'v' && v.has('#')
		plusV := v.verb == 'v' && v.has('+')
		if sharpV {
			sb.WriteString(templateDataType.String())
		}
		sb.WriteByte('{')
		for i, f := range a.fields() {
			if i > 0 {
				if sharpV {
					sb.WriteString(", ")
				} else {
					sb.WriteByte(' ')
				}
			}
			if sharpV || plusV {
				sb.WriteString(templateDataType.Field(i).Name)
				sb.WriteByte(':')
			}
			if v.plain() {
				sb.WriteString(f)
			} else {
				fmt.Fprintf(sb, spec, f)
			}
		}
		sb.WriteByte('}')
		return
	}
	if v.indexed {
		fmt.Fprintf(sb, v.sub, args...)
	} else {
		fmt.Fprintf(sb, v.sub, args[v.arg])
	}
}

// escaper is one of text/template's escaping functions, in three parts: the
// size of its result, whether it changes a string, and the writing.
type escaper struct {
	size    func(string) int
	changes func(string) bool
	write   func(*strings.Builder, string)
}

// htmlEscaper is text/template's html.
var htmlEscaper = escaper{
	size: func(s string) int {
		n := len(s)
		for i := 0; i < len(s); i++ {
			if r := htmlReplacement(s[i]); r != "" {
				n += len(r) - 1
			}
		}
		return n
	},
	changes: func(s string) bool { return strings.ContainsAny(s, "'\"&<>\000") },
	write: func(sb *strings.Builder, s string) {
		for i := 0; i < len(s); i++ {
			if r := htmlReplacement(s[i]); r != "" {
				sb.WriteString(r)
			} else {
				sb.WriteByte(s[i])
			}
		}
	},
}

func htmlReplacement(c byte) string {
	switch c {
	case 0:
		return "\uFFFD"
	case '"':
		return "&#34;"
	case '\'':
		return "&#39;"
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return ""
}

// jsEscaper is text/template's js.
var jsEscaper = escaper{
	size: func(s string) int {
		n := 0
		for i := 0; i < len(s); {
			if c := s[i]; c < utf8.RuneSelf {
				n += len(jsASCII[c])
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsPrint(r) {
				n += size
			} else {
				n += 2 + max(4, hexDigits(r))
			}
			i += size
		}
		return n
	},
	changes: func(s string) bool { return strings.IndexFunc(s, jsIsSpecial) >= 0 },
	write: func(sb *strings.Builder, s string) {
		for i := 0; i < len(s); {
			if c := s[i]; c < utf8.RuneSelf {
				sb.WriteString(jsASCII[c])
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsPrint(r) {
				sb.WriteString(s[i : i+size])
			} else {
				// \uXXXX, as text/template writes it with %04X.
				sb.WriteString(`\u`)
				for d := max(4, hexDigits(r)) - 1; d >= 0; d-- {
					sb.WriteByte(upperHex[(r>>(4*d))&0xf])
				}
			}
			i += size
		}
	},
}

const upperHex = "0123456789ABCDEF"

// jsASCII is what js writes for each ASCII byte.
var jsASCII = func() (t [utf8.RuneSelf]string) {
	for c := range t {
		switch {
		case c < ' ':
			t[c] = `\u00` + string(upperHex[c>>4]) + string(upperHex[c&0xf])
		default:
			t[c] = string(rune(c))
		}
	}
	t['\\'], t['\''], t['"'] = `\\`, `\'`, `\"`
	t['<'], t['>'], t['&'], t['='] = `\u003C`, `\u003E`, `\u0026`, `\u003D`
	return t
}()

// hexDigits is the number of hexadecimal digits of r > 0.
func hexDigits(r rune) int {
	n := 0
	for ; r > 0; r >>= 4 {
		n++
	}
	return n
}

func jsIsSpecial(r rune) bool {
	switch r {
	case '\\', '\'', '"', '<', '>', '&', '=':
		return true
	}
	return r < ' ' || utf8.RuneSelf <= r
}

// queryEscaper is text/template's urlquery, net/url's QueryEscape.
var queryEscaper = escaper{
	size: func(s string) int {
		n := len(s)
		for i := 0; i < len(s); i++ {
			if queryEscaped(s[i]) {
				n += 2
			}
		}
		return n
	},
	changes: func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] == ' ' || queryEscaped(s[i]) {
				return true
			}
		}
		return false
	},
	write: func(sb *strings.Builder, s string) {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == ' ':
				sb.WriteByte('+')
			case queryEscaped(c):
				sb.WriteByte('%')
				sb.WriteByte(upperHex[c>>4])
				sb.WriteByte(upperHex[c&0xf])
			default:
				sb.WriteByte(c)
			}
		}
	},
}

// queryEscaped reports whether QueryEscape writes c as %XX.
func queryEscaped(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return false
	}
	switch c {
	case '-', '_', '.', '~', ' ':
		return false
	}
	return true
}
