package render

// Unit tests of extraData rendering. They need no API server: the suite's
// TestMain starts the control plane only for the tests that ask for it, so
// `go test ./controllers/ -run 'Render|Template'` runs without KUBEBUILDER_ASSETS.

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// maxRenderAlloc bounds what one render allocates, whatever the template:
// MaxRenderWork for the functions' values (with what fmt and strings.Builder
// allocate while building them), the output, and one print by text/template
// of the largest value it holds: the whole data ({{ . }}) with the 1 MiB
// token, which fmt builds in a buffer that grows by doubling (the fuzz target
// found 2.4 MB for it).
const maxRenderAlloc = 3 << 20

// hostileToken is a token of 1 MiB made of the characters the escaping
// functions expand most: backslashes, <, quotes, control characters,
// non-ASCII (printable and not) and URL-reserved characters.
var hostileToken = func() string {
	const unit = "\\<\"é\x01\u0085\U000E0001%& '=>"
	return strings.Repeat(unit, (1<<20)/len(unit)+1)[:1<<20]
}()

// allocated is the least TotalAlloc growth of a few runs of f: other
// goroutines of the test binary can only add to one measure.
func allocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// nest is n calls of fn around arg, as a pipeline.
func nest(arg, fn string, n int) string {
	return "{{ " + arg + strings.Repeat(" | "+fn, n) + " }}"
}

// wideVar sets $w to 999 bytes: a template can print it, or pass it to a
// function, as often as its length allows.
var wideVar = `{{ $w := "` + strings.Repeat("w", 999) + `" }}`

// printfVerbs is what printf takes.
const printfVerbs = "only %s, %q, %v, %d and %% are supported, without flags, widths or indexes"

// refusedVerb is the error of a printf verb other than %s, %q, %v, %d and %%.
func refusedVerb(verb string) string { return printfVerbs + ": " + strconv.Quote(verb) }

// hostileTemplates are the shapes that made rendering allocate without limit,
// and others of the same kind: each is refused when parsed (the error holds
// parse), refused when rendered with hostileToken (render), or renders.
var hostileTemplates = []struct{ name, tpl, parse, render string }{
	{"argument-indexed width", `{{printf "%[2]*[1]s" .TokenType 999999}}`, refusedVerb("%[2]*[1]s"), ""},
	{"print of 40 printf", "{{ print" + strings.Repeat(` (printf "%[2]*[1]s" .TokenType 999999)`, 40) + " }}", refusedVerb("%[2]*[1]s"), ""},
	{"print of 40 wide printf", "{{ print" + strings.Repeat(` (printf "%999s" .AccessToken)`, 40) + " }}", refusedVerb("%999s"), ""},
	{"print of 80 quoting printf", "{{ print" + strings.Repeat(` (printf "%q" .Scope)`, 80) + " }}", "", "the template's functions would build over 262144 bytes"},
	{"star width", `{{ printf "%*d" 999999 1 }}`, refusedVerb("%*d"), ""},
	{"star precision", `{{ printf "%.*s" 999999 .AccessToken }}`, refusedVerb("%.*s"), ""},
	{"indexed star precision", `{{ printf "%.[2]*[1]s" .AccessToken 999999 }}`, refusedVerb("%.[2]*[1]s"), ""},
	{"huge width", `{{ printf "%099999d" 1 }}`, refusedVerb("%099999d"), ""},
	{"huge precision", `{{ printf "%.99999999f" 1.5 }}`, refusedVerb("%.99999999f"), ""},
	{"huge indexed width", `{{ printf "%[1]s%1000[1]s" .AccessToken }}`, refusedVerb("%[1]s"), ""},
	{"argument repeated", `{{ printf "` + strings.Repeat("%[1]s", 600) + `" .AccessToken }}`, refusedVerb("%[1]s"), ""},
	{"argument repeated, without index", `{{ printf "` + strings.Repeat("%s", 600) + `"` + strings.Repeat(" .AccessToken", 600) + ` }}`, "", "the template's functions would build over"},
	{"argument repeated, wide", `{{ printf "` + strings.Repeat("%999[1]s", 300) + `" .ExpiresAt }}`, refusedVerb("%999[1]s"), ""},
	{"18 nested js", nest(".AccessToken", "js", 18), "the template's functions would build over 262144 bytes with a 66-byte token", ""},
	{"40 nested html", nest(".AccessToken", "html", 40), "", "the template's functions would build over"},
	{"20 nested urlquery", nest(".AccessToken", "urlquery", 20), "", "the template's functions would build over"},
	{"js html urlquery", nest(".AccessToken", "js | html | urlquery", 6), "", "the template's functions would build over"},
	{"nested js of a slice", nest(`slice .AccessToken 0 60000`, "js", 3), "index out of range: 60000", ""},
	{"nested js of the scope", nest(`.Scope`, "js", 3), "", ""},
	{"js of the token", "{{ js .AccessToken }}", "", "the template's functions would build over"},
	{"print of dot", "{{ print . }}", "", "the template's functions would build over"},
	{"println of dots", "{{ println . . . . . . . . }}", "", "the template's functions would build over"},
	{"printf of dot with flags", `{{ printf "%#v %+q % #x" . . . }}`, refusedVerb("%#v"), ""},
	{"printf of dot", `{{ printf "%v %q %d %s" . . . . }}`, "", "the template's functions would build over"},
	{"html of dot", "{{ html . . }}", "", "the template's functions would build over"},
	{"urlquery of two", "{{ urlquery .AccessToken .AccessToken }}", "", "the template's functions would build over"},
	{"dot printed", "{{ . }}", "", "the rendered value is over 65536 bytes"},
	{"token printed", "{{ .AccessToken }}", "", "the rendered value is over 65536 bytes"},
	{"values kept, not printed", wideVar + strings.Repeat(`{{ $x := printf "%s%s%s" $w $w $w }}`, 90), "the template's functions would build over 262144 bytes", ""},
	{"values of the scope kept", strings.Repeat(`{{ $x := printf "%q%q%q" .Scope .Scope .Scope }}`, 90), "", "the template's functions would build over"},
	{"values compared, not printed", strings.Repeat("{{ if html .Scope }}{{ end }}", 140), "", "the template's functions would build over"},
	{"budget spent, then the token printed", wideVar + strings.Repeat(`{{ $x := printf "%s%s" $w $w }}`, 120) + "{{ .AccessToken }}", "", "the rendered value is over 65536 bytes"},
	{"output full, then the token printed", wideVar + strings.Repeat(`{{ printf "%s" $w }}`, 65) + "{{ .AccessToken }}", "", "the rendered value is over 65536 bytes"},
	{"budget spent, then js of the scope", wideVar + strings.Repeat(`{{ $x := printf "%s%s" $w $w }}`, 60) + nest(".Scope", "js", 8), "", "the template's functions would build over"},
	{"length of js", "{{ len (js .AccessToken) }}", "", "the template's functions would build over"},
	{"printf of the token as format", "{{ printf .AccessToken }}", "", "the template's functions would build over"},
	{"printf format from a slice", `{{ printf (slice .AccessToken 0 4000) 1 }}`, "index out of range: 4000", ""},
	{"big floats", strings.Repeat(`{{ printf "%999.999f" 1e308 }}`, 120), refusedVerb("%999.999f"), ""},
	{"big floats kept", strings.Repeat(`{{ $x := printf "%999.999f%999.999[1]f" 1e308i }}`, 70), refusedVerb("%999.999f"), ""},
	{"big numbers", strings.Repeat(`{{ printf "%v%d%q%s" -1e308i -1e308i -1e308i -1e308i }}`, 50), "", ""},
	{"call", "{{ call .AccessToken }}", "call is not available", ""},
	{"index of dot", "{{ index . 1 }}", "can't index item of type render.templateData", ""},
	{"compare", strings.Repeat(`{{ if eq .AccessToken .Scope }}{{ end }}{{ if lt .AccessToken .Scope }}{{ end }}`, 50), "", ""},
}

// Every hostile shape is refused, when parsed or when rendered with a 1 MiB
// token, and one render allocates less than maxRenderAlloc.
func TestRenderHostileShapes(t *testing.T) {
	tok := &oauth.Token{AccessToken: hostileToken, TokenType: "Bearer", Scope: hostileToken[:1000], ExpiresAt: time.Now()}
	for _, c := range hostileTemplates {
		t.Run(c.name, func(t *testing.T) {
			var tpls Templates
			var err error
			parseAlloc := allocated(func() { tpls, err = Parse(map[string]string{"k": c.tpl}) })
			t.Logf("parse (with its two probe renders) allocated %d bytes", parseAlloc)
			if parseAlloc > maxRenderAlloc {
				t.Errorf("parsing allocated %d bytes, over %d", parseAlloc, maxRenderAlloc)
			}
			if c.parse != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "spec.secret.extraData[k]: ") || !strings.Contains(err.Error(), c.parse) {
					t.Fatalf("parse error %v, want one naming the key with %q", err, c.parse)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused when parsed: %v", err)
			}
			// secretData copies the token into the Secret's data: measure render.
			td := templateData{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: "2026-01-02T03:04:05Z"}
			renderAlloc := allocated(func() { _, _ = render(tpls["k"], td) })
			data, err := SecretData(tok, tpls)
			t.Logf("a render allocated %d bytes", renderAlloc)
			if renderAlloc > maxRenderAlloc {
				t.Errorf("rendering allocated %d bytes, over %d", renderAlloc, maxRenderAlloc)
			}
			if c.render == "" {
				if err != nil {
					t.Fatalf("rendering: %v", err)
				}
				if len(data["k"]) > MaxRenderedBytes {
					t.Fatalf("rendered %d bytes", len(data["k"]))
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "spec.secret.extraData[k]: "+c.render) {
				t.Fatalf("render error %v, want %q", err, c.render)
			}
		})
	}
}

// The bounds refuse a template whatever amplifies the token, and nothing
// else: budgets are per render, so concurrent renders do not share one.
func TestRenderBudgetIsPerRender(t *testing.T) {
	// Each render builds 200 KiB of values: two sharing a budget would fail.
	tpls, err := Parse(map[string]string{"k": wideVar + strings.Repeat(`{{ $x := printf "%s" $w }}`, 200) + "ok"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := SecretData(&oauth.Token{AccessToken: "t", TokenType: "Bearer"}, tpls); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// And the budget is spent within one render.
	tpls, err = Parse(map[string]string{"k": wideVar + strings.Repeat(`{{ $x := printf "%s" $w }}`, 300)})
	if err == nil || err.Error() != "spec.secret.extraData[k]: the template's functions would build over 262144 bytes" {
		t.Fatalf("300 KiB of values in one render: %v", err)
	}
}

// The templates refused by their shape, and the errors the new functions
// give, each explained in docs/troubleshooting.md.
func TestTemplateRefusals(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, m := range []string{errRenderWork.Error(), errRenderedTooLarge.Error(), fmt.Sprintf("with a %d-byte token", len(hostileProbe.AccessToken))} {
		if !strings.Contains(doc, m) {
			t.Errorf("docs/troubleshooting.md does not explain %q", m)
		}
	}
	for tpl, want := range map[string]string{
		`{{ printf "%08d" 1 }}`:             refusedVerb("%08d"),
		`{{ printf "%5s" .TokenType }}`:     refusedVerb("%5s"),
		`{{ printf "%-s" .TokenType }}`:     refusedVerb("%-s"),
		`{{ printf "%.3s" .TokenType }}`:    refusedVerb("%.3s"),
		`{{ printf "%x" .TokenType }}`:      refusedVerb("%x"),
		`{{ printf "%T" .TokenType }}`:      refusedVerb("%T"),
		`{{ printf "%p" . }}`:               refusedVerb("%p"),
		`{{ printf "%é" 1 }}`:               refusedVerb("%é"),
		`{{ printf "%[3]s" 1 2 }}`:          refusedVerb("%[3]s"),
		`{{ printf "%[1]5s" 1 }}`:           refusedVerb("%[1]5s"),
		`{{ printf "%[x]s" 1 }}`:            refusedVerb("%[x"),
		`{{ printf "%[1" 1 }}`:              refusedVerb("%[1"),
		`{{ printf "%5*d" 1 2 }}`:           refusedVerb("%5*d"),
		`{{ printf "%.0000000000001s" . }}`: refusedVerb("%.0000000000001s"),
		`{{ printf "abc%" }}`:               refusedVerb("%"),
		`{{ printf "%s %%d %s" 1 }}`:        "the format has 2 verbs for 1 arguments",
		`{{ printf "%s" 1 2 }}`:             "the format has 1 verbs for 2 arguments",
		`{{ printf "%% %s%%%q" 1 . }}`:      "",
		`{{ call .AccessToken }}`:           "call is not available",
	} {
		_, err := Parse(map[string]string{"k": tpl})
		inDoc := want // the doc gives the refusal of a verb once, for one verb
		if strings.HasPrefix(want, printfVerbs) {
			inDoc = printfVerbs
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s refused: %v", tpl, err)
		case want != "" && (err == nil || !strings.HasSuffix(err.Error(), ": "+want)):
			t.Errorf("%s: %v, want %q", tpl, err, want)
		case want != "" && !strings.Contains(doc, inDoc):
			t.Errorf("docs/troubleshooting.md does not explain %q", inDoc)
		}
	}
	// A value of a type no template produces is refused, not formatted.
	b := &renderBudget{left: MaxRenderWork}
	if _, err := b.sprintf("%v", []string{"x"}); err == nil || err.Error() != "a template function got a value of type []string" {
		t.Errorf("a slice: %v", err)
	}
	if _, err := b.sprint([]any{map[string]int{}}, fmt.Sprint); err == nil {
		t.Error("a map printed")
	}
}

// builtinRender renders tpl with text/template's own functions.
func builtinRender(tpl string, data templateData) (string, error) {
	t, err := template.New("k").Option("missingkey=error").Parse(tpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = t.Execute(&b, data)
	return b.String(), err
}

// oursRender renders tpl as an extraData template, without the probes.
func oursRender(tpl string, data templateData) (string, error) {
	t, err := template.New("k").Option("missingkey=error").Funcs(templateFuncs(&renderBudget{})).Parse(tpl)
	if err != nil {
		return "", err
	}
	out, err := render(t, data)
	return string(out), err
}

// sameAsBuiltin fails t when tpl renders data otherwise than text/template's
// own functions; a template the bounded ones refuse is not compared.
func sameAsBuiltin(t *testing.T, tpl string, data templateData) {
	t.Helper()
	got, err := oursRender(tpl, data)
	if err != nil {
		return
	}
	want, err := builtinRender(tpl, data)
	if err != nil {
		t.Fatalf("%s: rendered %q, text/template fails: %v", tpl, got, err)
	}
	if got != want {
		t.Fatalf("%s with %+q:\n got %q\nwant %q", tpl, data, got, want)
	}
}

// The functions give what text/template's give, where they accept the call.
func TestTemplateFuncsMatchBuiltins(t *testing.T) {
	values := []templateData{
		{AccessToken: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", TokenType: "Bearer", ExpiresAt: "2026-01-02T03:04:05Z", Scope: "a b"},
		{AccessToken: "tok\"en</script>&'=\\\x00\x01\x7f", TokenType: "", ExpiresAt: "", Scope: "é ü \u0085 \U000E0001 \xff\xfe"},
	}
	templates := []string{
		"Bearer {{ .AccessToken }}",
		"{{ .TokenType }} {{ .AccessToken }}",
		`{"token":"{{ js .AccessToken }}","type":"{{ .TokenType }}"}`,
		"{{ html .AccessToken }} {{ urlquery .AccessToken }} {{ js .Scope }} {{ html .Scope }} {{ urlquery .Scope }}",
		"{{ js . }}|{{ html . 1 nil }}|{{ urlquery 1 2 .Scope true }}|{{ js }}|{{ html nil }}",
		"{{ print }}|{{ print . }}|{{ print 1 2 \"a\" 3 \"b\" \"c\" true nil 2.5 1i }}|{{ println . 1 \"x\" }}",
		`{{ printf "%s|%v|%q|%d|%s|%v|%q|%d" .AccessToken .AccessToken .AccessToken .AccessToken .Scope .Scope .Scope .TokenType }}`,
		`{{ printf "%v|%s|%q|%d" . . . . }}`,
		`{{ printf "%d|%v|%q|%s|%d|%v|%q|%d|%v|%s|%v|%d|%q|%v|%q|%d" 42 -1 65 7 1234.5678 1e21 2.5i 1i true false nil nil 128512 -1e308i 1114112 -1e308i }}`,
		`{{ printf "%s %s" .TokenType .AccessToken }}|{{ printf "%s:%s" .Scope .Scope }}`,
		`{{ printf "%s" (index .AccessToken 1) }}|{{ printf "%v" (len .Scope) }}|{{ printf "%q" (slice .AccessToken 0 3) }}`,
		`{{ printf "%d" .AccessToken }}`,
		`{{ printf "" }}{{ printf "plain" }}{{ printf "%%" }}{{ printf "100%% %s%%%%" .TokenType }}`,
		"{{ if eq .TokenType `Bearer` }}y{{ else }}n{{ end }}{{ with .Scope }}{{ . | printf `%q` }}{{ end }}",
		"{{ .AccessToken | js | html | urlquery }}{{ .Scope | print | println }}",
	}
	for _, data := range values {
		for _, tpl := range templates {
			if _, err := oursRender(tpl, data); err != nil {
				t.Errorf("%s refused: %v", tpl, err)
				continue
			}
			sameAsBuiltin(t, tpl, data)
		}
	}
}

// html, js and urlquery escape every byte and rune as text/template does,
// keep charged what they build, and fail without a result when the budget
// cannot pay for it.
func TestTemplateEscapersMatchBuiltins(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, r := range []rune{0x80, 0x85, 0xa0, 0xad, 0x2028, 0xfeff, 0xfffd, 0xe0001, 0x10ffff, 'é', '😀', 0x1d173} {
		inputs = append(inputs, string(r), "x"+string(r)+"y")
	}
	inputs = append(inputs, "\xe2\x80", "\xf0\x9f\x98", hostileToken[:4096])
	for _, s := range inputs {
		for name, want := range map[string]string{
			"html":     template.HTMLEscapeString(s),
			"js":       template.JSEscapeString(s),
			"urlquery": url.QueryEscape(s),
		} {
			// html and js copy s, and charge what they write as they write
			// it; urlquery charges its most, 3 bytes for each, before it
			// builds, and keeps its result charged.
			cost, need := len(s)+len(want), len(s)+len(want)
			if name == "urlquery" {
				cost, need = len(want), 3*len(s)
			}
			for _, left := range []int{need, need - 1} {
				b := &renderBudget{left: left}
				got, err := templateFuncs(b)[name].(func(...any) (string, error))(s)
				switch {
				case left == need && (err != nil || got != want):
					t.Fatalf("%s(%q) = %q, %v; want %q", name, s, got, err, want)
				case left == need && b.left != need-cost:
					t.Fatalf("%s(%q) charged %d bytes, want %d", name, s, need-b.left, cost)
				case left < need && (err != errRenderWork || got != ""):
					t.Fatalf("%s(%q) with %d bytes left: %q, %v", name, s, left, got, err)
				}
			}
		}
	}
}

// printf charges, before it builds, at least what it builds: the format, 4
// bytes for each byte of a string (the most strconv.Quote writes for one, for
// every rune and invalid byte) and argCost for each argument, whatever the
// verb and the value; print and println one byte for each byte of a string.
func TestTemplatePrintBounds(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune+0x80; r++ {
		s := string(r)
		if r > utf8.MaxRune {
			s = string([]byte{byte(r - utf8.MaxRune - 1 + 0x80)}) // an invalid byte
		}
		if n := len(strconv.Quote(s)) - 2; n > 4*len(s) {
			t.Fatalf("strconv.Quote(%q) has %d bytes between its quotes", s, n)
		}
	}
	values := []any{nil, true, false, 0, -1, math.MinInt64, uint64(math.MaxUint64), uint8(255), int32(-1), 1114112,
		-math.MaxFloat64, -math.SmallestNonzeroFloat64, float32(-math.MaxFloat32), complex(-math.MaxFloat64, -math.MaxFloat64),
		complex64(complex(-math.MaxFloat32, -math.SmallestNonzeroFloat32)),
		"", "t", "\x00", "\xff", "\u0085", "\U000E0001", "\"\\", hostileToken[:1000], strings.Repeat("\x00", 1000), strings.Repeat("\x7f\xff", 500),
		templateData{}, templateData{AccessToken: "\x00", Scope: "\xff"}, hostileProbe}
	for _, v := range values {
		n, err := argsBound([]any{v}, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"%s", "%q", "%v", "%d"} {
			b := &renderBudget{left: MaxRenderWork}
			got, err := b.sprintf(verb, v)
			if want := fmt.Sprintf(verb, v); err != nil || got != want {
				t.Fatalf("printf %s of %#v: %q, %v; want %q", verb, v, got, err, want)
			}
			if len(got) > len(verb)+n {
				t.Errorf("printf %s of %#v: %d bytes, over the %d charged", verb, v, len(got), len(verb)+n)
			}
			if b.left != MaxRenderWork-len(got) {
				t.Errorf("printf %s of %#v: %d bytes charged for %d built", verb, v, MaxRenderWork-b.left, len(got))
			}
		}
	}
	for _, args := range [][]any{values, {}, values[:1], values[len(values)-1:]} {
		if n, _ := argsBound(args, 1); len(fmt.Sprint(args...)) > n || len(fmt.Sprintln(args...)) > n+1 {
			t.Errorf("print of %d values: %d bytes charged", len(args), n)
		}
	}
}

// The probe renders keep refusing a template that fails on placeholder values.
func TestTemplateProbes(t *testing.T) {
	// Fine with "probe", past the bounds with a token that escapes badly.
	_, err := Parse(map[string]string{"k": nest(".AccessToken", "js", 12)})
	if err == nil || !strings.HasPrefix(err.Error(), "spec.secret.extraData[k]: the template's functions would build over") {
		t.Fatalf("12 nested js: %v", err)
	}
	// Errors of the hostile probe that are not bounds do not refuse.
	if _, err := Parse(map[string]string{"k": `{{ if eq .AccessToken "probe" }}{{ else }}{{ index .AccessToken 999 }}{{ end }}`}); err != nil {
		t.Fatal(err)
	}
}

var sink []byte

// benchRender renders tpl with a token of up to 1 MiB that escapes badly, to
// back "one render takes under 10 ms" for the worst shapes: ns/op and B/op are
// those of one render of one key, refused or not.
func benchRender(b *testing.B, tpl string, td templateData) {
	b.Helper()
	// Without the probe renders, which refuse some of these shapes: a
	// template can take another branch with the real token.
	t, err := template.New("k").Option("missingkey=error").Funcs(templateFuncs(&renderBudget{})).Parse(tpl)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = render(t, td)
	}
}

// hostileData has the 1 MiB token.
var hostileData = templateData{AccessToken: hostileToken, TokenType: "Bearer", ExpiresAt: "2026-01-02T03:04:05Z", Scope: hostileToken[:60000]}

// hostileHalves has a token and a scope of 512 KiB each that differ only at
// their end: together they fill the largest token response read.
var hostileHalves = templateData{AccessToken: hostileToken[:1<<19], TokenType: "Bearer", ExpiresAt: "2026-01-02T03:04:05Z",
	Scope: hostileToken[:1<<19-1] + "!"}

func BenchmarkRenderHostileNestedJS(b *testing.B) {
	benchRender(b, nest(".Scope", "js", 18), hostileData)
}

func BenchmarkRenderHostileNestedEscapes(b *testing.B) {
	benchRender(b, nest("slice .Scope 0 10000", "js | html | urlquery", 4), hostileData)
}

func BenchmarkRenderHostileQuotingPrintf(b *testing.B) {
	benchRender(b, "{{ print"+strings.Repeat(` (printf "%q" (slice .Scope 0 2000))`, 40)+" }}", hostileData)
}

func BenchmarkRenderHostileRepeatedArgument(b *testing.B) {
	benchRender(b, `{{ printf "`+strings.Repeat("%s", 600)+`"`+strings.Repeat(" .AccessToken", 600)+` }}`, hostileData)
}

func BenchmarkRenderHostileRepeatedArgumentFits(b *testing.B) {
	benchRender(b, `{{ printf "`+strings.Repeat("%s", 300)+`"`+strings.Repeat(" .ExpiresAt", 300)+` }}`, hostileData)
}

func BenchmarkRenderHostileKeptValues(b *testing.B) {
	benchRender(b, wideVar+strings.Repeat(`{{ $x := printf "%s%s%s" $w $w $w }}`, 85), hostileData)
}

func BenchmarkRenderHostileManyVerbs(b *testing.B) {
	benchRender(b, strings.Repeat(`{{ $x := printf "`+strings.Repeat("%d", 12)+`"`+strings.Repeat(" 0", 12)+` }}`, 20), hostileData)
}

func BenchmarkRenderHostileEscapedScope(b *testing.B) {
	benchRender(b, strings.Repeat("{{ $x := html .Scope }}", 100), hostileData)
}

func BenchmarkRenderHostileCompare(b *testing.B) {
	benchRender(b, strings.Repeat(`{{ if eq .AccessToken .Scope }}{{ end }}`, 4096/40), hostileHalves)
}

func BenchmarkRenderHostileTokenPrinted(b *testing.B) {
	benchRender(b, "{{ .AccessToken }}", hostileData)
}

// A common template with a 1000-byte JWT, for comparison.
func BenchmarkRenderBearer(b *testing.B) {
	benchRender(b, `{"authorization":"{{ .TokenType }} {{ js .AccessToken }}"}`,
		templateData{AccessToken: strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 50), TokenType: "Bearer"})
}

// A render error names the failed keys that fit in its bound and counts
// the others.
func TestRenderErrorBounded(t *testing.T) {
	var failed []string
	for i := range 32 {
		failed = append(failed, fmt.Sprintf("spec.secret.extraData[k%d-%s]: rendering failed with the issued token", i, strings.Repeat("x", 253-len(fmt.Sprintf("k%d-", i)))))
	}
	msg := renderError(failed).Error()
	if len(msg) > MaxError || !strings.HasPrefix(msg, failed[0]) ||
		!strings.HasSuffix(msg, "; and 31 more extraData keys; the key is left out of the Secret until the template is fixed") {
		t.Fatalf("render error of %d bytes: %q", len(msg), msg)
	}
	short := []string{"spec.secret.extraData[a]: x", "spec.secret.extraData[b]: y"}
	if got := renderError(short).Error(); got != "spec.secret.extraData[a]: x; spec.secret.extraData[b]: y; the key is left out of the Secret until the template is fixed" {
		t.Fatalf("render error %q", got)
	}
}
